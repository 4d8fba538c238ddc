--[[
  renewOverruns: a live worker keeps the leases of its handlers still running after their attempts
  ended (see failJob), on Redis's clock, so that the cap of their type goes on counting them; those it
  no longer holds (gone with its lease) stay gone.

  KEYS[1] the set of overrunning handlers of one type
  ARGV[1] lease (ms)   ARGV[2..n] members

  Returns how many were renewed.
]]
local time = redis.call('TIME')
local leaseEnd = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[1])
local renewed = 0
for i = 2, #ARGV do renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', leaseEnd, ARGV[i]) end
return renewed
