--[[
  completeEntries (included by completeJobs and readAndStartJobs): records the successful attempts
  of a batch of jobs of one queue, acknowledges and deletes their stream entries, and lets each
  job's hash expire after the retention period (PostgreSQL keeps it for good). Each job's
  transition is the same as if it were completed alone; batching only saves round trips.

  jobKeys, sids, results: per job, its hash, its stream entry id and its result (JSON, '' for none)

  Returns one number per job: 1 when completed, 0 when its entry was stale (the job had already
  moved on elsewhere); a stale entry is acknowledged all the same.
]]
local function completeEntries(streamKey, eventsKey, group, now, worker, retention, jobKeys, sids, results)
  local done = {}
  if #sids == 0 then return done end
  redis.call('XACK', streamKey, group, unpack(sids))
  redis.call('XDEL', streamKey, unpack(sids))
  for i, jobKey in ipairs(jobKeys) do
    local sid, result = sids[i], results[i]
    local job = redis.call('HMGET', jobKey, 'status', 'sid', 'attempts', 'id', 'seq')
    if job[1] ~= 'processing' or job[2] ~= sid then
      done[i] = 0
    else
      local details = {'worker', worker}
      if result ~= '' then details = {'worker', worker, 'result', result} end
      local seq, line = nextEvent(eventsKey, job[4], job[5], 'completed', job[3], now, details, {})
      redis.call('HSET', jobKey, 'status', 'completed', 'updatedAt', now, 'finishedAt', now, 'result', result, 'seq', seq, 'h' .. seq, line)
      moveCount(eventsKey, 'processing', 'completed')
      countThroughput(eventsKey, now, 'completed')
      redis.call('PEXPIRE', jobKey, retention)
      done[i] = 1
    end
  end
  return done
end

--[[
  completionsFrom: splits a script's completion keys and arguments, KEYS[firstKey..] being the job
  hashes and ARGV[firstArg..] their pairs of stream entry id and result, into completeEntries' lists.
]]
local function completionsFrom(firstKey, firstArg)
  local jobKeys, sids, results = {}, {}, {}
  for i = firstKey, #KEYS do
    local a = firstArg + 2 * (i - firstKey)
    jobKeys[#jobKeys + 1] = KEYS[i]
    sids[#sids + 1] = ARGV[a]
    results[#results + 1] = ARGV[a + 1]
  end
  return jobKeys, sids, results
end
