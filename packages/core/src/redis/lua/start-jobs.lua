--[[
  startJobs: marks the jobs of freshly read stream entries `processing` and counts the attempt.

  KEYS[1] stream   KEYS[2] events   KEYS[3..n] job hashes, one per entry
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4..n] stream entry ids, one per job hash

  An entry whose job is gone, finished, cancelled, or re-enqueued under another entry is stale:
  it is acknowledged and deleted, never run.

  Returns one item per entry: {entryId} when skipped,
  {entryId, jobId, type, payload, attempt, maxAttempts, runAt} when the job is to run.
]]
local group, consumer, now = ARGV[1], ARGV[2], ARGV[3]
local result = {}

for i = 3, #KEYS do
  local jobKey, sid = KEYS[i], ARGV[i + 1]
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'id', 'type', 'payload', 'attempts', 'maxAttempts', 'runAt', 'seq', 'history')
  local status = job[1]
  if job[2] ~= sid or (status ~= 'pending' and status ~= 'processing') then
    redis.call('XACK', KEYS[1], group, sid)
    redis.call('XDEL', KEYS[1], sid)
    result[#result + 1] = {sid}
  else
    local attempt = tonumber(job[6]) + 1
    local seq, history = nextEvent(KEYS[2], job[3], job[9], job[10], 'processing', attempt, now, {'worker', consumer}, {})
    redis.call('HSET', jobKey, 'status', 'processing', 'attempts', tostring(attempt),
      'worker', consumer, 'startedAt', now, 'updatedAt', now, 'seq', seq, 'history', history)
    if status == 'pending' then moveCount(KEYS[2], 'pending', 'processing') end
    result[#result + 1] = {sid, job[3], job[4], job[5], attempt, tonumber(job[7]), job[8]}
  end
end

return result
