--[[
  releaseUnserved: a worker serving `type` has come: the given jobs waiting for one (see
  parkUnserved; the caller read the oldest from the type's set) go back to the stream, unchanged and
  with no event. A job no longer in the set (released or cancelled meanwhile) is left alone.

  KEYS[1..3] events, counts, throughput   KEYS[4..8] band streams   KEYS[9] unserved hash
  KEYS[10] the type's unserved set   KEYS[11..n] job hashes
  ARGV[1] type   ARGV[2..n] job ids, one per job hash

  Returns how many jobs left the unserved set.
]]
local streams = bandStreams(4)
local released = 0
for i = 11, #KEYS do
  local jobId, jobKey = ARGV[i - 9], KEYS[i]
  if redis.call('ZREM', KEYS[10], jobId) == 1 then
    countUnserved(KEYS[9], ARGV[1], -1)
    released = released + 1
    local job = redis.call('HMGET', jobKey, 'status', 'sid', 'band')
    if job[1] == 'pending' and job[2] == '' then
      redis.call('HSET', jobKey, 'sid', redis.call('XADD', streamOf(streams, job[3]), '*', 'id', jobId))
    end
  end
end
return released
