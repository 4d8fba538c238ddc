--[[
  parkLimited: pending jobs of one type that its rate limit or concurrency cap held back at start
  (startEntry left their entries to the caller) wait without spending an attempt in the type's
  limited set, scored by their band and then by when they began to wait, so that releaseLimited lets
  them go highest band first, and in order within a band. Each job's entry is dropped; the job stays
  pending with no entry (`sid` empty) and no history event, its `held` field saying why. An entry
  whose job moved on meanwhile is only dropped.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] limited hash
  KEYS[13] the type's limited set   KEYS[14..n] job hashes, one per entry
  ARGV[1] group   ARGV[2] now (ms)   ARGV[3] type   ARGV[4] why ('rate' or 'concurrency')
  then per job hash: its entry's lane (the index of its stream), its entry's id

  Returns how many jobs were parked.
]]
local streams, limited, set = setLanes(4), KEYS[12], KEYS[13]
local group, now, jobType, why = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local parked = 0
for i = 14, #KEYS do
  local a = 5 + 2 * (i - 14)
  local band, sid, jobKey = tonumber(ARGV[a]), ARGV[a + 1], KEYS[i]
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'id', 'type', 'band')
  dropEntry(streams[band + 1], group, {sid})
  if job[1] == 'pending' and job[2] == sid and job[4] == jobType then
    redis.call('HSET', jobKey, 'sid', '', 'held', why, 'heldSince', now)
    -- Band first, then time: a score below 2^53 whatever the band (ms times stay below 10^13 until 2286).
    -- Scored by the job's priority band, not its entry's lane: a grouped job's is the grouped stream.
    local priorityBand = tonumber(job[5]) or NORMAL_BAND
    if redis.call('ZADD', set, 'NX', priorityBand * 1e13 + tonumber(now), job[3]) == 1 then countUnserved(limited, jobType, 1) end
    parked = parked + 1
  end
end
return parked
