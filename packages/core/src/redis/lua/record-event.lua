--[[
  Included at the top of every script that moves a job between states. Such a script's body runs
  inside a function, and `flushTransitions` runs after it, whatever it returned (see scripts.ts):
  the events, counts and throughput a script gathers go to Redis once per call, not once per job.
]]
local transitionEvents, transitionCounts, transitionThroughput = {}, {}, {}

--[[
  queueKeys: the keys of the one queue a call moves jobs in, where flushTransitions writes: its
  events stream, its counts hash and this second's throughput bucket. Every transition script gets
  them as KEYS[1..3] (see `transition` in scripts.ts).
]]
local queueKeys = {events = KEYS[1], counts = KEYS[2], throughput = KEYS[3]}

--[[
  nextEvent: adds one transition to the call's batch for the queue's events stream, which the
  history recorder drains into PostgreSQL, and returns the job's new `seq` and the event's history line for the
  caller to write with the job's other fields, in its own HSET, as field `h<seq>` (read by
  GET /jobs/:id before PostgreSQL has the event): a transition and its record are one atomic step,
  and no event reads or rewrites the ones before it. `seq` numbers a job's events from 1;
  PostgreSQL's unique (job_id, seq) makes the recorder's writes idempotent.

  seqBefore: the job hash's current `seq` (false for a new job)
  details:  flat list {name, value, ...} for both (worker, error, reason, nextAt); a `result` goes
            to the events stream only, the job hash holding it already
  snapshot: flat list stored in the events stream only (the job's fields, on its first event)
]]
local function nextEvent(jobId, seqBefore, status, attempt, at, details, snapshot)
  local seq = (tonumber(seqBefore) or 0) + 1
  local event = {job = jobId, seq = seq, status = status, attempt = tonumber(attempt), at = tonumber(at)}
  -- Status, attempt and time need no escaping; only the details' values go through cjson.
  local line = {'{"s":"', status, '","a":', tostring(attempt), ',"t":', at}
  for i = 1, #details, 2 do
    event[details[i]] = details[i + 1]
    if details[i] ~= 'result' then line[#line + 1] = ',"' .. details[i] .. '":' .. cjson.encode(details[i + 1]) end
  end
  line[#line + 1] = '}'
  for i = 1, #snapshot, 2 do event[snapshot[i]] = snapshot[i + 1] end
  transitionEvents[#transitionEvents + 1] = event
  return seq, table.concat(line)
end

--[[
  recordEvent: nextEvent for scripts off the hot path, reading and writing `seq` and the line itself.
]]
local function recordEvent(jobKey, jobId, status, attempt, at, details, snapshot)
  local seq, line = nextEvent(jobId, redis.call('HGET', jobKey, 'seq'), status, attempt, at, details, snapshot)
  redis.call('HSET', jobKey, 'seq', seq, 'h' .. seq, line)
  return seq
end

--[[
  moveCount: keeps the queue's per-state job counts in step with a transition. `from` is false for a
  new job, `to` false for one that leaves Redis. A transition into or out of `processing` names the
  job's type, whose jobs processing are counted too (field `processing:<type>`), for concurrency caps,
  and its fair group if it has one (field `group:<group>`, gone at 0), for the group's cap.
]]
local function moveCount(from, to, jobType, group)
  if from then transitionCounts[from] = (transitionCounts[from] or 0) - 1 end
  if to then transitionCounts[to] = (transitionCounts[to] or 0) + 1 end
  if from == 'processing' or to == 'processing' then
    local change = (to == 'processing' and 1 or 0) - (from == 'processing' and 1 or 0)
    local field = 'processing:' .. jobType
    transitionCounts[field] = (transitionCounts[field] or 0) + change
    if group then
      field = 'group:' .. group
      transitionCounts[field] = (transitionCounts[field] or 0) + change
    end
  end
end

--[[
  countThroughput: adds one to this second's bucket (kept 65 s) under `field` (completed or failed),
  from which the last minute's rate is summed.
]]
local function countThroughput(field)
  transitionThroughput[field] = (transitionThroughput[field] or 0) + 1
end

--[[
  flushTransitions: writes what the call gathered: one events-stream entry (field `events`, a JSON
  array of the call's events in order), the count changes and the throughput bucket.
]]
local function flushTransitions()
  if #transitionEvents > 0 then redis.call('XADD', queueKeys.events, '*', 'events', cjson.encode(transitionEvents)) end
  for state, change in pairs(transitionCounts) do
    if change ~= 0 then
      local count = redis.call('HINCRBY', queueKeys.counts, state, change)
      -- A group's field goes with its last job, so that the hash holds only the groups running now.
      if count <= 0 and state:sub(1, 6) == 'group:' then
        redis.call('HDEL', queueKeys.counts, state)
      -- A type's count may start below zero for jobs that began before types were counted: it is not carried.
      elseif count < 0 and state:sub(1, 11) == 'processing:' then
        redis.call('HSET', queueKeys.counts, state, 0)
      end
    end
  end
  if next(transitionThroughput) then
    for field, added in pairs(transitionThroughput) do redis.call('HINCRBY', queueKeys.throughput, field, added) end
    redis.call('EXPIRE', queueKeys.throughput, 65)
  end
end

--[[
  announceIfEarliest: when a job just added to the delayed set is now the first due, tells the
  promoters (PUBLISH on the delayed set's own name), so one sleeping until a later job wakes early.
]]
local function announceIfEarliest(delayedKey, jobId, dueAt)
  if redis.call('ZRANGE', delayedKey, 0, 0)[1] == jobId then redis.call('PUBLISH', delayedKey, dueAt) end
end
