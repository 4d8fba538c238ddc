--[[
  heartbeatJobs: keeps a worker's running attempts from being taken over, by resetting their stream
  entries' idle time (XCLAIM … JUSTID), but only for attempts that are still the jobs' current ones.
  A worker that stalled past the visibility timeout must not take back an entry another worker now
  runs: it learns instead that it lost the attempt.

  KEYS[1..3] events, counts, throughput   KEYS[4] stream   KEYS[5..n] job hashes
  ARGV[1] group    ARGV[2] worker   then per job: stream entry id, attempt

  Returns one number per job: 1 when refreshed, 0 when the attempt is no longer current.
]]
local group, worker = ARGV[1], ARGV[2]
local fresh, replies = {}, {}
for i = 5, #KEYS do
  local n = i - 4
  local sid, attempt = ARGV[2 * n + 1], ARGV[2 * n + 2]
  if currentAttempt(KEYS[i], sid, attempt, worker) then
    fresh[#fresh + 1] = sid
    replies[n] = 1
  else
    replies[n] = 0
  end
end
if #fresh > 0 then redis.call('XCLAIM', KEYS[4], group, worker, 0, unpack(fresh), 'JUSTID') end
return replies
