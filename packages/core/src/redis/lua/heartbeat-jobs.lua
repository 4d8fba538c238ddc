--[[
  heartbeatJobs: keeps a worker's running attempts from being taken over, by resetting their stream
  entries' idle time (XCLAIM … JUSTID), but only for attempts that are still the jobs' current ones.
  A worker that stalled past the visibility timeout must not take back an entry another worker now
  runs: it learns instead that it lost the attempt.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12..n] job hashes
  ARGV[1] group    ARGV[2] worker   then per job: its entry's band, stream entry id, attempt

  Returns one number per job: 1 when refreshed, 0 when the attempt is no longer current.
]]
local group, worker = ARGV[1], ARGV[2]
local streams = setLanes(4)
local fresh, replies = {}, {}
for i = 12, #KEYS do
  local n = i - 11
  local a = 3 * n
  local band, sid, attempt = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2]
  if currentAttempt(KEYS[i], sid, attempt, worker) then
    fresh[band] = fresh[band] or {}
    table.insert(fresh[band], sid)
    replies[n] = 1
  else
    replies[n] = 0
  end
end
for band, sids in pairs(fresh) do redis.call('XCLAIM', streams[band + 1], group, worker, 0, unpack(sids), 'JUSTID') end
return replies
