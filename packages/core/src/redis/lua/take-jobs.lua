--[[
  takeJobs: a worker's one call per batch while its queue has work. It completes the jobs the worker
  finished since its last call (see completeEntries), starts the entries that call left to it, then
  reads up to `count` new entries without blocking and starts those it can (see startEntry).

  A script touches only the keys it is given, and a job's hash cannot be named before its entry is
  read. So each call also looks at the entries that follow those it read (XRANGE, which delivers
  nothing) and returns their jobs' ids: the worker names those jobs' hashes in its next call, which
  starts every entry it reads whose job it named. An entry whose job was not named (another worker
  read the ones looked at first, or more came than were looked at) is left to the next call, which
  names it; the worker holds a slot for it meanwhile. A paused queue's entries are neither started
  (each is handed back, see handBackEntry) nor read.

  KEYS[1..3] events, counts, throughput   KEYS[4] stream   KEYS[5] paused flag   KEYS[6] delayed
  KEYS[7..] the hashes of the jobs of the entries left to start (s), then of the jobs looked at
  (l), then of the jobs to complete
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] count   ARGV[5] retention (ms)
  ARGV[6] types served here   ARGV[7] types served only elsewhere   ARGV[8] s   ARGV[9] l
  ARGV[10] how many entries to look at   ARGV[11..10+s] the stream entry ids left to start
  ARGV[11+s..10+s+l] the job ids looked at
  then per job to complete: stream entry id, attempt, result (JSON, '' for none)

  Returns {completed, started, left, next, paused}: one number per job to complete, as
  completeEntries; one item per entry started, as startEntry ({entryId} alone for an entry handed
  back), those left to start first, then those read; a flat list {entryId, jobId, ...} of the entries
  read and left to the next call; the job ids of the entries looked at; and 1 when the queue is
  paused (nothing was read), else 0.
]]
local group, consumer, now, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local starting, named = tonumber(ARGV[8]), tonumber(ARGV[9])
setRouting(ARGV[6], ARGV[7], KEYS[6])
local jobKeys, sids, attempts, results = completionsFrom(7 + starting + named, 11 + starting + named)
local completed = completeEntries(KEYS[4], group, now, consumer, ARGV[5], jobKeys, sids, attempts, results)
local paused = redis.call('EXISTS', KEYS[5]) == 1
local started = {}
for i = 1, starting do
  local jobKey, sid = KEYS[6 + i], ARGV[10 + i]
  if paused then
    handBackEntry(KEYS[4], group, consumer, now, jobKey, sid)
    started[i] = {sid}
  else
    started[i] = startEntry(KEYS[4], group, consumer, now, jobKey, sid, false)
  end
end
if paused then return {completed, started, {}, {}, 1} end

local namedKeys = {}
for i = 1, named do namedKeys[ARGV[10 + starting + i]] = KEYS[6 + starting + i] end
local left, nextJobs = {}, {}
-- COUNT 0 would read every new entry: a worker with no free slot reads none.
local read = count > 0 and redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', KEYS[4], '>')
if read then
  local entries = read[1][2]
  for _, entry in ipairs(entries) do
    local jobKey = namedKeys[entry[2][2]]
    if jobKey then
      started[#started + 1] = startEntry(KEYS[4], group, consumer, now, jobKey, entry[1], true)
    else
      left[#left + 1] = entry[1]
      left[#left + 1] = entry[2][2]
    end
  end
  for _, entry in ipairs(redis.call('XRANGE', KEYS[4], '(' .. entries[#entries][1], '+', 'COUNT', ARGV[10])) do
    nextJobs[#nextJobs + 1] = entry[2][2]
  end
end
return {completed, started, left, nextJobs, 0}
