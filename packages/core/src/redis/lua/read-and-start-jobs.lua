--[[
  readAndStartJobs: completes the jobs this worker finished since its last call (see
  completeEntries), then reads up to `count` new stream entries for it, without blocking, and
  starts their jobs (see startEntry): a worker's one call per batch while its queue has work. No
  entries read means there was nothing new; the worker then waits in a blocking read. A paused
  queue's entries are not read.

  KEYS[1] stream   KEYS[2] events   KEYS[3] paused flag   KEYS[4] delayed   KEYS[5] unserved
  KEYS[6..n] hashes of the jobs to complete
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] count   ARGV[5] job hash key prefix
  ARGV[6] retention (ms)   ARGV[7] types served here   ARGV[8] types served only elsewhere
  then per job to complete: stream entry id, attempt, result (JSON, '' for none)

  Returns {completed, started, paused}: one number per job to complete, as completeEntries, one
  item per entry read, as startEntry, and 1 when the queue is paused (nothing was read), else 0.
]]
local group, consumer, now = ARGV[1], ARGV[2], ARGV[3]
setRouting(ARGV[7], ARGV[8], KEYS[4], KEYS[5])
local jobKeys, sids, attempts, results = completionsFrom(6, 9)
local completed = completeEntries(KEYS[1], KEYS[2], group, now, consumer, ARGV[6], jobKeys, sids, attempts, results)
if redis.call('EXISTS', KEYS[3]) == 1 then return {completed, {}, 1} end
local started = {}
local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', ARGV[4], 'STREAMS', KEYS[1], '>')
if read then
  for _, entry in ipairs(read[1][2]) do
    started[#started + 1] = startEntry(KEYS[1], KEYS[2], group, consumer, now, ARGV[5] .. entry[2][2], entry[1])
  end
end
return {completed, started, 0}
