--[[
  startJobs: starts the jobs of stream entries read or claimed in an earlier call, that the worker
  still owns (see startEntry), unless the queue is paused: then each is handed back to its stream
  (see handBackEntry).

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] paused flag   KEYS[13] delayed
  KEYS[14..13+r] the rate windows the flow limits name   KEYS[14+r..n] job hashes, one per entry
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] types served here   ARGV[5] types served
  only elsewhere   ARGV[6] the flow limits (see flow-limits.lua)   ARGV[7] r
  then per job hash: its entry's band, its entry's id

  Returns {items, paused}: one item per entry, as startEntry ({entryId} alone for an entry handed
  back), and 1 when the queue is paused, else 0.
]]
local streams = setLanes(4)
setRouting(ARGV[4], ARGV[5], KEYS[13])
setFlow(ARGV[6])
local hashes = 14 + tonumber(ARGV[7])
local paused = redis.call('EXISTS', KEYS[12]) == 1
local items = {}
for i = hashes, #KEYS do
  local a = 8 + 2 * (i - hashes)
  local stream, sid = streams[tonumber(ARGV[a]) + 1], ARGV[a + 1]
  if paused then
    handBackEntry(stream, ARGV[1], ARGV[2], ARGV[3], KEYS[i], sid)
    items[#items + 1] = {sid}
  else
    items[#items + 1] = startEntry(stream, ARGV[1], ARGV[2], ARGV[3], KEYS[i], sid, false)
  end
end
if paused then return {items, 1} end
return {items, 0}
