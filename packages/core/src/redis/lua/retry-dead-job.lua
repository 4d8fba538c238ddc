--[[
  retryDeadJob: sends a dead job back to the stream with its attempts reset, and removes it from the
  dead-letter stream.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] job hash   KEYS[13] dlq
  ARGV[1] job id   ARGV[2] now (ms)

  Returns 1 when the job is pending again, 0 when there is no such job in Redis, or the job's status
  when it is not dead.
]]
local job = redis.call('HMGET', KEYS[12], 'status', 'dlqId', 'band')
if not job[1] then return 0 end
if job[1] ~= 'dead' then return job[1] end
sendBackDead(streamOf(setLanes(4), job[3]), KEYS[12], KEYS[13], ARGV[1], job[2], ARGV[2])
return 1
