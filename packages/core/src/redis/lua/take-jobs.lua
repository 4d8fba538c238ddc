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

  Jobs of fair groups wait in the fair queue, not in a stream (see queueGrouped). Each call looks at
  its head, as far as a later call is likely to start, and returns the members of the jobs that may
  start: of types served here, of groups below the queue's groupConcurrency; and those of types no
  live worker serves, which that call takes out of the fair queue for the worker to park (see
  parkUnserved). The worker names their hashes in its next call, which starts
  those still waiting and still below their group's cap (startFairTurn), within each band before
  and after the band's stream, so that grouped and other jobs of a band share the slots.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] paused flag   KEYS[13] delayed
  KEYS[14..13+r] the rate windows the flow limits name
  KEYS[14+r..] the hashes of the jobs of the entries left to start (s), then of the jobs looked at
  (l), then of the jobs to complete
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] count   ARGV[5] retention (ms)
  ARGV[6] types served here   ARGV[7] types served only elsewhere   ARGV[8] s   ARGV[9] l
  ARGV[10] how many entries to look at   ARGV[11] the bands in the order to read them, as digits ("01234")
  ARGV[12] the flow limits (see flow-limits.lua)   ARGV[13] r   ARGV[14] f
  ARGV[15..14+2s] per entry left to start: its band, its id
  ARGV[15+2s..14+2s+l] the job ids looked at
  ARGV[15+2s+l..14+2s+l+f] the fair-queue members named (their hashes follow those looked at)
  then per job to complete: band, stream entry id, attempt, result (JSON, '' for none)

  Returns {completed, started, left, next, paused, limitedUntil, fair}: one number per job to complete, as
  completeEntries; one item per entry started, as startEntry ({entryId} alone for an entry handed
  back), those left to start first, then those read; a flat list {band, entryId, jobId, ...} of the
  entries read and left to the next call; the job ids of the entries looked at; 1 when the queue
  is paused (nothing was read), else 0; and, when the queue's limits let nothing more start, -1 (a
  cap: until a job ends) or in how long its rate lets the next start (ms), else 0; and the members
  of the fair queue to name next.
]]
local group, consumer, now, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local starting, named, lookAhead = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local fairNamed = tonumber(ARGV[14])
local hashes, args = 14 + tonumber(ARGV[13]), 15
local streams = setLanes(4)
setRouting(ARGV[6], ARGV[7], KEYS[13])
setFlow(ARGV[12])
local completed = completeEntries(streams, group, now, consumer, ARGV[5],
  completionsFrom(hashes + starting + named + fairNamed, args + 2 * starting + named + fairNamed))
local paused = redis.call('EXISTS', KEYS[12]) == 1
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
if paused then return {completed, started, {}, {}, 1, 0, {}} end

local namedKeys = {}
for i = 1, named do namedKeys[ARGV[args + 2 * starting + i - 1]] = KEYS[hashes + starting + i - 1] end
local left, nextJobs = {}, {}
local allowance, again = queueAllowance()
local wanted = math.min(count, allowance)
local limited = 0
if count > 0 and wanted <= 0 then limited = again > 0 and again or -1 end

local groupCap = flow and flow.g or 0
local overrunsByGroup = false

--[[
  groupRunning: the jobs of a group its cap counts: those processing, with this call's changes, and
  the handlers of its jobs still running after their attempts ended, each while its worker keeps its
  lease (see failJob); read once per call, the lapsed ones dropped.
]]
local function groupRunning(fairGroup)
  if not overrunsByGroup then
    overrunsByGroup = {}
    local key = KEYS[flow.go]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', flowNow())
    for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
      local owner = string.match(member, '^([^|]*)|')
      overrunsByGroup[owner] = (overrunsByGroup[owner] or 0) + 1
    end
  end
  return processingNow('group:' .. fairGroup) + (overrunsByGroup[fairGroup] or 0)
end
local markersRead = false
local turns = {}
for i = 1, fairNamed do
  local member = ARGV[args + 2 * starting + named + i - 1]
  local fairGroup, jobType, jobId = string.match(member, '^([^|]*)|([^|]*)|(.*)$')
  turns[i] = {member = member, group = fairGroup, type = jobType, id = jobId, key = KEYS[hashes + starting + named + i - 1]}
end

