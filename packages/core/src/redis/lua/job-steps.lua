--[[
  The steps that several transitions share, each written once. Included after record-event.lua in
  every script that moves jobs.

  attemptFields: the job hash fields currentAttempt reads, in the order of its `job` table.
]]
local attemptFields = {'status', 'sid', 'attempts', 'worker', 'id', 'seq'}

--[[
  currentAttempt: whether (sid, attempt, worker) names the job's running attempt, and the job's
  fields {status, sid, attempts, worker, id, seq}. A worker that stalled past the visibility timeout
  and was taken over still holds the same stream entry, so the entry alone cannot tell its attempt
  from the live one: the attempt number and the worker do.
]]
local function currentAttempt(jobKey, sid, attempt, worker)
  local job = redis.call('HMGET', jobKey, unpack(attemptFields))
  return job[1] == 'processing' and job[2] == sid and job[3] == tostring(attempt) and job[4] == worker, job
end

--[[
  entryIsLive: whether the job still runs from (or waits in) stream entry `sid`. A refused transition
  leaves such an entry alone, for the attempt that owns it now; any other entry is an orphan.
]]
local function entryIsLive(job, sid)
  return job[2] == sid and (job[1] == 'processing' or job[1] == 'pending')
end

--[[
  dropEntry: acknowledges and deletes stream entries that no attempt runs from any more.
]]
local function dropEntry(streamKey, group, sids)
  if #sids == 0 then return end
  redis.call('XACK', streamKey, group, unpack(sids))
  redis.call('XDEL', streamKey, unpack(sids))
end

--[[
  typeSet: a list of job type names as the worker passes it, ",a,b,", as a set, so that each lookup
  costs no string building.
]]
local function typeSet(list)
  local set = {}
  for name in string.gmatch(list, '[^,]+') do set[name] = true end
  return set
end

--[[
  redisTimeMs: the time on Redis's clock, in ms. Waits that several workers judge (how long a job has
  waited for a worker of its type) are measured on it, which they all share whatever their own clocks say.
]]
local function redisTimeMs()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

--[[
  unservedSet: the ZSET of a queue's jobs of `jobType` waiting for a worker of their type, scored by
  when they began to wait (redisTimeMs); `unservedKey`, the queue's unserved hash, counts them per type.
]]
local function unservedSet(unservedKey, jobType)
  return unservedKey .. ':' .. jobType
end

--[[
  countUnserved: moves a type's count of waiting jobs by `by`; the field goes with the last job.
]]
local function countUnserved(unservedKey, jobType, by)
  if redis.call('HINCRBY', unservedKey, jobType, by) <= 0 then redis.call('HDEL', unservedKey, jobType) end
end

--[[
  requeue: puts a job back in the stream under a new entry, pending, and records the event.
  `fields` are further job hash fields to set (a flat list), `details` the event's.
]]
local function requeue(streamKey, eventsKey, jobKey, jobId, from, attempts, now, fields, details)
  local sid = redis.call('XADD', streamKey, '*', 'id', jobId)
  redis.call('HSET', jobKey, 'status', 'pending', 'sid', sid, 'updatedAt', now, unpack(fields))
  moveCount(eventsKey, from, 'pending')
  recordEvent(eventsKey, jobKey, jobId, 'pending', attempts, now, details, {})
  return sid
end

--[[
  trimDeadLetters: keeps the dead-letter stream within its bounds: at most `maxLength` entries, none
  older than `retention` ms. A trimmed entry's job hash goes with it (PostgreSQL keeps the job), so
  the bound holds for memory, not only for the stream. At most `most` entries go per call, which
  keeps every call short; each death and each maintenance pass trims again.

  Returns how many entries were trimmed.
]]
local function trimDeadLetters(dlqKey, eventsKey, jobPrefix, now, retention, maxLength, most)
  local over = redis.call('XLEN', dlqKey) - maxLength
  local byCount = {}
  if over > 0 then byCount = redis.call('XRANGE', dlqKey, '-', '+', 'COUNT', math.min(over, most)) end
  local byAge = redis.call('XRANGE', dlqKey, '-', tostring(tonumber(now) - tonumber(retention)), 'COUNT', most)
  local entries = byAge
  if #byCount > #byAge then entries = byCount end
  if #entries == 0 then return 0 end
  local ids = {}
  for i, entry in ipairs(entries) do
    ids[i] = entry[1]
    local jobKey = jobPrefix .. entry[2][2]
    local job = redis.call('HMGET', jobKey, 'status', 'dlqId')
    if job[1] == 'dead' and job[2] == entry[1] then
      redis.call('DEL', jobKey)
      moveCount(eventsKey, 'dead', false)
    end
  end
  redis.call('XDEL', dlqKey, unpack(ids))
  return #ids
end

--[[
  moveToDead: dead-letters a job (reason exhausted, permanent or poison) and records the event; the
  dead-letter stream is trimmed to its bounds in the same step. `dead` is {dlqKey, jobPrefix,
  retention, maxLength}.
]]
local function moveToDead(dead, eventsKey, jobKey, jobId, from, attempts, reason, err, now)
  local dlqId = redis.call('XADD', dead[1], '*', 'id', jobId, 'reason', reason, 'attempts', attempts, 'error', err, 'at', now)
  redis.call('HSET', jobKey, 'status', 'dead', 'sid', '', 'lastError', err, 'updatedAt', now, 'finishedAt', now,
    'deadReason', reason, 'dlqId', dlqId)
  moveCount(eventsKey, from, 'dead')
  recordEvent(eventsKey, jobKey, jobId, 'dead', attempts, now, {'reason', reason, 'error', err}, {})
  trimDeadLetters(dead[1], eventsKey, dead[2], now, dead[3], dead[4], 100)
end
