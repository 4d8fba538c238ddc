--[[
  expireUnserved: dead-letters, with reason `no-handler`, up to `most` of the queue's jobs of `type`
  that have waited for a worker of their type (see parkEntry) for `timeout` ms or more, by Redis's
  clock; `now` dates the events.

  KEYS[1] events   KEYS[2] unserved   KEYS[3] dlq
  ARGV[1] type   ARGV[2] now (ms)   ARGV[3] timeout (ms)   ARGV[4] most   ARGV[5] job hash key prefix
  ARGV[6] dead retention (ms)   ARGV[7] most dead jobs

  Returns how many jobs left the unserved set.
]]
local jobType, now, timeout = ARGV[1], ARGV[2], ARGV[3]
local set = unservedSet(KEYS[2], jobType)
local ids = redis.call('ZRANGEBYSCORE', set, '-inf', redisTimeMs() - tonumber(timeout), 'LIMIT', 0, tonumber(ARGV[4]))
if #ids == 0 then return 0 end
redis.call('ZREM', set, unpack(ids))
countUnserved(KEYS[2], jobType, -#ids)
local dead = {KEYS[3], ARGV[5], ARGV[6], ARGV[7]}
local err = 'no live worker served job type "' .. jobType .. '" for ' .. timeout .. ' ms'
for _, jobId in ipairs(ids) do
  local jobKey = ARGV[5] .. jobId
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'attempts')
  if job[1] == 'pending' and job[2] == '' then
    moveToDead(dead, KEYS[1], jobKey, jobId, 'pending', job[3], 'no-handler', err, now)
  end
end
return #ids