--[[
  readMarkers: acknowledges and deletes the grouped stream's undelivered entries, which are wake
  markers only (every other entry there is read in the step that adds it), so that the read after
  each XADD in startFairTurn delivers that entry.
]]
local function readMarkers()
  if markersRead then return end
  markersRead = true
  for _ = 1, 100 do
    local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 100, 'STREAMS', fairKeys.stream, '>')
    if not read then break end
    local ids = {}
    for _, entry in ipairs(read[1][2]) do ids[#ids + 1] = entry[1] end
    dropEntry(fairKeys.stream, group, ids)
    redis.call('HDEL', fairKeys.tags, 'wake')
  end
end

--[[
  startFairTurn: starts a named job still waiting in the fair queue (startFairTurns looked), if its
  group is below its cap: it gets an entry of the grouped stream, read at once so that the entry is this worker's
  (and the reclaimer's, should the worker die), and starts from it as from any entry. One its type's
  limits hold back, or that no live worker serves, leaves the fair queue for the caller to park with
  its entry (parkLimited, parkUnserved), as an ungrouped one would: left in the fair queue, it would
  stand in front of the jobs that may start. Let go, it comes back to its group's turn.
]]
local function startFairTurn(turn)
  if groupCap > 0 and groupRunning(turn.group) >= groupCap then return false end
  readMarkers()
  local sid = redis.call('XADD', fairKeys.stream, '*', 'id', turn.id)
  -- The entry just added is the only one undelivered, unless a marker came in this call: it is read
  -- (and dropped) until this entry is, so the entry is this consumer's and no other worker's.
  for _ = 1, 100 do
    local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', fairKeys.stream, '>')
    local entryId = read and read[1][2][1] and read[1][2][1][1]
    if entryId == sid or not entryId then break end
    dropEntry(fairKeys.stream, group, {entryId})
    redis.call('HDEL', fairKeys.tags, 'wake')
  end
  redis.call('HSET', turn.key, 'sid', sid)
  local item = startEntry(fairKeys.stream, group, consumer, now, turn.key, sid, true, true)
  if #item >= 8 then
    leaveFair(turn.member, turn.group, true)
    started[#started + 1] = item
    return true
  end
  if item[2] == 1 or item[2] == 3 then
    leaveFair(turn.member, turn.group, false)
    started[#started + 1] = item
  elseif item[2] == 0 then
    -- Handed on to a worker of its type through the delayed set, it waits for its turn again after.
    leaveFair(turn.member, turn.group, false)
  elseif redis.call('HGET', turn.key, 'status') ~= 'pending' then
    -- Its job is gone or no longer waits (its hash removed by hand, say): its turn would never start.
    leaveFair(turn.member, turn.group, false)
  end
  return false
end

--[[
  startFairTurns: startFairTurn for the named jobs of one band, until `most` have started.
]]
local function startFairTurns(band, most)
  local startedNow = 0
  for _, turn in ipairs(turns) do
    if startedNow >= most then break end
    if not turn.done then
      local score = redis.call('ZSCORE', fairKeys.queue, turn.member)
      if not score then
        turn.done = true
      elseif math.floor(tonumber(score) / TAG_SPAN) == band then
        turn.done = true
        if startFairTurn(turn) then startedNow = startedNow + 1 end
      end
    end
  end
  return startedNow
end

--[[
  fairFirst: how many of `wanted` slots the named turns may take before the band's stream is read:
  half, and an odd one to each side in turn (the tags' `odd` field flips with each), so that with one
  free slot, as a worker of one slot always has, the grouped and the other jobs of a band each get
  every other start when both wait, rather than the turns every one. What one side leaves, the other takes.
]]
local oddToFair = nil
local function fairFirst(wanted)
  if wanted % 2 == 0 then return wanted / 2 end
  if oddToFair == nil then
    oddToFair = redis.call('HGET', fairKeys.tags, 'odd') ~= '1'
    redis.call('HSET', fairKeys.tags, 'odd', oddToFair and '1' or '0')
  end
  return (wanted - 1) / 2 + (oddToFair and 1 or 0)
end

-- COUNT 0 would read every new entry: a worker with no free slot reads none.
for digit in string.gmatch(ARGV[11], '%d') do
  if wanted <= 0 then break end
  local band = tonumber(digit)
  local stream = streams[band + 1]
  if fairNamed > 0 then wanted = wanted - startFairTurns(band, fairFirst(wanted)) end
  local read = wanted > 0 and redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', wanted, 'STREAMS', stream, '>')
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
  if fairNamed > 0 and wanted > 0 then wanted = wanted - startFairTurns(band, wanted) end
end

--[[
  The fair queue's head, for the next call to name: members in score order (band, then turn),
  skipping those that may not start now. A group at its cap has at most one turn per round ahead of
  the others (see queueGrouped), so a short look usually covers every group that may start; the look
  goes on, in chunks, past the jobs only other workers serve, up to FAIR_LOOK_MOST members.
]]
local FAIR_LOOK_CHUNK, FAIR_LOOK_MOST = 128, 1024
local nextTurns = {}
if count > 0 and lookAhead > 0 then
  local perGroup = {}
  local from = 0
  while #nextTurns < lookAhead and from < FAIR_LOOK_MOST do
    local members = redis.call('ZRANGE', fairKeys.queue, from, from + FAIR_LOOK_CHUNK - 1)
    for _, member in ipairs(members) do
      if #nextTurns >= lookAhead then break end
      local fairGroup, jobType = string.match(member, '^([^|]*)|([^|]*)|')
      -- One of a type no live worker serves is named too, for the next call to park (see startFairTurn).
      if routing.served[jobType] or not routing.elsewhere[jobType] then
        local running = perGroup[fairGroup] or (groupCap > 0 and groupRunning(fairGroup) or 0)
        if groupCap == 0 or running < groupCap then
          nextTurns[#nextTurns + 1] = member
          perGroup[fairGroup] = running + 1
        end
      end
    end
    if #members < FAIR_LOOK_CHUNK then break end
    from = from + FAIR_LOOK_CHUNK
  end
end
return {completed, started, left, nextJobs, 0, limited, nextTurns}
