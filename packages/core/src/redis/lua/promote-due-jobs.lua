--[[
  promoteDueJobs: moves scheduled jobs, retries and parked jobs whose time has come from the delayed
  ZSET into the stream. Safe to run in every worker at once: ZREM decides which caller promotes a job.

  KEYS[1] stream   KEYS[2] delayed   KEYS[3] events
  ARGV[1] now (ms)   ARGV[2] most jobs to promote   ARGV[3] job hash key prefix

  Returns {promoted, nextDueAt} where nextDueAt is the score of the earliest job still waiting, or -1.
]]
local now = ARGV[1]
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local promoted = 0

for _, jobId in ipairs(due) do
  redis.call('ZREM', KEYS[2], jobId)
  local jobKey = ARGV[3] .. jobId
  local job = redis.call('HMGET', jobKey, 'status', 'attempts', 'sid')
  if job[1] == 'scheduled' or job[1] == 'retrying' then
    requeue(KEYS[1], KEYS[3], jobKey, jobId, job[1], job[2], now, {}, {})
    promoted = promoted + 1
  elseif job[1] == 'pending' and job[3] == '' then
    -- Parked for a worker of its type (see parkEntry): it goes back unchanged, with no event.
    redis.call('HSET', jobKey, 'sid', redis.call('XADD', KEYS[1], '*', 'id', jobId))
    promoted = promoted + 1
  end
end

local nextDue = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if nextDue[2] then return {promoted, nextDue[2]} end
return {promoted, '-1'}
