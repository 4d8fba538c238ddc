--[[
  publishJobTypes: a worker says which job types it serves (see WorkerPublication), and that it is
  live. Publications of workers silent for `keptMs` are removed in the same step, so the hash never
  holds more than the workers of the last while. The version goes up only when a publication changes,
  so readers rebuild what they know only then; the worker's process report (host, memory, the jobs it
  runs) changes at every publication, so it is kept apart and bumps nothing. Liveness is measured on Redis's clock, which every
  worker and producer shares whatever their own clocks say.

  KEYS[1] publications   KEYS[2] seen   KEYS[3] version   KEYS[4] processes
  ARGV[1] worker   ARGV[2] publication (JSON)   ARGV[3] kept (ms)   ARGV[4] process report (JSON)

  Returns the version.
]]
local worker, publication = ARGV[1], ARGV[2]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local changed = false
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[3])))
if #stale > 0 then
  redis.call('HDEL', KEYS[1], unpack(stale))
  redis.call('HDEL', KEYS[4], unpack(stale))
  redis.call('ZREM', KEYS[2], unpack(stale))
  changed = true
end
if redis.call('HGET', KEYS[1], worker) ~= publication then
  redis.call('HSET', KEYS[1], worker, publication)
  changed = true
end
redis.call('HSET', KEYS[4], worker, ARGV[4])
redis.call('ZADD', KEYS[2], now, worker)
if changed then return redis.call('INCR', KEYS[3]) end
return tonumber(redis.call('GET', KEYS[3]) or '0')
