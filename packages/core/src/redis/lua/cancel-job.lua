--[[
  cancelJob: withdraws a job that has not started: pending (its stream entry is deleted; a worker
  that read it already will find it cancelled and skip it; one waiting for a worker of its type, or
  for room under its type's limits, or for its group's turn, leaves the delayed, unserved, limited set
  or fair queue it waits in), scheduled or retrying (it leaves the delayed
  set). The job's hash expires after the retention period like any finished job's.

  KEYS[1..3] events, counts, throughput   KEYS[4] the stream of the job's band   KEYS[5] delayed   KEYS[6] job hash
  KEYS[7] unserved hash   KEYS[8] the unserved set of the job's type (the caller read the type and band)
  KEYS[9] limited hash   KEYS[10] the limited set of the job's type   KEYS[11..12] fair queue and its tags
  ARGV[1] job id   ARGV[2] now (ms)   ARGV[3] retention (ms)   ARGV[4] the job's type

  Returns 1 when cancelled, 0 when there is no such job in Redis, or the job's status when it can
  no longer be cancelled.
]]
local jobId, now, jobKey = ARGV[1], ARGV[2], KEYS[6]
local job = redis.call('HMGET', jobKey, 'status', 'sid', 'attempts', 'type', 'group')
local status = job[1]
if not status or job[4] ~= ARGV[4] then return 0 end
setFair(KEYS[11], KEYS[12])

if status == 'pending' then
  if job[2] and job[2] ~= '' then
    redis.call('XDEL', KEYS[4], job[2])
  else
    redis.call('ZREM', KEYS[5], jobId)
    if redis.call('ZREM', KEYS[8], jobId) == 1 then countUnserved(KEYS[7], job[4], -1) end
    if redis.call('ZREM', KEYS[10], jobId) == 1 then countUnserved(KEYS[9], job[4], -1) end
    if job[5] then leaveFair(job[5] .. '|' .. job[4] .. '|' .. jobId, job[5], false) end
  end
elseif status == 'scheduled' or status == 'retrying' then
  redis.call('ZREM', KEYS[5], jobId)
else
  return status
end

redis.call('HSET', jobKey, 'status', 'cancelled', 'sid', '', 'updatedAt', now, 'finishedAt', now)
moveCount(status, 'cancelled')
recordEvent(jobKey, jobId, 'cancelled', job[3], now, {}, {})
redis.call('PEXPIRE', jobKey, ARGV[3])
return 1
