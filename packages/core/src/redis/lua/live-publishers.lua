--[[
  livePublishers: the publications' version, and every worker that published within `knownMs`, by
  Redis's clock (see publishJobTypes), each with 1 when it published within `liveMs` (it is live)
  and 0 when only within `knownMs`, in one read.

  KEYS[1] seen   KEYS[2] version
  ARGV[1] live (ms)   ARGV[2] known (ms)

  Returns {version or false, worker, live flag, worker, live flag, ...}.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local liveSince = now - tonumber(ARGV[1])
local reply = {redis.call('GET', KEYS[2])}
local seen = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf', 'WITHSCORES')
for i = 1, #seen, 2 do
  reply[#reply + 1] = seen[i]
  if tonumber(seen[i + 1]) >= liveSince then reply[#reply + 1] = 1 else reply[#reply + 1] = 0 end
end
return reply
