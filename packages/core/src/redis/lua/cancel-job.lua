--[[
  cancelJob: withdraws a job that has not started: pending (its stream entry is deleted; a worker
  that read it already will find it cancelled and skip it), scheduled or retrying (it leaves the
  delayed set). The job's hash expires after the retention period like any finished job's.

  KEYS[1] stream   KEYS[2] delayed   KEYS[3] events   KEYS[4] job hash   KEYS[5] unserved
  ARGV[1] job id   ARGV[2] now (ms)   ARGV[3] retention (ms)

  Returns 1 when cancelled, 0 when there is no such job in Redis, or the job's status when it can
  no longer be cancelled.
]]
local jobId, now = ARGV[1], ARGV[2]
local job = redis.call('HMGET', KEYS[4], 'status', 'sid', 'attempts', 'type')
local status = job[1]
if not status then return 0 end

if status == 'pending' then
  if job[2] and job[2] ~= '' then
    redis.call('XDEL', KEYS[1], job[2])
  else
    -- Parked for a worker of its type (see parkEntry).
    redis.call('ZREM', KEYS[2], jobId)
    if redis.call('ZREM', unservedSet(KEYS[5], job[4]), jobId) == 1 then countUnserved(KEYS[5], job[4], -1) end
  end
elseif status == 'scheduled' or status == 'retrying' then
  redis.call('ZREM', KEYS[2], jobId)
else
  return status
end

redis.call('HSET', KEYS[4], 'status', 'cancelled', 'sid', '', 'updatedAt', now, 'finishedAt', now)
moveCount(KEYS[3], status, 'cancelled')
recordEvent(KEYS[3], KEYS[4], jobId, 'cancelled', job[3], now, {}, {})
redis.call('PEXPIRE', KEYS[4], ARGV[3])
return 1
