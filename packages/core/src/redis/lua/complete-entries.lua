--[[
  completeEntries (included by completeJobs and takeJobs): records the successful attempts
  of a batch of jobs of one queue, acknowledges and deletes their stream entries, and lets each
  job's hash expire after the retention period (PostgreSQL keeps it for good). Each job's
  transition is the same as if it were completed alone; batching only saves round trips.

  streams: the queue's band streams (bandStreams)
  done: per job, {hash, band, stream entry id, attempt number the worker ran, result (JSON, '' for none)}

  Returns one number per job: 1 when completed, 0 when the attempt was no longer the job's current
  one (see currentAttempt; its entry is dropped unless another attempt runs from it).
]]
local function completeEntries(streams, group, now, worker, retention, finished)
  local done, droppedBands, dropped, freedGroupSlot = {}, {}, {}, false
  for i, entry in ipairs(finished) do
    local jobKey, band, sid, attempt, result = entry[1], entry[2], entry[3], entry[4], entry[5]
    local current, job = currentAttempt(jobKey, sid, attempt, worker)
    if current then
      local details = {'worker', worker}
      if result ~= '' then details = {'worker', worker, 'result', result} end
      local seq, line = nextEvent(job[5], job[6], 'completed', job[3], now, details, {})
      redis.call('HSET', jobKey, 'status', 'completed', 'updatedAt', now, 'finishedAt', now, 'result', result, 'seq', seq, 'h' .. seq, line)
      moveCount('processing', 'completed', job[7], job[8])
      if job[8] then freedGroupSlot = true end
      countThroughput('completed')
      redis.call('PEXPIRE', jobKey, retention)
      droppedBands[#droppedBands + 1], dropped[#dropped + 1] = band, sid
      done[i] = 1
    else
      if not entryIsLive(job, sid) then droppedBands[#droppedBands + 1], dropped[#dropped + 1] = band, sid end
      done[i] = 0
    end
  end
  dropEntries(streams, group, droppedBands, dropped)
  if freedGroupSlot then wakeIfWaiting() end
  return done
end

--[[
  completionsFrom: a script's completions as completeEntries takes them, KEYS[firstKey..] being the
  job hashes and ARGV[firstArg..] their quadruples of band, stream entry id, attempt and result.
]]
local function completionsFrom(firstKey, firstArg)
  local finished = {}
  for i = firstKey, #KEYS do
    local a = firstArg + 4 * (i - firstKey)
    finished[#finished + 1] = {KEYS[i], tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]}
  end
  return finished
end
