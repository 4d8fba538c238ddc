--[[
  startEntry (included by startJobs and takeJobs): marks the job of a freshly read stream entry
  `processing` and counts the attempt. An entry whose job is gone, finished, cancelled, or
  re-enqueued under another entry is stale: it is acknowledged and deleted, never run. A job of a
  type this worker does not serve is handed on to a live worker that does (see handOnEntry), or,
  while none is live, left for the caller to park (parkUnserved, which names the type's set of
  waiting jobs).

  The including script first calls setRouting(served, elsewhere, delayed): `served` and `elsewhere`
  are type lists as ",a,b," (the types this worker serves, and those only other live workers of the
  queue serve), then the queue's delayed ZSET.

  An entry read or claimed in an earlier call (`fresh` false) is started only if the worker still
  owns it (see ownEntry).

  A pending job starts only within the flow limits (see admitStart; the including script first calls
  setFlow): one the queue's limits hold back moves to a new entry at its stream's end; one its type's
  limits hold back is left for the caller to park (parkLimited). A job a crashed worker was running
  was admitted then, and is not counted again.

  A pending job of a fair group starts only in its group's turn (`fairTurn`, see takeJobs); read from
  a stream otherwise, it goes to wait for that turn.

  Returns {entryId} when skipped or moved, {entryId, 0} when handed on, {entryId, 1, type, jobId,
  lane} when it waits for a worker of its type, {entryId, 3, type, jobId, lane, reason} when it waits
  for its type's limits ('rate' or 'concurrency'), {entryId, jobId, type, payload, attempt,
  maxAttempts, runAt, lane, group, traceparent, tracestate} when the job is to run (lane: the index
  of the stream that holds its entry, its priority band's or GROUPED_LANE; group: its fair group,
  traceparent and tracestate: the trace its attempts continue, '' for none).
]]

local routing = {}

local function setRouting(served, elsewhere, delayed)
  routing = {served = typeSet(served), elsewhere = typeSet(elsewhere), delayed = delayed}
end

--[[
  handOnEntry: a job whose type this worker does not serve, but another live worker of the queue
  does, goes back for it without spending an attempt: its entry is dropped and the job waits in the
  delayed ZSET, with no entry (`sid` empty) and no history event, for promoteDueJobs to put it back
  in the stream, each time twice as long as the last, from 50 ms up to 2 s (the consumer group hands
  the entry to any reader, so it may take a few tries, and more while the workers of its type are busy).
]]
local function handOnEntry(streamKey, group, now, jobKey, sid, job)
  local status, jobId, attempts, parks = job[1], job[3], job[6], tonumber(job[10] or '0') + 1
  dropEntry(streamKey, group, {sid})
  if status == 'processing' then
    -- A crashed worker's attempt, reclaimed here: it becomes pending, as a hand-back would make it.
    moveCount('processing', 'pending', job[4], job[12])
    recordEvent(jobKey, jobId, 'pending', attempts, now, {'error', 'interrupted: its worker stopped while running it'}, {})
  end
  redis.call('HSET', jobKey, 'status', 'pending', 'sid', '', 'parks', parks)
  local dueAt = tonumber(now) + math.min(50 * 2 ^ (parks - 1), 2000)
  redis.call('ZADD', routing.delayed, dueAt, jobId)
  announceIfEarliest(routing.delayed, jobId, dueAt)
end

--[[
  ownEntry: for an entry read or claimed in an earlier call (`fresh` false), whether `consumer` still
  owns it, and if so its idle time starts again: a worker that stalled in between may have lost it to
  another worker's reclaim, which now runs the job from it; an entry read in this call is the
  consumer's and not idle.
]]
local function ownEntry(streamKey, group, consumer, sid, fresh)
  if fresh then return true end
  if not redis.call('XPENDING', streamKey, group, sid, sid, 1, consumer)[1] then return false end
  redis.call('XCLAIM', streamKey, group, consumer, 0, sid, 'JUSTID')
  return true
end

local function startEntry(streamKey, group, consumer, now, jobKey, sid, fresh, fairTurn)
  if not ownEntry(streamKey, group, consumer, sid, fresh) then return {sid} end
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'id', 'type', 'payload', 'attempts', 'maxAttempts', 'runAt', 'seq', 'parks', 'band', 'group',
    'traceparent', 'tracestate')
  local status, band = job[1], tonumber(job[11]) or NORMAL_BAND
  local lane = streamKey == fairKeys.stream and GROUPED_LANE or band
  if job[2] ~= sid or (status ~= 'pending' and status ~= 'processing') then
    redis.call('XACK', streamKey, group, sid)
    redis.call('XDEL', streamKey, sid)
    -- A wake marker (or a stale entry) read: the next grouped job may add one again.
    if lane == GROUPED_LANE then redis.call('HDEL', fairKeys.tags, 'wake') end
    return {sid}
  end
  if status == 'pending' and job[12] and not fairTurn then
    -- A grouped job starts in its group's turn only (see takeJobs): it waits for it.
    dropEntry(streamKey, group, {sid})
    placePending(streamKey, jobKey, job[3])
    return {sid}
  end
  if not routing.served[job[4]] then
    if not routing.elsewhere[job[4]] then return {sid, 1, job[4], job[3], lane} end
    handOnEntry(streamKey, group, now, jobKey, sid, job)
    return {sid, 0}
  end
  local attempt = tonumber(job[6]) + 1
  if status == 'pending' and flow then
    local held = admitStart(job[4], job[3], job[3] .. ':' .. attempt)
    if held == 'queue' then
      dropEntry(streamKey, group, {sid})
      placePending(streamKey, jobKey, job[3])
      return {sid}
    elseif held then
      return {sid, 3, job[4], job[3], lane, held}
    end
  end
  if job[10] then redis.call('HDEL', jobKey, 'parks') end
  local seq, line = nextEvent(job[3], job[9], 'processing', attempt, now, {'worker', consumer}, {})
  redis.call('HSET', jobKey, 'status', 'processing', 'attempts', tostring(attempt),
    'worker', consumer, 'startedAt', now, 'updatedAt', now, 'seq', seq, 'h' .. seq, line)
  if status == 'pending' then moveCount('pending', 'processing', job[4], job[12]) end
  return {sid, job[3], job[4], job[5], attempt, tonumber(job[7]), job[8], lane, job[12] or '', job[13] or '', job[14] or ''}
end

--[[
  handBackEntry (included by startJobs and takeJobs): for a paused queue, puts the job of an entry
  read or claimed just now back at the stream's end instead of starting it, so no job starts once a
  pause is set, not even one a worker's blocking read was already waiting for. A pending job keeps its
  state (it moves to a new entry); a job whose worker died while running it becomes pending again.
]]
local function handBackEntry(streamKey, group, consumer, now, jobKey, sid)
  if not ownEntry(streamKey, group, consumer, sid, false) then return end
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'id', 'attempts')
  dropEntry(streamKey, group, {sid})
  if job[2] ~= sid then
    if streamKey == fairKeys.stream then redis.call('HDEL', fairKeys.tags, 'wake') end
    return
  end
  if job[1] == 'pending' then
    placePending(streamKey, jobKey, job[3])
  elseif job[1] == 'processing' then
    requeue(streamKey, jobKey, job[3], 'processing', job[4], now, {},
      {'error', 'interrupted: its worker stopped while running it'})
  end
end
