--[[
  takeJobs: a worker's one call per batch while its queue has work. It completes the jobs the worker
  finished since its last call (see completeEntries), starts the entries it read in that call (see
  startEntry; their job hashes are named here, which they could not be before the entries were
  read), then reads up to `count` new entries without blocking, to start in its next call. A script
  touches only the keys it is given, so an entry is read in one call and started in the next; the
  worker holds a slot for each meanwhile. No entries read means there was nothing new; the worker
  then waits in a blocking read. A paused queue's entries are neither started (each is handed back,
  see handBackEntry) nor read.

  KEYS[1..3] events, counts, throughput   KEYS[4] stream   KEYS[5] paused flag   KEYS[6] delayed
  KEYS[7..] hashes of the jobs to start, one per entry to start, then of the jobs to complete
  ARGV[1] group    ARGV[2] consumer   ARGV[3] now (ms)   ARGV[4] count   ARGV[5] retention (ms)
  ARGV[6] types served here   ARGV[7] types served only elsewhere   ARGV[8] entries to start (s)
  ARGV[9..8+s] their stream entry ids
  then per job to complete: stream entry id, attempt, result (JSON, '' for none)

  Returns {completed, started, entries, paused}: one number per job to complete, as completeEntries;
  one item per entry to start, as startEntry ({entryId} alone for an entry handed back); a flat list
  {entryId, jobId, ...} of the entries read; and 1 when the queue is paused (nothing was read), else 0.
]]
local group, consumer, now = ARGV[1], ARGV[2], ARGV[3]
local starting = tonumber(ARGV[8])
setRouting(ARGV[6], ARGV[7], KEYS[6])
local jobKeys, sids, attempts, results = completionsFrom(7 + starting, 9 + starting)
local completed = completeEntries(KEYS[4], group, now, consumer, ARGV[5], jobKeys, sids, attempts, results)
local paused = redis.call('EXISTS', KEYS[5]) == 1
local started = {}
for i = 1, starting do
  local jobKey, sid = KEYS[6 + i], ARGV[8 + i]
  if paused then
    handBackEntry(KEYS[4], group, now, jobKey, sid)
    started[i] = {sid}
  else
    started[i] = startEntry(KEYS[4], group, consumer, now, jobKey, sid)
  end
end
if paused then return {completed, started, {}, 1} end
local entries = {}
-- COUNT 0 would read every new entry: a worker with no free slot reads none.
local read = tonumber(ARGV[4]) > 0 and redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', ARGV[4], 'STREAMS', KEYS[4], '>')
if read then
  for _, entry in ipairs(read[1][2]) do
    entries[#entries + 1] = entry[1]
    entries[#entries + 1] = entry[2][2]
  end
end
return {completed, started, entries, 0}
