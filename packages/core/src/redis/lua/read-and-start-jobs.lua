--[[
  readAndStartJobs: completes the jobs this worker finished since its last call (see
  completeEntries), then reads up to `count` new stream entries for it, without blocking, and
  starts their jobs (see startEntry): a worker's one call per batch while its queue has work. No
  entries read means there was nothing new; the worker then waits in a blocking read.

  KEYS[1] stream   KEYS[2] events   KEYS[3..n] hashes of the jobs to complete
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] count   ARGV[5] job hash key prefix
  ARGV[6] retention (ms)   then per job to complete: stream entry id, result (JSON, '' for none)

  Returns {completed, started}: one number per job to complete, as completeEntries, and one item
  per entry read, as startEntry.
]]
local group, consumer, now = ARGV[1], ARGV[2], ARGV[3]
local jobKeys, sids, results = completionsFrom(3, 7)
local completed = completeEntries(KEYS[1], KEYS[2], group, now, consumer, ARGV[6], jobKeys, sids, results)
local started = {}
local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', ARGV[4], 'STREAMS', KEYS[1], '>')
if read then
  for _, entry in ipairs(read[1][2]) do
    started[#started + 1] = startEntry(KEYS[1], KEYS[2], group, consumer, now, ARGV[5] .. entry[2][2], entry[1])
  end
end
return {completed, started}
