--[[
  discardDeadJobs: discards the dead jobs of one batch of dead-letter entries (the caller read them,
  oldest first) whose type matches (see discardDead). An entry whose job is no longer dead from it
  (retried or discarded meanwhile) is left alone.

  KEYS[1..3] events, counts, throughput   KEYS[4] dlq   KEYS[5..n] job hashes
  ARGV[1] now (ms)   ARGV[2] type ('' for any)   ARGV[3] retention (ms)
  ARGV[4..n] dead-letter entry ids, one per job hash

  Returns how many jobs were discarded.
]]
local now, wanted, retentionMs = ARGV[1], ARGV[2], ARGV[3]
local discarded = 0
for i = 5, #KEYS do
  local dlqId, jobKey = ARGV[i - 1], KEYS[i]
  local job = redis.call('HMGET', jobKey, 'status', 'type', 'dlqId', 'id', 'attempts')
  if job[1] == 'dead' and job[3] == dlqId and (wanted == '' or job[2] == wanted) then
    discardDead(KEYS[4], jobKey, job[4], dlqId, job[5], now, retentionMs)
    discarded = discarded + 1
  end
end
return discarded
