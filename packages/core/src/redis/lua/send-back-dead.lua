--[[
  sendBackDead (included by retryDeadJob and retryDeadJobs): moves one dead job back to the stream
  with its attempts and its postponements reset (see postponeJob), and removes its dead-letter entry.
  The caller has checked it is dead.
]]
local function sendBackDead(streamKey, jobKey, dlqKey, jobId, dlqId, now)
  if dlqId and dlqId ~= '' then redis.call('XDEL', dlqKey, dlqId) end
  requeue(streamKey, jobKey, jobId, 'dead', 0, now,
    {'attempts', '0', 'finishedAt', '', 'deadReason', '', 'dlqId', ''}, {'reason', 'retried from the dead-letter stream'})
  redis.call('HDEL', jobKey, 'postponed')
  redis.call('PERSIST', jobKey)
end
