--[[
  failJob: records a failed attempt and, in the same step, sends the job on: back to the stream
  (immediate retry), into the delayed ZSET (backoff), or to the dead-letter stream.

  KEYS[1..3] events, counts, throughput   KEYS[4] the stream of the job's band   KEYS[5] delayed   KEYS[6] job hash   KEYS[7] dlq
  KEYS[8] the set of overrunning handlers of the job's type (any key of the slot when ARGV[9] is '')
  KEYS[9..11] fair queue, its tags, grouped stream (see setFair)
  KEYS[12] the set of overrunning handlers of grouped jobs
  ARGV[1] group    ARGV[2] stream entry id   ARGV[3] attempt   ARGV[4] now (ms)   ARGV[5] worker
  ARGV[6] error    ARGV[7] retry at (ms; ignored when dead)
  ARGV[8] dead reason ('' to retry; 'exhausted', 'permanent')
  ARGV[9] for an attempt whose handler still runs (it timed out, ignoring its signal), the handler's
  member (job id and attempt), '' otherwise; ARGV[10] its lease (ms); ARGV[11] '1' when its type has
  a cap: in the same step as the attempt leaves `processing`, the type's cap goes on counting the
  handler in the type's set, and a grouped job's group's cap in KEYS[12] (as `group|member`)

  Returns the job's new status ('pending', 'retrying' or 'dead'), or 0 when the attempt is no longer
  the job's current one (nothing is changed for the job then).
]]
local stream, delayed, jobKey = KEYS[4], KEYS[5], KEYS[6]
setFair(KEYS[9], KEYS[10], KEYS[11])
local group, sid, attempt, now, worker, err, retryAt, reason =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local current, job = currentAttempt(jobKey, sid, attempt, worker)
if not current then
  if not entryIsLive(job, sid) then dropEntry(stream, group, {sid}) end
  return 0
end
local jobId = job[5]
dropEntry(stream, group, {sid})
if job[8] then wakeIfWaiting() end
if ARGV[9] ~= '' then
  local leaseEnd = redisTimeMs() + tonumber(ARGV[10])
  if ARGV[11] == '1' then redis.call('ZADD', KEYS[8], leaseEnd, ARGV[9]) end
  if job[8] then redis.call('ZADD', KEYS[12], leaseEnd, job[8] .. '|' .. ARGV[9]) end
end

redis.call('HSET', jobKey, 'lastError', err, 'updatedAt', now)
recordEvent(jobKey, jobId, 'failed', attempt, now, {'worker', worker, 'error', err}, {})
countThroughput('failed')

if reason ~= '' then
  moveToDead(KEYS[7], jobKey, jobId, 'processing', attempt, reason, err, now)
  return 'dead'
end

if tonumber(retryAt) <= tonumber(now) then
  requeue(stream, jobKey, jobId, 'processing', attempt, now, {}, {})
  return 'pending'
end

redis.call('ZADD', delayed, retryAt, jobId)
announceIfEarliest(delayed, jobId, retryAt)
redis.call('HSET', jobKey, 'status', 'retrying', 'sid', '', 'runAt', retryAt)
moveCount('processing', 'retrying', job[7], job[8])
recordEvent(jobKey, jobId, 'retrying', attempt, now, {'nextAt', retryAt}, {})
return 'retrying'
