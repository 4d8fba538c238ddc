--[[
  startJobs: starts the jobs of stream entries already read or claimed (see startEntry).

  KEYS[1] stream   KEYS[2] events   KEYS[3..n] job hashes, one per entry
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4..n] stream entry ids, one per job hash

  Returns one item per entry, as startEntry.
]]
local result = {}
for i = 3, #KEYS do
  result[#result + 1] = startEntry(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], KEYS[i], ARGV[i + 1])
end
return result
