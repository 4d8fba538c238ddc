--[[
  releaseUnserved: a worker serving `type` has come: up to `most` of the queue's jobs waiting for one
  (see parkEntry) go back to the stream, oldest first, unchanged and with no event.

  KEYS[1] stream   KEYS[2] unserved
  ARGV[1] type   ARGV[2] most   ARGV[3] job hash key prefix

  Returns how many jobs left the unserved set.
]]
local set = unservedSet(KEYS[2], ARGV[1])
local ids = redis.call('ZRANGE', set, 0, tonumber(ARGV[2]) - 1)
if #ids == 0 then return 0 end
redis.call('ZREM', set, unpack(ids))
countUnserved(KEYS[2], ARGV[1], -#ids)
for _, jobId in ipairs(ids) do
  local jobKey = ARGV[3] .. jobId
  local job = redis.call('HMGET', jobKey, 'status', 'sid')
  if job[1] == 'pending' and job[2] == '' then
    redis.call('HSET', jobKey, 'sid', redis.call('XADD', KEYS[1], '*', 'id', jobId))
  end
end
return #ids
