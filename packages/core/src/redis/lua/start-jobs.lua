--[[
  startJobs: starts the jobs of stream entries already read or claimed (see startEntry), unless the
  queue is paused: then each is handed back to the stream (see handBackEntry).

  KEYS[1] stream   KEYS[2] events   KEYS[3] paused flag   KEYS[4] delayed   KEYS[5] unserved
  KEYS[6..n] job hashes, one per entry
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] types served here   ARGV[5] types served
  only elsewhere   ARGV[6..n] stream entry ids, one per job hash

  Returns one item per entry, as startEntry ({entryId} alone for an entry handed back).
]]
setRouting(ARGV[4], ARGV[5], KEYS[4], KEYS[5])
local paused = redis.call('EXISTS', KEYS[3]) == 1
local result = {}
for i = 6, #KEYS do
  local sid = ARGV[i]
  if paused then
    handBackEntry(KEYS[1], KEYS[2], ARGV[1], ARGV[3], KEYS[i], sid)
    result[#result + 1] = {sid}
  else
    result[#result + 1] = startEntry(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], KEYS[i], sid)
  end
end
return result
