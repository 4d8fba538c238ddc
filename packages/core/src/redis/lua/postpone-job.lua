--[[
  postponeJob: ends an attempt whose handler asked to run the job again later (RetryAfterError),
  without counting it: the job waits in the delayed ZSET as `scheduled`, its attempts as they were
  before, until `runAt`. A job postponed `most` times already is left as it is, for the caller to
  fail the attempt instead, so that no job is postponed forever.

  KEYS[1..3] events, counts, throughput   KEYS[4] the stream of the job's band   KEYS[5] delayed   KEYS[6] job hash
  ARGV[1] group    ARGV[2] stream entry id   ARGV[3] attempt   ARGV[4] now (ms)   ARGV[5] worker
  ARGV[6] run at (ms)   ARGV[7] why   ARGV[8] most postponements

  Returns 1 when postponed, -1 when the job has been postponed `most` times already, 0 when the
  attempt is no longer the job's current one (nothing is changed for the job then).
]]
local stream, delayed, jobKey = KEYS[4], KEYS[5], KEYS[6]
local group, sid, attempt, now, worker, runAt, why = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local current, job = currentAttempt(jobKey, sid, attempt, worker)
if not current then
  if not entryIsLive(job, sid) then dropEntry(stream, group, {sid}) end
  return 0
end
local postponed = tonumber(redis.call('HGET', jobKey, 'postponed') or '0')
if postponed >= tonumber(ARGV[8]) then return -1 end

local attempts = tostring(math.max(tonumber(attempt) - 1, 0))
dropEntry(stream, group, {sid})
redis.call('ZADD', delayed, runAt, job[5])
announceIfEarliest(delayed, job[5], runAt)
redis.call('HSET', jobKey, 'status', 'scheduled', 'sid', '', 'attempts', attempts, 'runAt', runAt, 'updatedAt', now, 'postponed', postponed + 1)
moveCount('processing', 'scheduled', job[7], job[8])
recordEvent(jobKey, job[5], 'scheduled', attempts, now, {'worker', worker, 'reason', why, 'nextAt', runAt}, {})
return 1
