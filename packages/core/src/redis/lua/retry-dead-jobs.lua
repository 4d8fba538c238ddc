--[[
  retryDeadJobs: sends back the dead jobs of one batch of dead-letter entries (the caller read them,
  oldest first) whose type matches. An entry whose job is no longer dead from it (retried meanwhile)
  is left alone.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] dlq   KEYS[13..n] job hashes
  ARGV[1] now (ms)   ARGV[2] type ('' for any)   ARGV[3..n] dead-letter entry ids, one per job hash

  Returns how many jobs were sent back.
]]
local now, wanted = ARGV[1], ARGV[2]
local streams = setLanes(4)
local retried = 0
for i = 13, #KEYS do
  local dlqId, jobKey = ARGV[i - 10], KEYS[i]
  local job = redis.call('HMGET', jobKey, 'status', 'type', 'dlqId', 'id', 'band')
  if job[1] == 'dead' and job[3] == dlqId and (wanted == '' or job[2] == wanted) then
    sendBackDead(streamOf(streams, job[5]), jobKey, KEYS[12], job[4], dlqId, now)
    retried = retried + 1
  end
end
return retried
