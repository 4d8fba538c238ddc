--[[
  discardDeadJob: discards one dead job (see discardDead).

  KEYS[1..3] events, counts, throughput   KEYS[4] dlq   KEYS[5] job hash
  ARGV[1] job id   ARGV[2] now (ms)   ARGV[3] retention (ms)

  Returns 1 when discarded, 0 when there is no such job in Redis, or the job's status when it is not dead.
]]
local job = redis.call('HMGET', KEYS[5], 'status', 'dlqId', 'attempts')
if not job[1] then return 0 end
if job[1] ~= 'dead' then return job[1] end
discardDead(KEYS[4], KEYS[5], ARGV[1], job[2], job[3], ARGV[2], ARGV[3])
return 1
