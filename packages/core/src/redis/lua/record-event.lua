--[[
  Included at the top of every script that moves a job between states.

  recordEvent

  Appends one transition to the job's own history (hash field `history`, one JSON line per event, read
  by GET /jobs/:id before PostgreSQL has it) and to the queue's events stream, which the history
  recorder drains into PostgreSQL. Both writes happen inside the caller's script, so a transition and
  its record are one atomic step. `seq` numbers a job's events from 1; PostgreSQL's unique
  (job_id, seq) makes the recorder's writes idempotent.

  details:  flat list {name, value, ...} stored in both places (worker, error, reason, nextAt, result)
  snapshot: flat list stored in the events stream only (the job's fields, on its first event)
]]
local function recordEvent(eventsKey, jobKey, jobId, status, attempt, at, details, snapshot)
  local seq = redis.call('HINCRBY', jobKey, 'seq', 1)
  local entry = {'job', jobId, 'seq', tostring(seq), 'status', status, 'attempt', tostring(attempt), 'at', at}
  local line = {s = status, a = tostring(attempt), t = at}
  for i = 1, #details, 2 do
    entry[#entry + 1] = details[i]
    entry[#entry + 1] = details[i + 1]
    line[details[i]] = details[i + 1]
  end
  for i = 1, #snapshot do entry[#entry + 1] = snapshot[i] end
  redis.call('XADD', eventsKey, '*', unpack(entry))
  local history = redis.call('HGET', jobKey, 'history') or ''
  redis.call('HSET', jobKey, 'history', history .. cjson.encode(line) .. '\n')
  return seq
end

--[[
  moveCount: keeps the queue's per-state job counts (hash `…{queue}:counts`, next to the events
  stream, so in the same slot) in step with a transition. `from` is false for a new job.
]]
local function moveCount(eventsKey, from, to)
  local counts = string.sub(eventsKey, 1, -7) .. 'counts'
  if from then redis.call('HINCRBY', counts, from, -1) end
  redis.call('HINCRBY', counts, to, 1)
end

--[[
  countThroughput: adds one to this second's bucket (hash `…{queue}:throughput:<second>`, kept 65 s)
  under `field` (completed or failed), from which the last minute's rate is summed.
]]
local function countThroughput(eventsKey, now, field)
  local bucket = string.sub(eventsKey, 1, -7) .. 'throughput:' .. math.floor(tonumber(now) / 1000)
  redis.call('HINCRBY', bucket, field, 1)
  redis.call('EXPIRE', bucket, 65)
end

--[[
  announceIfEarliest: when a job just added to the delayed set is now the first due, tells the
  promoters (PUBLISH on the delayed set's own name), so one sleeping until a later job wakes early.
]]
local function announceIfEarliest(delayedKey, jobId, dueAt)
  if redis.call('ZRANGE', delayedKey, 0, 0)[1] == jobId then redis.call('PUBLISH', delayedKey, dueAt) end
end
