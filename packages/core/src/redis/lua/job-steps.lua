--[[
  The steps that several transitions share, each written once. Included after record-event.lua in
  every script that moves jobs.

  attemptFields: the job hash fields currentAttempt reads, in the order of its `job` table.
]]
local attemptFields = {'status', 'sid', 'attempts', 'worker', 'id', 'seq', 'type'}

--[[
  currentAttempt: whether (sid, attempt, worker) names the job's running attempt, and the job's
  fields {status, sid, attempts, worker, id, seq, type}. A worker that stalled past the visibility timeout
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
  Priority bands: a queue's jobs wait in one stream per band (PRIORITY_BANDS in priority.ts, whose
  count and normal band these must match). A script that may touch any band's stream gets them all,
  highest first, as BAND_COUNT keys from KEYS[first] (bandStreams); a job's stream is that of the band
  in its hash (streamOf), the normal band's for a job added before bands.
]]
local BAND_COUNT, NORMAL_BAND = 5, 2

local function bandStreams(first)
  local streams = {}
  for band = 1, BAND_COUNT do streams[band] = KEYS[first + band - 1] end
  return streams
end

local function streamOf(streams, band)
  return streams[(tonumber(band) or NORMAL_BAND) + 1]
end

--[[
  dropEntries: dropEntry for entries of several bands: `bands` and `sids` pair up.
]]
local function dropEntries(streams, group, bands, sids)
  local byBand = {}
  for i, sid in ipairs(sids) do
    local band = bands[i]
    byBand[band] = byBand[band] or {}
    table.insert(byBand[band], sid)
  end
  for band, list in pairs(byBand) do dropEntry(streams[band + 1], group, list) end
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
  countUnserved: moves a type's count of waiting jobs by `by`; the field goes with the last job.
]]
local function countUnserved(unservedKey, jobType, by)
  if redis.call('HINCRBY', unservedKey, jobType, by) <= 0 then redis.call('HDEL', unservedKey, jobType) end
end

--[[
  requeue: puts a job back in the stream under a new entry, pending, and records the event.
  `fields` are further job hash fields to set (a flat list), `details` the event's.
]]
local function requeue(streamKey, jobKey, jobId, from, attempts, now, fields, details)
  local sid = redis.call('XADD', streamKey, '*', 'id', jobId)
  redis.call('HSET', jobKey, 'status', 'pending', 'sid', sid, 'updatedAt', now, unpack(fields))
  moveCount(from, 'pending', from == 'processing' and redis.call('HGET', jobKey, 'type'))
  recordEvent(jobKey, jobId, 'pending', attempts, now, details, {})
  return sid
end

--[[
  moveToDead: dead-letters a job (reason exhausted, permanent, poison or no-handler) and records the
  event. The dead-letter stream is then over its bounds by at most this entry: the caller trims it
  (trimDeadLetters) in a step of its own, as the job hashes trimmed with it are not known beforehand.
]]
local function moveToDead(dlqKey, jobKey, jobId, from, attempts, reason, err, now)
  local dlqId = redis.call('XADD', dlqKey, '*', 'id', jobId, 'reason', reason, 'attempts', attempts, 'error', err, 'at', now)
  redis.call('HSET', jobKey, 'status', 'dead', 'sid', '', 'lastError', err, 'updatedAt', now, 'finishedAt', now,
    'deadReason', reason, 'dlqId', dlqId)
  moveCount(from, 'dead', from == 'processing' and redis.call('HGET', jobKey, 'type'))
  recordEvent(jobKey, jobId, 'dead', attempts, now, {'reason', reason, 'error', err}, {})
end
