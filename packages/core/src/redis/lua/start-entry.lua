--[[
  startEntry (included by startJobs and readAndStartJobs): marks the job of a freshly read stream
  entry `processing` and counts the attempt. An entry whose job is gone, finished, cancelled, or
  re-enqueued under another entry is stale: it is acknowledged and deleted, never run.

  Returns {entryId} when skipped, {entryId, jobId, type, payload, attempt, maxAttempts, runAt} when
  the job is to run.
]]
local function startEntry(streamKey, eventsKey, group, consumer, now, jobKey, sid)
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'id', 'type', 'payload', 'attempts', 'maxAttempts', 'runAt', 'seq')
  local status = job[1]
  if job[2] ~= sid or (status ~= 'pending' and status ~= 'processing') then
    redis.call('XACK', streamKey, group, sid)
    redis.call('XDEL', streamKey, sid)
    return {sid}
  end
  local attempt = tonumber(job[6]) + 1
  local seq, line = nextEvent(eventsKey, job[3], job[9], 'processing', attempt, now, {'worker', consumer}, {})
  redis.call('HSET', jobKey, 'status', 'processing', 'attempts', tostring(attempt),
    'worker', consumer, 'startedAt', now, 'updatedAt', now, 'seq', seq, 'h' .. seq, line)
  if status == 'pending' then moveCount(eventsKey, 'pending', 'processing') end
  return {sid, job[3], job[4], job[5], attempt, tonumber(job[7]), job[8]}
end

--[[
  handBackEntry (included by startJobs): for a paused queue, puts the job of an entry read or
  claimed just now back at the stream's end instead of starting it, so no job starts once a pause
  is set, not even one a worker's blocking read was already waiting for. A pending job keeps its
  state (it moves to a new entry); a job whose worker died while running it becomes pending again.
]]
local function handBackEntry(streamKey, eventsKey, group, now, jobKey, sid)
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'id', 'attempts')
  dropEntry(streamKey, group, {sid})
  if job[2] ~= sid then return end
  if job[1] == 'pending' then
    redis.call('HSET', jobKey, 'sid', redis.call('XADD', streamKey, '*', 'id', job[3]))
  elseif job[1] == 'processing' then
    requeue(streamKey, eventsKey, jobKey, job[3], 'processing', job[4], now, {},
      {'error', 'interrupted: its worker stopped while running it'})
  end
end
