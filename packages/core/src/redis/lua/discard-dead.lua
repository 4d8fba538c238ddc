--[[
  discardDead (included by discardDeadJob and discardDeadJobs): takes one dead job out of the
  dead-letter stream for good: it becomes `discarded`, a finished state, with an event saying an
  operator discarded it, and its hash expires after `retentionMs` like any finished job's (PostgreSQL
  keeps it). The caller has checked it is dead from entry `dlqId`.
]]
local function discardDead(dlqKey, jobKey, jobId, dlqId, attempts, now, retentionMs)
  if dlqId and dlqId ~= '' then redis.call('XDEL', dlqKey, dlqId) end
  redis.call('HSET', jobKey, 'status', 'discarded', 'sid', '', 'dlqId', '', 'updatedAt', now, 'finishedAt', now)
  moveCount('dead', 'discarded')
  recordEvent(jobKey, jobId, 'discarded', attempts, now, {'reason', 'discarded by an operator'}, {})
  redis.call('PEXPIRE', jobKey, retentionMs)
end
