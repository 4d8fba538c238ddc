--[[
  releaseLimited: lets jobs of one type that its limits held back (see parkLimited; the caller read
  the first of its limited set, highest band first) go back to their streams, as many as its limits
  have room for now: under its cap, the jobs it may run besides those running; under its rate, the
  starts its window allows, each reserved for the job released ('r:' .. job id in the window, which
  its start takes up, see admitStart), so that no job started meanwhile takes the room of one on its
  way. A job no longer in the set (released or cancelled meanwhile) is left alone.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] limited hash
  KEYS[13] the type's limited set   KEYS[14] the type's rate window   KEYS[15] the type's overrunning
  handlers (each any key of the slot when the type has no rate, or no cap)   KEYS[16..n] job hashes
  ARGV[1] type   ARGV[2] the type's limits, as its item of the flow limits (see flow-limits.lua), its
  window at KEYS index 14, its overrunning handlers at 15   ARGV[3..n] job ids, one per job hash

  Returns {released, again}: how many went back, and, when its rate window is full, in how long it
  next has room (ms), else 0.
]]
local streams, limited, set = setLanes(4), KEYS[12], KEYS[13]
local jobType = ARGV[1]
local limit = cjson.decode(ARGV[2])
local room = #KEYS - 15
if limit.c > 0 then room = math.min(room, limit.c - runningNow(jobType, limit)) end
if limit.m > 0 then room = math.min(room, (windowRoom(limit))) end
local released = 0
for i = 16, #KEYS do
  if released >= room then break end
  local jobId, jobKey = ARGV[i - 13], KEYS[i]
  if redis.call('ZREM', set, jobId) == 1 then
    countUnserved(limited, jobType, -1)
    released = released + 1
    local job = redis.call('HMGET', jobKey, 'status', 'sid', 'band')
    if job[1] == 'pending' and job[2] == '' then
      placePending(streamOf(streams, job[3]), jobKey, jobId)
      redis.call('HDEL', jobKey, 'held', 'heldSince')
      if limit.m > 0 then countStart(limit, 'r:' .. jobId) end
    end
  end
end
local again = 0
if limit.m > 0 then again = select(2, windowRoom(limit)) end
return {released, again}
