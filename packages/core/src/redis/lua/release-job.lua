--[[
  releaseJob: hands an attempt that a stopping worker could not finish back to the stream at once,
  for another worker to take, instead of waiting out the visibility timeout. The interrupted attempt
  does not count against the job's attempts.

  KEYS[1] stream   KEYS[2] events   KEYS[3] job hash
  ARGV[1] group    ARGV[2] stream entry id   ARGV[3] now (ms)   ARGV[4] worker

  Returns 1 when released, 0 when the entry was stale (nothing is changed then).
]]
local group, sid, now = ARGV[1], ARGV[2], ARGV[3]
local job = redis.call('HMGET', KEYS[3], 'status', 'sid', 'attempts', 'id')
if job[1] ~= 'processing' or job[2] ~= sid then return 0 end

local attempts = math.max(tonumber(job[3]) - 1, 0)
local next = redis.call('XADD', KEYS[1], '*', 'id', job[4])
redis.call('XACK', KEYS[1], group, sid)
redis.call('XDEL', KEYS[1], sid)
redis.call('HSET', KEYS[3], 'status', 'pending', 'sid', next, 'attempts', tostring(attempts), 'updatedAt', now)
moveCount(KEYS[2], 'processing', 'pending')
recordEvent(KEYS[2], KEYS[3], job[4], 'pending', attempts, now, {'worker', ARGV[4], 'error', 'interrupted: its worker shut down'}, {})
return 1
