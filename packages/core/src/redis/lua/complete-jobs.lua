--[[
  completeJobs: completes a batch of jobs of one queue (see completeEntries).

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12..n] job hashes
  ARGV[1] group    ARGV[2] now (ms)   ARGV[3] worker   ARGV[4] retention (ms)
  then per job, in the order of the job hashes: band, stream entry id, attempt, result (JSON, '' for none)

  Returns one number per job, as completeEntries.
]]
return completeEntries(setLanes(4), ARGV[1], ARGV[2], ARGV[3], ARGV[4], completionsFrom(12, 5))
