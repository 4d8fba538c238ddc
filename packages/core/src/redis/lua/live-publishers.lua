--[[
  livePublishers: the publications' version and the workers that published within `liveMs`, by
  Redis's clock (see publishJobTypes), in one read.

  KEYS[1] seen   KEYS[2] version
  ARGV[1] live (ms)

  Returns {version or false, worker names...}.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local reply = {redis.call('GET', KEYS[2])}
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')) do reply[#reply + 1] = worker end
return reply
