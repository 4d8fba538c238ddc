--[[
  readJobs: completes the jobs this worker finished since its last call (see completeEntries), then
  reads up to `count` new stream entries for it, without blocking: a worker's first call per batch
  while its queue has work. Their jobs start in a second call, startJobs, which names their hashes:
  a script touches only the keys it is given, and these jobs are not known before the read. No
  entries read means there was nothing new; the worker then waits in a blocking read. A paused
  queue's entries are not read.

  KEYS[1..3] events, counts, throughput   KEYS[4] stream   KEYS[5] paused flag
  KEYS[6..n] hashes of the jobs to complete
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] count   ARGV[5] retention (ms)
  then per job to complete: stream entry id, attempt, result (JSON, '' for none)

  Returns {completed, entries, paused}: one number per job to complete, as completeEntries, a flat
  list {entryId, jobId, ...} of the entries read, and 1 when the queue is paused (nothing was
  read), else 0.
]]
local group, consumer, now = ARGV[1], ARGV[2], ARGV[3]
local jobKeys, sids, attempts, results = completionsFrom(6, 6)
local completed = completeEntries(KEYS[4], group, now, consumer, ARGV[5], jobKeys, sids, attempts, results)
if redis.call('EXISTS', KEYS[5]) == 1 then return {completed, {}, 1} end
local entries = {}
local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', ARGV[4], 'STREAMS', KEYS[4], '>')
if read then
  for _, entry in ipairs(read[1][2]) do
    entries[#entries + 1] = entry[1]
    entries[#entries + 1] = entry[2][2]
  end
end
return {completed, entries, 0}
