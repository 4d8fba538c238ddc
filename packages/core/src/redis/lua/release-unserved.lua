--[[
  releaseUnserved: a worker serving `type` has come: the given jobs waiting for one (see
  parkUnserved; the caller read the oldest from the type's set) go back to the stream, unchanged and
  with no event. A job no longer in the set (released or cancelled meanwhile) is left alone.

  KEYS[1..3] events, counts, throughput   KEYS[4] stream   KEYS[5] unserved hash   KEYS[6] the type's unserved set
  KEYS[7..n] job hashes
  ARGV[1] type   ARGV[2..n] job ids, one per job hash

  Returns how many jobs left the unserved set.
]]
local released = 0
for i = 7, #KEYS do
  local jobId, jobKey = ARGV[i - 5], KEYS[i]
  if redis.call('ZREM', KEYS[6], jobId) == 1 then
    countUnserved(KEYS[5], ARGV[1], -1)
    released = released + 1
    local job = redis.call('HMGET', jobKey, 'status', 'sid')
    if job[1] == 'pending' and job[2] == '' then
      redis.call('HSET', jobKey, 'sid', redis.call('XADD', KEYS[4], '*', 'id', jobId))
    end
  end
end
return released
