--[[
  runJobNow: an operator runs a scheduled job or a retry now instead of at its due time: it leaves
  the delayed ZSET and goes to the stream of its band as pending (requeue), its runAt now, with an event saying
  so. A job no longer in the delayed set (promoted, cancelled or started meanwhile) is left alone.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] delayed   KEYS[13] job hash
  ARGV[1] job id   ARGV[2] now (ms)

  Returns 1 when the job is pending now, 0 when there is no such job in Redis, or the job's status
  when it is neither scheduled nor retrying.
]]
local jobId, now, jobKey = ARGV[1], ARGV[2], KEYS[13]
local job = redis.call('HMGET', jobKey, 'status', 'attempts', 'band')
local status = job[1]
if not status then return 0 end
if (status ~= 'scheduled' and status ~= 'retrying') or redis.call('ZREM', KEYS[12], jobId) == 0 then return status end
requeue(streamOf(setLanes(4), job[3]), jobKey, jobId, status, job[2], now, {'runAt', now}, {'reason', 'run now by an operator'})
return 1
