--[[
  updateProgress: stores what a running handler reports of its progress, while its attempt is still
  the job's current one (see currentAttempt).

  KEYS[1..3] events, counts, throughput   KEYS[4] job hash
  ARGV[1] stream entry id   ARGV[2] attempt   ARGV[3] worker   ARGV[4] progress (JSON)   ARGV[5] now (ms)

  Returns 1 when stored, 0 when the attempt is no longer current.
]]
if not currentAttempt(KEYS[4], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('HSET', KEYS[4], 'progress', ARGV[4], 'updatedAt', ARGV[5])
return 1
