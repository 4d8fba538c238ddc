--[[
  oldestWaiting: how long the oldest job of one partition that waits for a worker has waited, on
  Redis's clock, in one read (no change). Waiting means ready and not yet handed to a worker:
  - a band stream's entries after its consumer group's last-delivered id (all of them when no worker
    has joined yet). An entry's id is the time it was added, which for a delayed job or a retry is
    when the promoter moved it in, so its due time: the wait counts from when it could have run.
  - the fair queue's grouped jobs waiting their group's turn. Their members carry no time, so the
    first `sample` in turn order are looked at, each by when it began to wait as the fair tags keep it
    (see queueGrouped), or, for one queued before they kept it, its job id's time (a UUIDv7's first
    48 bits, when it was added): the job next in turn is among them, and an older one further back is
    not seen.

  KEYS[1..n-2] the band streams   KEYS[n-1] the fair queue   KEYS[n] its tags
  ARGV[1] group   ARGV[2] sample

  Returns the age in ms of the oldest waiting job, or -1 when none waits.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local oldest = nil
local function consider(ms)
  if ms and (oldest == nil or ms < oldest) then oldest = ms end
end

for i = 1, #KEYS - 2 do
  local stream = KEYS[i]
  if redis.call('EXISTS', stream) == 1 then
    local from = '-'
    for _, info in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
      local fields = {}
      for f = 1, #info, 2 do fields[info[f]] = info[f + 1] end
      if fields['name'] == ARGV[1] then from = '(' .. fields['last-delivered-id'] end
    end
    local first = redis.call('XRANGE', stream, from, '+', 'COUNT', 1)[1]
    if first then consider(tonumber(string.match(first[1], '^(%d+)-'))) end
  end
end

local sample = redis.call('ZRANGE', KEYS[#KEYS - 1], 0, tonumber(ARGV[2]) - 1)
if #sample > 0 then
  local fields = {}
  for i, member in ipairs(sample) do fields[i] = 't:' .. (string.match(member, '([^|]*)$') or '') end
  local since = redis.call('HMGET', KEYS[#KEYS], unpack(fields))
  for i, field in ipairs(fields) do
    local id = string.sub(field, 3)
    if since[i] then consider(tonumber(since[i]))
    elseif #id >= 13 then consider(tonumber(string.sub(id, 1, 8) .. string.sub(id, 10, 13), 16)) end
  end
end

if oldest == nil then return -1 end
return math.max(0, now - oldest)
