--[[
  failJob: records a failed attempt and, in the same step, sends the job on: back to the stream
  (immediate retry), into the delayed ZSET (backoff), or to the dead-letter stream.

  KEYS[1] stream   KEYS[2] delayed   KEYS[3] events   KEYS[4] job hash   KEYS[5] dlq
  ARGV[1] group    ARGV[2] stream entry id   ARGV[3] now (ms)   ARGV[4] worker   ARGV[5] error
  ARGV[6] retry at (ms; ignored when dead)   ARGV[7] dead reason ('' to retry; 'exhausted', 'permanent')

  Returns the job's new status ('pending', 'retrying' or 'dead'), or 0 when the entry was stale;
  a stale entry is acknowledged all the same.
]]
local group, sid, now, worker, err, retryAt, reason = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local job = redis.call('HMGET', KEYS[4], 'status', 'sid', 'attempts', 'id')
local attempt, jobId = job[3], job[4]

redis.call('XACK', KEYS[1], group, sid)
redis.call('XDEL', KEYS[1], sid)
if job[1] ~= 'processing' or job[2] ~= sid then return 0 end

redis.call('HSET', KEYS[4], 'lastError', err, 'updatedAt', now)
recordEvent(KEYS[3], KEYS[4], jobId, 'failed', attempt, now, {'worker', worker, 'error', err}, {})
countThroughput(KEYS[3], now, 'failed')

if reason ~= '' then
  local dlqId = redis.call('XADD', KEYS[5], '*', 'id', jobId, 'reason', reason, 'attempts', attempt, 'error', err, 'at', now)
  redis.call('HSET', KEYS[4], 'status', 'dead', 'sid', '', 'finishedAt', now, 'deadReason', reason, 'dlqId', dlqId)
  moveCount(KEYS[3], 'processing', 'dead')
  recordEvent(KEYS[3], KEYS[4], jobId, 'dead', attempt, now, {'reason', reason, 'error', err}, {})
  return 'dead'
end

if tonumber(retryAt) <= tonumber(now) then
  local next = redis.call('XADD', KEYS[1], '*', 'id', jobId)
  redis.call('HSET', KEYS[4], 'status', 'pending', 'sid', next)
  moveCount(KEYS[3], 'processing', 'pending')
  recordEvent(KEYS[3], KEYS[4], jobId, 'pending', attempt, now, {}, {})
  return 'pending'
end

redis.call('ZADD', KEYS[2], retryAt, jobId)
announceIfEarliest(KEYS[2], jobId, retryAt)
redis.call('HSET', KEYS[4], 'status', 'retrying', 'sid', '', 'runAt', retryAt)
moveCount(KEYS[3], 'processing', 'retrying')
recordEvent(KEYS[3], KEYS[4], jobId, 'retrying', attempt, now, {'nextAt', retryAt}, {})
return 'retrying'
