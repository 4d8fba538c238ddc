--[[
  reclaimStalled: takes over stream entries whose worker has gone quiet for longer than the
  visibility timeout (it crashed, or hangs), and dead-letters as poison each job whose entry has been
  delivered more often than the limit: a job that keeps killing its workers must not loop forever.

  KEYS[1] stream   KEYS[2] events   KEYS[3] dlq
  ARGV[1] group    ARGV[2] consumer   ARGV[3] min idle (ms)   ARGV[4] most entries
  ARGV[5] now (ms) ARGV[6] delivery limit   ARGV[7] job hash key prefix

  Returns {claimed, poisoned, deleted}: claimed is a flat list {entryId, jobId, ...} for the caller to
  start (with startJobs); poisoned and deleted are counts. Entries that vanished from the stream are
  dropped from the pending list by XAUTOCLAIM itself.
]]
local group, consumer, now, limit = ARGV[1], ARGV[2], ARGV[5], tonumber(ARGV[6])
local reply = redis.call('XAUTOCLAIM', KEYS[1], group, consumer, ARGV[3], '0-0', 'COUNT', tonumber(ARGV[4]))
local claimed, poisoned = {}, 0

for _, entry in ipairs(reply[2]) do
  local sid, jobId = entry[1], entry[2][2]
  local deliveries = redis.call('XPENDING', KEYS[1], group, sid, sid, 1)[1][4]
  local jobKey = ARGV[7] .. jobId
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'attempts')
  if deliveries > limit and job[2] == sid and (job[1] == 'pending' or job[1] == 'processing') then
    local err = 'its worker stopped while running it ' .. (deliveries - 1) .. ' times; delivery limit ' .. limit
    local dlqId = redis.call('XADD', KEYS[3], '*', 'id', jobId, 'reason', 'poison', 'attempts', job[3], 'error', err, 'at', now)
    redis.call('HSET', jobKey, 'status', 'dead', 'sid', '', 'lastError', err, 'updatedAt', now, 'finishedAt', now,
      'deadReason', 'poison', 'dlqId', dlqId)
    moveCount(KEYS[2], job[1], 'dead')
    recordEvent(KEYS[2], jobKey, jobId, 'failed', job[3], now, {'error', err}, {})
    recordEvent(KEYS[2], jobKey, jobId, 'dead', job[3], now, {'reason', 'poison', 'error', err}, {})
    redis.call('XACK', KEYS[1], group, sid)
    redis.call('XDEL', KEYS[1], sid)
    poisoned = poisoned + 1
  else
    claimed[#claimed + 1] = sid
    claimed[#claimed + 1] = jobId
  end
end

return {claimed, poisoned, #reply[3]}
