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
  (see parkEntry), and the job keeps its deliveries so far in its `crashes` field, which counts
  towards the limit wherever the job runs next.

  KEYS[1] stream   KEYS[2] events   KEYS[3] dlq
  ARGV[1] group    ARGV[2] consumer   ARGV[3] min idle (ms)   ARGV[4] most entries
  ARGV[5] now (ms) ARGV[6] delivery limit   ARGV[7] job hash key prefix
  ARGV[8] '1' when the caller runs nothing and may take a suspect
  ARGV[9] dead-letter retention (ms)   ARGV[10] dead-letter max length
  ARGV[11] types the caller serves   ARGV[12] types only other live workers serve (both as ",a,b,")

  Returns {claimed, poisoned, deleted, isolated, suspects}: claimed is a flat list {entryId, jobId, ...}
  to start (with startJobs); isolated is 1 when claimed holds one suspect to run alone; suspects counts
  the suspects left waiting for an idle worker.
]]
local stream, group, consumer, minIdle = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local most, now, limit, prefix = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
local mayIsolate = ARGV[8] == '1'
local served, elsewhere = typeSet(ARGV[11]), typeSet(ARGV[12])
local claimed, poisoned, deleted, suspects, isolated = {}, 0, 0, 0, 0

-- XCLAIM drops an entry deleted from the stream from the pending list and returns nothing for it.
local function claim(sid)
  local entry = redis.call('XCLAIM', stream, group, consumer, minIdle, sid)[1]
  if not entry then deleted = deleted + 1 end
  return entry
end

local function poison(entry, deliveries)
  local sid, jobId = entry[1], entry[2][2]
  local jobKey = prefix .. jobId
  local job = redis.call('HMGET', jobKey, 'status', 'sid', 'attempts')
  redis.call('XACK', stream, group, sid)
  redis.call('XDEL', stream, sid)
  if job[2] ~= sid or (job[1] ~= 'pending' and job[1] ~= 'processing') then return end
  local err = 'its worker stopped while running it ' .. deliveries .. ' times; delivery limit ' .. limit
  recordEvent(KEYS[2], jobKey, jobId, 'failed', job[3], now, {'error', err}, {})
  moveToDead({KEYS[3], prefix, ARGV[9], tonumber(ARGV[10])}, KEYS[2], jobKey, jobId, job[1], job[3], 'poison', err, now)
  poisoned = poisoned + 1
end

--[[
  The type of the entry's job, and the deliveries that ended in a crash before it came to this entry;
  nil for an entry whose job is gone (the claim then drops it).
]]
local function jobOf(sid)
  local entry = redis.call('XRANGE', stream, sid, sid)[1]
  if not entry then return nil, 0 end
  local job = redis.call('HMGET', prefix .. entry[2][2], 'type', 'crashes')
  return job[1], tonumber(job[2] or '0')
end

for _, pending in ipairs(redis.call('XPENDING', stream, group, 'IDLE', minIdle, '-', '+', most + 100)) do
  local sid = pending[1]
  local jobType, crashes = jobOf(sid)
  local deliveries = pending[4] + crashes
  local servedHere = jobType == nil or served[jobType]
  if not servedHere and elsewhere[jobType] then
    -- Left for a live worker of its type.
  elseif deliveries >= limit then
    local entry = claim(sid)
    if entry then poison(entry, deliveries) end
  elseif not servedHere then
    -- No live worker serves it: taken to be parked until one comes, its crashes so far kept.
    if isolated == 0 and #claimed < most * 2 then
      local entry = claim(sid)
      if entry then
        redis.call('HSET', prefix .. entry[2][2], 'crashes', pending[4] + crashes)
        claimed[#claimed + 1] = entry[1]
        claimed[#claimed + 1] = entry[2][2]
      end
    end
  elseif deliveries >= 2 then
    if mayIsolate and isolated == 0 and #claimed == 0 then
      local entry = claim(sid)
      if entry then
        claimed = {entry[1], entry[2][2]}
        isolated = 1
      end
    else
      suspects = suspects + 1
    end
  elseif isolated == 0 and #claimed < most * 2 then
    local entry = claim(sid)
    if entry then
      claimed[#claimed + 1] = entry[1]
      claimed[#claimed + 1] = entry[2][2]
    end
  end
end

return {claimed, poisoned, deleted, isolated, suspects}
