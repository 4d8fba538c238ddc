--[[
  saveSchedule: creates a schedule, or changes one at the revision its caller read. The next tick is
  computed by the caller (cron needs a library); it must lie after every tick decided already, so a
  change, a resume or a clock gone back never makes a tick due twice.

  KEYS[1] definitions   KEYS[2] revisions   KEYS[3] due   KEYS[4] decided
  ARGV[1] name   ARGV[2] definition (JSON)   ARGV[3] 'create' or 'update'
  ARGV[4] the revision the caller read (update)   ARGV[5] next tick (ms), '' while paused
  ARGV[6] most schedules (create)

  Returns {1, revision} when saved; {0, 'exists'} (create: the name is taken), {0, 'full'} (create:
  ARGV[6] schedules exist), {0, 'missing'} (update: no such schedule), {0, 'stale'} (update: changed
  since read, or the next tick is not after the newest decided one: read again and retry).
]]
local name, definition, mode, readRevision, nextTick = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

if mode == 'create' then
  if redis.call('HEXISTS', KEYS[1], name) == 1 then return {0, 'exists'} end
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[6]) then return {0, 'full'} end
else
  local revision = redis.call('HGET', KEYS[2], name)
  if not revision then return {0, 'missing'} end
  if revision ~= readRevision then return {0, 'stale'} end
end

local decided = tonumber(redis.call('HGET', KEYS[4], name) or '-1')
if nextTick ~= '' and tonumber(nextTick) <= decided then return {0, 'stale'} end

redis.call('HSET', KEYS[1], name, definition)
local revision = redis.call('HINCRBY', KEYS[2], name, 1)
if nextTick == '' then
  redis.call('ZREM', KEYS[3], name)
else
  redis.call('ZADD', KEYS[3], nextTick, name)
end
return {1, revision}
