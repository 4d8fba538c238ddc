--[[
  enqueue: adds one job, ready now (stream) or due later (delayed ZSET), with its first history event.

  KEYS[1] stream   KEYS[2] delayed   KEYS[3] events   KEYS[4] job hash
  KEYS[5] idempotency key (optional)
  ARGV[1] job id        ARGV[2] queue      ARGV[3] type          ARGV[4] payload (JSON)
  ARGV[5] maxAttempts   ARGV[6] priority   ARGV[7] now (ms)      ARGV[8] runAt (ms)
  ARGV[9] idempotency key ('' for none)    ARGV[10] idempotency window (ms)

  Returns {1, id, status} when the job was added, {0, firstJobId} when the idempotency key already
  names a job (nothing is added).
]]
local jobId, now, runAt = ARGV[1], ARGV[7], ARGV[8]

if KEYS[5] then
  local first = redis.call('GET', KEYS[5])
  if first then return {0, first} end
  redis.call('SET', KEYS[5], jobId, 'PX', ARGV[10])
end

local status = 'pending'
if tonumber(runAt) > tonumber(now) then status = 'scheduled' end

redis.call('HSET', KEYS[4],
  'id', jobId, 'queue', ARGV[2], 'type', ARGV[3], 'payload', ARGV[4], 'status', status,
  'attempts', '0', 'maxAttempts', ARGV[5], 'priority', ARGV[6], 'idempotencyKey', ARGV[9],
  'runAt', runAt, 'createdAt', now, 'updatedAt', now)

if status == 'pending' then
  local sid = redis.call('XADD', KEYS[1], '*', 'id', jobId)
  redis.call('HSET', KEYS[4], 'sid', sid)
else
  redis.call('ZADD', KEYS[2], runAt, jobId)
  announceIfEarliest(KEYS[2], jobId, runAt)
end

moveCount(KEYS[3], false, status)
recordEvent(KEYS[3], KEYS[4], jobId, status, 0, now, {}, {
  'queue', ARGV[2], 'type', ARGV[3], 'payload', ARGV[4], 'maxAttempts', ARGV[5],
  'priority', ARGV[6], 'runAt', runAt, 'idempotencyKey', ARGV[9]})

return {1, jobId, status}
