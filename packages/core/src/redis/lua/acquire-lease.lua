--[[
  acquireLease: takes or renews a lease that only one process holds at a time.

  KEYS[1] lease key
  ARGV[1] owner   ARGV[2] lease length (ms)

  Returns 1 when the caller holds the lease for the next ARGV[2] ms, 0 when another owner does.
]]
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
