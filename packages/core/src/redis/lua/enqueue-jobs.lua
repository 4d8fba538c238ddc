--[[
  enqueueJobs: adds jobs to one queue, each ready now (the stream of its priority band) or due later
  (delayed ZSET), with its first history event. Each job is added as if alone; one call for many only saves round trips.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] delayed
  then per job: job hash, idempotency key (any key of the queue's slot when the job has none),
  and from the outbox relay its relayed marker (see QueueKeys.outboxRelayed)
  ARGV[1] now (ms)   ARGV[2] queue   ARGV[3] idempotency window (ms)
  ARGV[4] the schedule whose tick made the call's one job ('' for none)   ARGV[5] that tick (ms)
  ARGV[6] from the outbox relay, how long its markers live (ms); '' for any other call
  then per job, 11 values: id, type, payload (JSON), maxAttempts, priority, its priority's band,
  runAt (ms), idempotency key ('' for none), fair group ('' for none: a grouped job that is ready
  waits for its group's turn, see queueGrouped, instead of in a stream), W3C traceparent and
  tracestate of the trace its attempts continue ('' for none)

  Returns one item per job: {1, id, status} when it was added, {0, firstJobId} when its idempotency
  key already names a job (nothing is added for it). A job whose hash exists already was added by
  this same call sent before (a client resends a call whose reply a reconnect lost): it is answered
  as added, and added only once. A relayed job whose marker exists already was added by an earlier
  relay of its outbox row (whose relay died before deleting the row): {2, id}, and nothing is added.
]]
local now, queue, window = ARGV[1], ARGV[2], ARGV[3]
local nowMs = tonumber(now)
local streams, delayed = setLanes(4), KEYS[12]
local replies = {}

local relayedFor = ARGV[6]
local stride = 2
if relayedFor ~= '' then stride = 3 end

for i = 1, (#KEYS - 12) / stride do
  local k = 12 + stride * (i - 1)
  local jobKey, idempotencyKey = KEYS[k + 1], KEYS[k + 2]
  local a = 6 + 11 * (i - 1)
  local jobId, jobType, payload, maxAttempts, priority, band, runAt, key, fairGroup, traceparent, tracestate =
    ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9], ARGV[a + 10], ARGV[a + 11]
  local first = false
  local resent = redis.call('HGET', jobKey, 'status')
  -- The marker outlives the job hash: a job that finished and expired is still not added again.
  local relayedBefore = relayedFor ~= '' and not redis.call('SET', KEYS[k + 3], '1', 'NX', 'PX', relayedFor)
  if relayedBefore or resent then
    first = jobId
  elseif key ~= '' then
    first = redis.call('GET', idempotencyKey)
    if not first then redis.call('SET', idempotencyKey, jobId, 'PX', window) end
  end
  if relayedBefore then
    replies[i] = {2, jobId}
  elseif resent then
    replies[i] = {1, jobId, resent}
  elseif first then
    replies[i] = {0, first}
  else
    local status = 'pending'
    if tonumber(runAt) > nowMs then status = 'scheduled' end
    local sid = ''
    if status == 'pending' and fairGroup ~= '' then
      queueGrouped(jobId, fairGroup, jobType, band)
    elseif status == 'pending' then
      sid = redis.call('XADD', streamOf(streams, band), '*', 'id', jobId)
    else
      redis.call('ZADD', delayed, runAt, jobId)
      announceIfEarliest(delayed, jobId, runAt)
    end
    local snapshot = {'queue', queue, 'type', jobType, 'payload', payload, 'maxAttempts', maxAttempts,
      'priority', priority, 'runAt', runAt, 'idempotencyKey', key}
    if fairGroup ~= '' then
      snapshot[#snapshot + 1] = 'group'
      snapshot[#snapshot + 1] = fairGroup
      redis.call('HSET', jobKey, 'group', fairGroup)
    end
    -- Only a traced job carries these fields: the others' hashes and events stay as they were.
    if traceparent ~= '' then
      snapshot[#snapshot + 1] = 'traceparent'
      snapshot[#snapshot + 1] = traceparent
      redis.call('HSET', jobKey, 'traceparent', traceparent)
      if tracestate ~= '' then redis.call('HSET', jobKey, 'tracestate', tracestate) end
    end
    local seq, line = nextEvent(jobId, false, status, 0, now, {}, snapshot)
    redis.call('HSET', jobKey,
      'id', jobId, 'queue', queue, 'type', jobType, 'payload', payload, 'status', status, 'sid', sid,
      'attempts', '0', 'maxAttempts', maxAttempts, 'priority', priority, 'band', band, 'idempotencyKey', key,
      'runAt', runAt, 'createdAt', now, 'updatedAt', now, 'seq', seq, 'h' .. seq, line)
    moveCount(false, status)
    replies[i] = {1, jobId, status}
  end
end

-- Checked once per call, not per job: a scheduled job is sent alone, and only a new one has an event.
if ARGV[4] ~= '' and #transitionEvents == 1 then
  redis.call('HSET', KEYS[13], 'schedule', ARGV[4], 'scheduleTick', ARGV[5])
  transitionEvents[1].schedule = ARGV[4]
  transitionEvents[1].scheduleTick = ARGV[5]
end

return replies
