--[[
  completeJobs: completes a batch of jobs of one queue (see completeEntries).

  KEYS[1..3] events, counts, throughput   KEYS[4..8] band streams   KEYS[9..n] job hashes
  ARGV[1] group    ARGV[2] now (ms)   ARGV[3] worker   ARGV[4] retention (ms)
  then per job, in the order of the job hashes: band, stream entry id, attempt, result (JSON, '' for none)

  Returns one number per job, as completeEntries.
]]
return completeEntries(bandStreams(4), ARGV[1], ARGV[2], ARGV[3], ARGV[4], completionsFrom(9, 5))
