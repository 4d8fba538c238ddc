--[[
  releaseUnserved: a worker serving `type` has come: the given jobs waiting for one (see
  parkUnserved; the caller read the oldest from the type's set) go back to the stream, unchanged and
  with no event. A job no longer in the set (released or cancelled meanwhile) is left alone.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] unserved hash
  KEYS[13] the type's unserved set   KEYS[14..n] job hashes
  ARGV[1] type   ARGV[2..n] job ids, one per job hash

  Returns how many jobs left the unserved set.
]]
local streams = setLanes(4)
local released = 0
for i = 14, #KEYS do
  local jobId, jobKey = ARGV[i - 12], KEYS[i]
  if redis.call('ZREM', KEYS[13], jobId) == 1 then
    countUnserved(KEYS[12], ARGV[1], -1)
    released = released + 1
    local job = redis.call('HMGET', jobKey, 'status', 'sid', 'band')
    if job[1] == 'pending' and job[2] == '' then
      placePending(streamOf(streams, job[3]), jobKey, jobId)
    end
  end
end
return released
