--[[
  readAndStartJobs: reads up to `count` new stream entries for this consumer, without blocking, and
  starts their jobs (see startEntry), in one step: a worker's one call per batch while its queue has
  work. An empty reply means there was nothing new; the worker then waits in a blocking read.

  KEYS[1] stream   KEYS[2] events
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] count   ARGV[5] job hash key prefix

  Returns one item per entry read, as startEntry.
]]
local result = {}
local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[4], 'STREAMS', KEYS[1], '>')
if not read then return result end
for _, entry in ipairs(read[1][2]) do
  result[#result + 1] = startEntry(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[5] .. entry[2][2], entry[1])
end
return result
