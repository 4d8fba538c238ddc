--[[
  startJobs: starts the jobs of stream entries read or claimed in an earlier call, that the worker
  still owns (see startEntry), unless the queue is paused: then each is handed back to the stream
  (see handBackEntry).

  KEYS[1..3] events, counts, throughput   KEYS[4] stream   KEYS[5] paused flag   KEYS[6] delayed
  KEYS[7..n] job hashes, one per entry
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] types served here   ARGV[5] types served
  only elsewhere   ARGV[6..n] stream entry ids, one per job hash

  Returns {items, paused}: one item per entry, as startEntry ({entryId} alone for an entry handed
  back), and 1 when the queue is paused, else 0.
]]
setRouting(ARGV[4], ARGV[5], KEYS[6])
local paused = redis.call('EXISTS', KEYS[5]) == 1
local items = {}
for i = 7, #KEYS do
  local sid = ARGV[i - 1]
  if paused then
    handBackEntry(KEYS[4], ARGV[1], ARGV[2], ARGV[3], KEYS[i], sid)
    items[#items + 1] = {sid}
  else
    items[#items + 1] = startEntry(KEYS[4], ARGV[1], ARGV[2], ARGV[3], KEYS[i], sid, false)
  end
end
if paused then return {items, 1} end
return {items, 0}
