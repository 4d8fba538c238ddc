--[[
  takeJobs: a worker's one call per batch while its queue has work. It completes the jobs the worker
  finished since its last call (see completeEntries), starts the entries that call left to it, then
  reads up to `count` new entries without blocking and starts those it can (see startEntry).

  The queue's jobs wait in one stream per priority band. The read visits the bands in the order the
  worker gives (highest first under the strict policy; see PriorityPolicy), each for what the bands
  before it did not fill, so a lower band's entry is read only when the higher bands before it had
  nothing new.

  A script touches only the keys it is given, and a job's hash cannot be named before its entry is
  read. So each call also looks at the entries that follow those it read in each band (XRANGE, which
  delivers nothing) and returns their jobs' ids: the worker names those jobs' hashes in its next
  call, which starts every entry it reads whose job it named. An entry whose job was not named
  (another worker read the ones looked at first, or more came than were looked at) is left to the
  next call, which names it; the worker holds a slot for it meanwhile. A paused queue's entries are
  neither started (each is handed back, see handBackEntry) nor read. A queue with limits (see
  flow-limits.lua) reads no more entries than may start now.

  KEYS[1..3] events, counts, throughput   KEYS[4..8] band streams   KEYS[9] paused flag   KEYS[10] delayed
  KEYS[11..10+r] the rate windows the flow limits name
  KEYS[11+r..] the hashes of the jobs of the entries left to start (s), then of the jobs looked at
  (l), then of the jobs to complete
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] count   ARGV[5] retention (ms)
  ARGV[6] types served here   ARGV[7] types served only elsewhere   ARGV[8] s   ARGV[9] l
  ARGV[10] how many entries to look at   ARGV[11] the bands in the order to read them, as digits ("01234")
  ARGV[12] the flow limits (see flow-limits.lua)   ARGV[13] r
  ARGV[14..13+2s] per entry left to start: its band, its id
  ARGV[14+2s..13+2s+l] the job ids looked at
  then per job to complete: band, stream entry id, attempt, result (JSON, '' for none)

  Returns {completed, started, left, next, paused, limitedUntil}: one number per job to complete, as
  completeEntries; one item per entry started, as startEntry ({entryId} alone for an entry handed
  back), those left to start first, then those read; a flat list {band, entryId, jobId, ...} of the
  entries read and left to the next call; the job ids of the entries looked at; 1 when the queue
  is paused (nothing was read), else 0; and, when the queue's limits let nothing more start, -1 (a
  cap: until a job ends) or in how long its rate lets the next start (ms), else 0.
]]
local group, consumer, now, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local starting, named, lookAhead = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local hashes, args = 11 + tonumber(ARGV[13]), 14
local streams = bandStreams(4)
setRouting(ARGV[6], ARGV[7], KEYS[10])
setFlow(ARGV[12])
local completed = completeEntries(streams, group, now, consumer, ARGV[5], completionsFrom(hashes + starting + named, args + 2 * starting + named))
local paused = redis.call('EXISTS', KEYS[9]) == 1
local started = {}
for i = 1, starting do
  local a = args + 2 * (i - 1)
  local jobKey, stream, sid = KEYS[hashes + i - 1], streams[tonumber(ARGV[a]) + 1], ARGV[a + 1]
  if paused then
    handBackEntry(stream, group, consumer, now, jobKey, sid)
    started[i] = {sid}
  else
    started[i] = startEntry(stream, group, consumer, now, jobKey, sid, false)
  end
end
if paused then return {completed, started, {}, {}, 1, 0} end

local namedKeys = {}
for i = 1, named do namedKeys[ARGV[args + 2 * starting + i - 1]] = KEYS[hashes + starting + i - 1] end
local left, nextJobs = {}, {}
local allowance, again = queueAllowance()
local wanted = math.min(count, allowance)
local limited = 0
if count > 0 and wanted <= 0 then limited = again > 0 and again or -1 end
-- COUNT 0 would read every new entry: a worker with no free slot reads none.
for digit in string.gmatch(ARGV[11], '%d') do
  if wanted <= 0 then break end
  local band = tonumber(digit)
  local stream = streams[band + 1]
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', wanted, 'STREAMS', stream, '>')
  if read then
    local entries = read[1][2]
    wanted = wanted - #entries
    for _, entry in ipairs(entries) do
      local jobKey = namedKeys[entry[2][2]]
      if jobKey then
        started[#started + 1] = startEntry(stream, group, consumer, now, jobKey, entry[1], true)
      else
        left[#left + 1] = band
        left[#left + 1] = entry[1]
        left[#left + 1] = entry[2][2]
      end
    end
    if #nextJobs < lookAhead then
      for _, entry in ipairs(redis.call('XRANGE', stream, '(' .. entries[#entries][1], '+', 'COUNT', lookAhead - #nextJobs)) do
        nextJobs[#nextJobs + 1] = entry[2][2]
      end
    end
  end
end
return {completed, started, left, nextJobs, 0, limited}
