--[[
  expireUnserved: dead-letters, with reason `no-handler`, those of the given jobs of `type` (the
  caller read the oldest from the type's unserved set) that have waited for a worker of their type
  (see parkUnserved) for `timeout` ms or more, by Redis's clock; `now` dates the events.

  KEYS[1..3] events, counts, throughput   KEYS[4] unserved hash   KEYS[5] the type's unserved set   KEYS[6] dlq
  KEYS[7..n] job hashes
  ARGV[1] type   ARGV[2] now (ms)   ARGV[3] timeout (ms)   ARGV[4..n] job ids, one per job hash

  Returns how many jobs left the unserved set.
]]
local jobType, now, timeout = ARGV[1], ARGV[2], ARGV[3]
local cutoff = redisTimeMs() - tonumber(timeout)
local err = 'no live worker served job type "' .. jobType .. '" for ' .. timeout .. ' ms'
local expired = 0
for i = 7, #KEYS do
  local jobId, jobKey = ARGV[i - 3], KEYS[i]
  local since = redis.call('ZSCORE', KEYS[5], jobId)
  if since and tonumber(since) <= cutoff then
    redis.call('ZREM', KEYS[5], jobId)
    countUnserved(KEYS[4], jobType, -1)
    expired = expired + 1
    local job = redis.call('HMGET', jobKey, 'status', 'sid', 'attempts')
    if job[1] == 'pending' and job[2] == '' then
      moveToDead(KEYS[6], jobKey, jobId, 'pending', job[3], 'no-handler', err, now)
    end
  end
end
return expired
