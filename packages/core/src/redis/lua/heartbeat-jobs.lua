--[[
  heartbeatJobs: keeps a worker's running attempts from being taken over, by resetting their stream
  entries' idle time (XCLAIM … JUSTID), but only for attempts that are still the jobs' current ones.
  A worker that stalled past the visibility timeout must not take back an entry another worker now
  runs: it learns instead that it lost the attempt.

  KEYS[1] stream   KEYS[2..n] job hashes
  ARGV[1] group    ARGV[2] worker   then per job: stream entry id, attempt

  Returns one number per job: 1 when refreshed, 0 when the attempt is no longer current.
]]
local group, worker = ARGV[1], ARGV[2]
local fresh, replies = {}, {}
for i = 2, #KEYS do
  local sid, attempt = ARGV[2 * i - 1], ARGV[2 * i]
  if currentAttempt(KEYS[i], sid, attempt, worker) then
    fresh[#fresh + 1] = sid
    replies[i - 1] = 1
  else
    replies[i - 1] = 0
  end
end
if #fresh > 0 then redis.call('XCLAIM', KEYS[1], group, worker, 0, unpack(fresh), 'JUSTID') end
return replies
