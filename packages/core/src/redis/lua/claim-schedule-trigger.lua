--[[
  claimScheduleTrigger: claims a run asked for now (POST /schedules/:name/trigger), paused or not and
  whatever its overlap: it is added and recorded as a tick's run is (`name|tick|manual`), its job's
  idempotency key naming it as manual.

  KEYS[1] definitions   KEYS[2] claims   KEYS[3] inflight
  ARGV[1] name   ARGV[2] tick: when it was asked for (ms)   ARGV[3] lease end (ms)

  Returns 1 claimed, 0 no such schedule, 2 the same run is claimed already (asked twice in one ms).
]]
local name = ARGV[1]
if redis.call('HEXISTS', KEYS[1], name) == 0 then return 0 end
if redis.call('ZADD', KEYS[2], 'NX', ARGV[3], name .. '|' .. ARGV[2] .. '|manual') == 0 then return 2 end
redis.call('HINCRBY', KEYS[3], name, 1)
return 1
