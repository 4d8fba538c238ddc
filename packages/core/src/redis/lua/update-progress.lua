--[[
  updateProgress: stores what a running handler reports of its progress, while its attempt is still
  the job's current one.

  KEYS[1] job hash
  ARGV[1] stream entry id   ARGV[2] progress (JSON)   ARGV[3] now (ms)

  Returns 1 when stored, 0 when the attempt is no longer current.
]]
local job = redis.call('HMGET', KEYS[1], 'status', 'sid')
if job[1] ~= 'processing' or job[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'progress', ARGV[2], 'updatedAt', ARGV[3])
return 1
