--[[
  parkUnserved: jobs of a type no live worker of the queue serves, whose entries startJobs left to
  the caller (they stay in its pending list until now), wait without spending an attempt in the
  type's unserved set, scored by when they began to wait (redisTimeMs), and counted per type in the
  queue's unserved hash, at no cost, until a worker of their type releases them (releaseUnserved) or
  they have waited NO_HANDLER_TIMEOUT_MS (expireUnserved). Each job's entry is dropped and the job
  stays pending with no entry (`sid` empty) and no history event, unless it was a crashed worker's
  attempt: that one becomes pending, as a hand-back would make it. An entry whose job moved on
  meanwhile is only dropped.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] unserved hash
  KEYS[13] the type's unserved set   KEYS[14..n] job hashes, one per entry
  ARGV[1] group   ARGV[2] now (ms)   ARGV[3] type   then per job hash: its entry's band, its entry's id

  Returns how many jobs were parked.
]]
local streams, unserved, set = setLanes(4), KEYS[12], KEYS[13]
local group, now, jobType = ARGV[1], ARGV[2], ARGV[3]
local parked = 0
for i = 14, #KEYS do
  local a = 4 + 2 * (i - 14)
  local sid, jobKey = ARGV[a + 1], KEYS[i]
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'id', 'type', 'attempts', 'group')
  dropEntry(streams[tonumber(ARGV[a]) + 1], group, {sid})
  if entryIsLive(job, sid) and job[4] == jobType then
    if job[1] == 'processing' then
      moveCount('processing', 'pending', jobType, job[6])
      recordEvent(jobKey, job[3], 'pending', job[5], now, {'error', 'interrupted: its worker stopped while running it'}, {})
    end
    redis.call('HSET', jobKey, 'status', 'pending', 'sid', '')
    redis.call('HDEL', jobKey, 'parks')
    if redis.call('ZADD', set, 'NX', redisTimeMs(), job[3]) == 1 then countUnserved(unserved, jobType, 1) end
    parked = parked + 1
  end
end
return parked
