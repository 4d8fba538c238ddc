--[[
  handBackEntries: puts the jobs of entries a worker read but has no slot for back at the ends of
  their streams, unstarted, for any worker to take (see handBackEntry).

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12..n] job hashes, one per entry
  ARGV[1] group   ARGV[2] consumer   ARGV[3] now (ms)   then per job hash: its entry's band, its entry's id
]]
local streams = setLanes(4)
for i = 12, #KEYS do
  local a = 4 + 2 * (i - 12)
  handBackEntry(streams[tonumber(ARGV[a]) + 1], ARGV[1], ARGV[2], ARGV[3], KEYS[i], ARGV[a + 1])
end
return #KEYS - 11
