--[[
  completeJobs: records the successful attempts of a batch of jobs of one queue, acknowledges and
  deletes their stream entries, and lets each job's hash expire after the retention period
  (PostgreSQL keeps it for good). Each job's transition is the same as if it were completed alone;
  batching only saves round trips.

  KEYS[1] stream   KEYS[2] events   KEYS[3..n] job hashes
  ARGV[1] group    ARGV[2] now (ms)   ARGV[3] worker   ARGV[4] retention (ms)
  then per job, in the order of the job hashes: stream entry id, result (JSON, '' for none)

  Returns one number per job: 1 when completed, 0 when its entry was stale (the job had already
  moved on elsewhere); a stale entry is acknowledged all the same.
]]
local group, now, worker, retention = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local done = {}
local sids = {}
for i = 3, #KEYS do sids[#sids + 1] = ARGV[3 + 2 * (i - 2)] end
redis.call('XACK', KEYS[1], group, unpack(sids))
redis.call('XDEL', KEYS[1], unpack(sids))

for i = 3, #KEYS do
  local jobKey, sid, result = KEYS[i], ARGV[3 + 2 * (i - 2)], ARGV[4 + 2 * (i - 2)]
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'attempts', 'id', 'seq')
  if job[1] ~= 'processing' or job[2] ~= sid then
    done[#done + 1] = 0
  else
    local details = {'worker', worker}
    if result ~= '' then details = {'worker', worker, 'result', result} end
    local seq, line = nextEvent(KEYS[2], job[4], job[5], 'completed', job[3], now, details, {})
    redis.call('HSET', jobKey, 'status', 'completed', 'updatedAt', now, 'finishedAt', now, 'result', result, 'seq', seq, 'h' .. seq, line)
    moveCount(KEYS[2], 'processing', 'completed')
    countThroughput(KEYS[2], now, 'completed')
    redis.call('PEXPIRE', jobKey, retention)
    done[#done + 1] = 1
  end
end
return done
