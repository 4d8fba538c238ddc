--[[
  reclaimStalled: takes over stream entries whose worker has gone quiet for longer than the
  visibility timeout (it crashed, or hangs), and dead-letters as poison each job whose entry has been
  delivered the limit number of times already: a job that keeps killing its workers must not loop.

  A crash kills every job its process was running, so one poison job takes innocent ones down with
  it, and their delivery counts rise together. To tell them apart, an entry that has already been
  redelivered once (a "suspect") is only taken alone, by a worker running nothing else, which then
  runs it in isolation: an innocent suspect completes, a poison one kills only itself.

  An entry of a job type the caller does not serve is left to a live worker that does, if there is
  one (its reclaim keeps counting the deliveries); if none is live, the caller takes it to park it
  (see parkUnserved), and the job keeps its deliveries so far in its `crashes` field, which counts
  towards the limit wherever the job runs next.

  The caller first read the entries idle past the visibility timeout (XPENDING) and their jobs' ids
  (XRANGE), so that the job hashes are named here; each is checked again, as another worker may
  have taken it meanwhile.

  KEYS[1..3] events, counts, throughput   KEYS[4] the stream of one priority band   KEYS[5] dlq
  KEYS[6..n] job hashes, one per entry
  ARGV[1] group    ARGV[2] consumer   ARGV[3] min idle (ms)   ARGV[4] most entries
  ARGV[5] now (ms) ARGV[6] delivery limit   ARGV[7] '1' when the caller runs nothing and may take a suspect
  ARGV[8] types the caller serves   ARGV[9] types only other live workers serve (both as ",a,b,")
  then per job hash: its entry's id, the job's id

  Returns {claimed, poisoned, deleted, isolated, suspects}: claimed is a flat list {entryId, jobId, ...}
  to start (with startJobs); isolated is 1 when claimed holds one suspect to run alone; suspects counts
  the suspects left waiting for an idle worker.
]]
local stream, dlq, group, consumer, minIdle = KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3]
local most, now, limit = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local mayIsolate = ARGV[7] == '1'
local served, elsewhere = typeSet(ARGV[8]), typeSet(ARGV[9])
local claimed, poisoned, deleted, suspects, isolated = {}, 0, 0, 0, 0

-- XCLAIM drops an entry deleted from the stream from the pending list and returns nothing for it.
local function claim(sid)
  local entry = redis.call('XCLAIM', stream, group, consumer, minIdle, sid)[1]
  if not entry then deleted = deleted + 1 end
  return entry
end

local function poison(sid, jobKey, jobId, deliveries)
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'attempts')
  redis.call('XACK', stream, group, sid)
  redis.call('XDEL', stream, sid)
  if job[2] ~= sid or (job[1] ~= 'pending' and job[1] ~= 'processing') then return end
  local err = 'its worker stopped while running it ' .. deliveries .. ' times; delivery limit ' .. limit
  recordEvent(jobKey, jobId, 'failed', job[3], now, {'error', err}, {})
  moveToDead(dlq, jobKey, jobId, job[1], job[3], 'poison', err, now)
  poisoned = poisoned + 1
end

local function take(sid, jobId)
  claimed[#claimed + 1] = sid
  claimed[#claimed + 1] = jobId
end

for i = 6, #KEYS do
  local a = 10 + 2 * (i - 6)
  local sid, jobId, jobKey = ARGV[a], ARGV[a + 1], KEYS[i]
  -- Still pending and idle: another worker's reclaim or a heartbeat may have come first.
  local pending = redis.call('XPENDING', stream, group, 'IDLE', minIdle, sid, sid, 1)[1]
  if pending then
    local job = redis.call('HMGET', jobKey, 'type', 'crashes')
    local jobType, crashes = job[1], tonumber(job[2] or '0')
    local deliveries = pending[4] + crashes
    local servedHere = not jobType or served[jobType]
    if not servedHere and elsewhere[jobType] then
      -- Left for a live worker of its type.
    elseif deliveries >= limit then
      if claim(sid) then poison(sid, jobKey, jobId, deliveries) end
    elseif not servedHere then
      -- No live worker serves it: taken to be parked until one comes, its crashes so far kept.
      if isolated == 0 and #claimed < most * 2 and claim(sid) then
        redis.call('HSET', jobKey, 'crashes', deliveries)
        take(sid, jobId)
      end
    elseif deliveries >= 2 then
      if mayIsolate and isolated == 0 and #claimed == 0 then
        if claim(sid) then
          take(sid, jobId)
          isolated = 1
        end
      else
        suspects = suspects + 1
      end
    elseif isolated == 0 and #claimed < most * 2 and claim(sid) then
      take(sid, jobId)
    end
  end
end

return {claimed, poisoned, deleted, isolated, suspects}
