--[[
  completeJob: records a successful attempt, acknowledges and deletes the stream entry, and lets the
  job's hash expire after the retention period (PostgreSQL keeps it for good).

  KEYS[1] stream   KEYS[2] events   KEYS[3] job hash
  ARGV[1] group    ARGV[2] stream entry id   ARGV[3] now (ms)   ARGV[4] worker
  ARGV[5] result (JSON, '' for none)         ARGV[6] retention (ms)

  Returns 1 when completed, 0 when the entry was stale (the job had already moved on elsewhere);
  a stale entry is acknowledged all the same.
]]
local group, sid, now = ARGV[1], ARGV[2], ARGV[3]
local job = redis.call('HMGET', KEYS[3], 'status', 'sid', 'attempts', 'id')

redis.call('XACK', KEYS[1], group, sid)
redis.call('XDEL', KEYS[1], sid)
if job[1] ~= 'processing' or job[2] ~= sid then return 0 end

redis.call('HSET', KEYS[3], 'status', 'completed', 'updatedAt', now, 'finishedAt', now, 'result', ARGV[5])
local details = {'worker', ARGV[4]}
if ARGV[5] ~= '' then details = {'worker', ARGV[4], 'result', ARGV[5]} end
moveCount(KEYS[2], 'processing', 'completed')
countThroughput(KEYS[2], now, 'completed')
recordEvent(KEYS[2], KEYS[3], job[4], 'completed', job[3], now, details, {})
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return 1
