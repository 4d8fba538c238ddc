--[[
  failJob: records a failed attempt and, in the same step, sends the job on: back to the stream
  (immediate retry), into the delayed ZSET (backoff), or to the dead-letter stream.

  KEYS[1] stream   KEYS[2] delayed   KEYS[3] events   KEYS[4] job hash   KEYS[5] dlq
  ARGV[1] group    ARGV[2] stream entry id   ARGV[3] attempt   ARGV[4] now (ms)   ARGV[5] worker
  ARGV[6] error    ARGV[7] retry at (ms; ignored when dead)
  ARGV[8] dead reason ('' to retry; 'exhausted', 'permanent')
  ARGV[9] job hash key prefix   ARGV[10] dead-letter retention (ms)   ARGV[11] dead-letter max length

  Returns the job's new status ('pending', 'retrying' or 'dead'), or 0 when the attempt is no longer
  the job's current one (nothing is changed for the job then).
]]
local group, sid, attempt, now, worker, err, retryAt, reason =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local current, job = currentAttempt(KEYS[4], sid, attempt, worker)
if not current then
  if not entryIsLive(job, sid) then dropEntry(KEYS[1], group, {sid}) end
  return 0
end
local jobId = job[5]
dropEntry(KEYS[1], group, {sid})

redis.call('HSET', KEYS[4], 'lastError', err, 'updatedAt', now)
recordEvent(KEYS[3], KEYS[4], jobId, 'failed', attempt, now, {'worker', worker, 'error', err}, {})
countThroughput(KEYS[3], now, 'failed')

if reason ~= '' then
  moveToDead({KEYS[5], ARGV[9], ARGV[10], tonumber(ARGV[11])}, KEYS[3], KEYS[4], jobId, 'processing', attempt, reason, err, now)
  return 'dead'
end

if tonumber(retryAt) <= tonumber(now) then
  requeue(KEYS[1], KEYS[3], KEYS[4], jobId, 'processing', attempt, now, {}, {})
  return 'pending'
end

redis.call('ZADD', KEYS[2], retryAt, jobId)
announceIfEarliest(KEYS[2], jobId, retryAt)
redis.call('HSET', KEYS[4], 'status', 'retrying', 'sid', '', 'runAt', retryAt)
moveCount(KEYS[3], 'processing', 'retrying')
recordEvent(KEYS[3], KEYS[4], jobId, 'retrying', attempt, now, {'nextAt', retryAt}, {})
return 'retrying'
