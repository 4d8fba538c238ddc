--[[
  promoteDueJobs: moves scheduled jobs, retries and handed-on jobs whose time has come from the
  delayed ZSET into the streams of their priority bands; the caller read the due ones first. Safe to run in every worker at
  once: ZREM decides which caller promotes a job, and a job no longer due (promoted, cancelled or
  rescheduled meanwhile) is left alone.

  KEYS[1..3] events, counts, throughput   KEYS[4..11] lanes (see setLanes)   KEYS[12] delayed   KEYS[13..n] job hashes
  ARGV[1] now (ms)   ARGV[2..n] job ids, one per job hash

  Returns {promoted, nextDueAt} where nextDueAt is the score of the earliest job still waiting, or -1.
]]
local streams, delayed, now = setLanes(4), KEYS[12], ARGV[1]
local promoted = 0

for i = 13, #KEYS do
  local jobId, jobKey = ARGV[i - 11], KEYS[i]
  local dueAt = redis.call('ZSCORE', delayed, jobId)
  if dueAt and tonumber(dueAt) <= tonumber(now) then
    redis.call('ZREM', delayed, jobId)
    local job = redis.call('HMGET', jobKey, 'status', 'attempts', 'sid', 'band')
    local stream = streamOf(streams, job[4])
    if job[1] == 'scheduled' or job[1] == 'retrying' then
      requeue(stream, jobKey, jobId, job[1], job[2], now, {}, {})
      promoted = promoted + 1
    elseif job[1] == 'pending' and job[3] == '' then
      -- Handed on for a worker of its type (see handOnEntry): it goes back unchanged, with no event.
      placePending(stream, jobKey, jobId)
      promoted = promoted + 1
    end
  end
end

local nextDue = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if nextDue[2] then return {promoted, nextDue[2]} end
return {promoted, '-1'}
