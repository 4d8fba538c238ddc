--[[
  completeJobs: completes a batch of jobs of one queue (see completeEntries).

  KEYS[1..3] events, counts, throughput   KEYS[4] stream   KEYS[5..n] job hashes
  ARGV[1] group    ARGV[2] now (ms)   ARGV[3] worker   ARGV[4] retention (ms)
  then per job, in the order of the job hashes: stream entry id, attempt, result (JSON, '' for none)

  Returns one number per job, as completeEntries.
]]
local jobKeys, sids, attempts, results = completionsFrom(5, 5)
return completeEntries(KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], jobKeys, sids, attempts, results)
