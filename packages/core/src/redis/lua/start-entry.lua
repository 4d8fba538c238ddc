--[[
  startEntry (included by startJobs and readAndStartJobs): marks the job of a freshly read stream
  entry `processing` and counts the attempt. An entry whose job is gone, finished, cancelled, or
  re-enqueued under another entry is stale: it is acknowledged and deleted, never run.

  Returns {entryId} when skipped, {entryId, jobId, type, payload, attempt, maxAttempts, runAt} when
  the job is to run.
]]
local function startEntry(streamKey, eventsKey, group, consumer, now, jobKey, sid)
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'id', 'type', 'payload', 'attempts', 'maxAttempts', 'runAt', 'seq')
  local status = job[1]
  if job[2] ~= sid or (status ~= 'pending' and status ~= 'processing') then
    redis.call('XACK', streamKey, group, sid)
    redis.call('XDEL', streamKey, sid)
    return {sid}
  end
  local attempt = tonumber(job[6]) + 1
  local seq, line = nextEvent(eventsKey, job[3], job[9], 'processing', attempt, now, {'worker', consumer}, {})
  redis.call('HSET', jobKey, 'status', 'processing', 'attempts', tostring(attempt),
    'worker', consumer, 'startedAt', now, 'updatedAt', now, 'seq', seq, 'h' .. seq, line)
  if status == 'pending' then moveCount(eventsKey, 'pending', 'processing') end
  return {sid, job[3], job[4], job[5], attempt, tonumber(job[7]), job[8]}
end
