--[[
  The steps that several transitions share, each written once. Included after record-event.lua in
  every script that moves jobs.

  attemptFields: the job hash fields currentAttempt reads, in the order of its `job` table.
]]
local attemptFields = {'status', 'sid', 'attempts', 'worker', 'id', 'seq', 'type', 'group'}

--[[
  currentAttempt: whether (sid, attempt, worker) names the job's running attempt, and the job's
  fields {status, sid, attempts, worker, id, seq, type, group}. A worker that stalled past the visibility timeout
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
  Priority bands and fair groups: a queue's jobs wait in one stream per band (PRIORITY_BANDS in
  priority.ts, whose count and normal band these must match), and a job with a fair group waits its
  turn in the fair queue instead (see queueGrouped), then runs from the grouped stream. A script that
  may move jobs between them gets them all as BAND_COUNT + 3 keys from KEYS[first] (setLanes): the band
  streams highest first, the grouped stream, the fair queue and its tags. A job's stream is that of
  the band in its hash (streamOf), the normal band's for a job added before bands; a started job's
  `band` indexes the streams, GROUPED_LANE being the grouped stream.
]]
local BAND_COUNT, NORMAL_BAND, GROUPED_LANE = 5, 2, 5
-- A fair-queue score is band * TAG_SPAN + tag: the band orders first, as it does for streams.
local TAG_SPAN = 1e12
local fairKeys = {}

local function setFair(queueKey, tagsKey, groupedStream)
  fairKeys = {queue = queueKey, tags = tagsKey, stream = groupedStream}
end

local function setLanes(first)
  local streams = {}
  for lane = 1, BAND_COUNT + 1 do streams[lane] = KEYS[first + lane - 1] end
  setFair(KEYS[first + BAND_COUNT + 1], KEYS[first + BAND_COUNT + 2], streams[GROUPED_LANE + 1])
  return streams
end

local function streamOf(streams, band)
  return streams[(tonumber(band) or NORMAL_BAND) + 1]
end

--[[
  wakeReaders: adds a marker entry (its job id empty) to the grouped stream, which the workers'
  blocking reads cover, so that an idle worker looks at the fair queue now rather than when its read
  times out. One marker at a time: the `wake` tag stays set until a reader drops it (see startEntry).
]]
local function wakeReaders()
  if redis.call('HSETNX', fairKeys.tags, 'wake', '1') == 1 then
    redis.call('XADD', fairKeys.stream, '*', 'id', '')
  end
end

--[[
  wakeIfWaiting: wakeReaders when grouped jobs wait: a grouped job just ended, and its group may be
  below its cap again.
]]
local function wakeIfWaiting()
  if redis.call('EXISTS', fairKeys.queue) == 1 then wakeReaders() end
end

--[[
  queueGrouped: a pending job of a fair group waits its turn in the fair queue (start-time fair
  queueing): its tag is one past the later of the virtual time (the tag of the last job started) and
  its group's last tag, so each group's jobs keep their order, and a group that comes to a long line
  goes next to the others rather than behind all of them. The member carries what choosing it needs.
  When it began to wait (`t:<id>`, Redis's clock) is kept beside, as its id tells only when it was
  added, which for a retry or a scheduled job is long before it could run (see oldest-waiting.lua).
]]
local function queueGrouped(jobId, group, jobType, band)
  local tags = redis.call('HMGET', fairKeys.tags, '*', 'g:' .. group)
  local tag = math.max(tonumber(tags[1]) or 0, tonumber(tags[2]) or 0) + 1
  redis.call('HSET', fairKeys.tags, 'g:' .. group, tag)
  if redis.call('ZADD', fairKeys.queue, (tonumber(band) or NORMAL_BAND) * TAG_SPAN + tag, group .. '|' .. jobType .. '|' .. jobId) == 1 then
    redis.call('HINCRBY', fairKeys.tags, 'n:' .. group, 1)
    local time = redis.call('TIME')
    redis.call('HSET', fairKeys.tags, 't:' .. jobId, tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
  end
  wakeReaders()
end

--[[
  leaveFair: a job leaves the fair queue (it starts, or is cancelled): its tag becomes the virtual
  time when it starts, and its group's last tag and count of waiting jobs (`n:<group>`) go with the
  group's last waiting job, and its wait's start with it, so the tags hash holds the waiting groups
  and jobs only. The last tag stays while any of the group's jobs wait, whichever left: a job added
  next goes behind them. Returns false when the member was not in the fair queue.
]]
local function leaveFair(member, group, started)
  local score = redis.call('ZSCORE', fairKeys.queue, member)
  if not score then return false end
  redis.call('ZREM', fairKeys.queue, member)
  redis.call('HDEL', fairKeys.tags, 't:' .. string.match(member, '([^|]*)$'))
  local tag = tonumber(score) % TAG_SPAN
  if started and tag > (tonumber(redis.call('HGET', fairKeys.tags, '*')) or 0) then redis.call('HSET', fairKeys.tags, '*', tag) end
  if redis.call('HINCRBY', fairKeys.tags, 'n:' .. group, -1) <= 0 then redis.call('HDEL', fairKeys.tags, 'n:' .. group, 'g:' .. group) end
  return score
end

--[[
  placePending: where a pending job waits to be read: a new entry at the end of its stream, or, for a
  job of a fair group, its turn in the fair queue (no entry: `sid` empty). Sets `sid`; returns it.
]]
local function placePending(streamKey, jobKey, jobId)
  local job = redis.call('HMGET', jobKey, 'group', 'type', 'band')
  local sid = ''
  if job[1] then
    queueGrouped(jobId, job[1], job[2], job[3])
  else
    sid = redis.call('XADD', streamKey, '*', 'id', jobId)
  end
  redis.call('HSET', jobKey, 'sid', sid)
  return sid
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
  requeue: puts a job back in the stream under a new entry (or in its group's turn, see placePending),
  pending, and records the event.
  `fields` are further job hash fields to set (a flat list), `details` the event's.
]]
local function requeue(streamKey, jobKey, jobId, from, attempts, now, fields, details)
  local sid = placePending(streamKey, jobKey, jobId)
  redis.call('HSET', jobKey, 'status', 'pending', 'updatedAt', now, unpack(fields))
  local job = from == 'processing' and redis.call('HMGET', jobKey, 'type', 'group') or {}
  moveCount(from, 'pending', job[1], job[2])
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
  local job = from == 'processing' and redis.call('HMGET', jobKey, 'type', 'group') or {}
  moveCount(from, 'dead', job[1], job[2])
  recordEvent(jobKey, jobId, 'dead', attempts, now, {'reason', reason, 'error', err}, {})
end
