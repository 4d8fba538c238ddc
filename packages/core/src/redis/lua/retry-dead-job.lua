--[[
  retryDeadJob: sends a dead job back to the stream with its attempts reset, and removes it from the
  dead-letter stream.

  KEYS[1] stream   KEYS[2] events   KEYS[3] job hash   KEYS[4] dlq
  ARGV[1] job id   ARGV[2] now (ms)

  Returns 1 when the job is pending again, 0 when there is no such job in Redis, or the job's status
  when it is not dead.
]]
local jobId, now = ARGV[1], ARGV[2]
local job = redis.call('HMGET', KEYS[3], 'status', 'dlqId')
if not job[1] then return 0 end
if job[1] ~= 'dead' then return job[1] end

if job[2] then redis.call('XDEL', KEYS[4], job[2]) end
local sid = redis.call('XADD', KEYS[1], '*', 'id', jobId)
redis.call('HSET', KEYS[3], 'status', 'pending', 'sid', sid, 'attempts', '0', 'updatedAt', now, 'finishedAt', '', 'deadReason', '', 'dlqId', '')
redis.call('PERSIST', KEYS[3])
moveCount(KEYS[2], 'dead', 'pending')
recordEvent(KEYS[2], KEYS[3], jobId, 'pending', 0, now, {'reason', 'retried from the dead-letter stream'}, {})
return 1
