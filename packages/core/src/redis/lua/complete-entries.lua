--[[
  completeEntries (included by completeJobs and takeJobs): records the successful attempts
  of a batch of jobs of one queue, acknowledges and deletes their stream entries, and lets each
  job's hash expire after the retention period (PostgreSQL keeps it for good). Each job's
  transition is the same as if it were completed alone; batching only saves round trips.

  jobKeys, sids, attempts, results: per job, its hash, the stream entry id and attempt number the
  worker ran, and its result (JSON, '' for none)

  Returns one number per job: 1 when completed, 0 when the attempt was no longer the job's current
  one (see currentAttempt; its entry is dropped unless another attempt runs from it).
]]
local function completeEntries(streamKey, group, now, worker, retention, jobKeys, sids, attempts, results)
  local done, dropped = {}, {}
  for i, jobKey in ipairs(jobKeys) do
    local sid, result = sids[i], results[i]
    local current, job = currentAttempt(jobKey, sid, attempts[i], worker)
    if current then
      local details = {'worker', worker}
      if result ~= '' then details = {'worker', worker, 'result', result} end
      local seq, line = nextEvent(job[5], job[6], 'completed', job[3], now, details, {})
      redis.call('HSET', jobKey, 'status', 'completed', 'updatedAt', now, 'finishedAt', now, 'result', result, 'seq', seq, 'h' .. seq, line)
      moveCount('processing', 'completed')
      countThroughput('completed')
      redis.call('PEXPIRE', jobKey, retention)
      dropped[#dropped + 1] = sid
      done[i] = 1
    else
      if not entryIsLive(job, sid) then dropped[#dropped + 1] = sid end
      done[i] = 0
    end
  end
  dropEntry(streamKey, group, dropped)
  return done
end

--[[
  completionsFrom: splits a script's completion keys and arguments, KEYS[firstKey..] being the job
  hashes and ARGV[firstArg..] their triples of stream entry id, attempt and result, into
  completeEntries' lists.
]]
local function completionsFrom(firstKey, firstArg)
  local jobKeys, sids, attempts, results = {}, {}, {}, {}
  for i = firstKey, #KEYS do
    local a = firstArg + 3 * (i - firstKey)
    jobKeys[#jobKeys + 1] = KEYS[i]
    sids[#sids + 1] = ARGV[a]
    attempts[#attempts + 1] = ARGV[a + 1]
    results[#results + 1] = ARGV[a + 2]
  end
  return jobKeys, sids, attempts, results
end
