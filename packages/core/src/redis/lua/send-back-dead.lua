--[[
  sendBackDead (included by retryDeadJob and retryDeadJobs): moves one dead job back to the stream
  with its attempts reset and removes its dead-letter entry. The caller has checked it is dead.
]]
local function sendBackDead(streamKey, eventsKey, jobKey, dlqKey, jobId, dlqId, now)
  if dlqId and dlqId ~= '' then redis.call('XDEL', dlqKey, dlqId) end
  local sid = redis.call('XADD', streamKey, '*', 'id', jobId)
  redis.call('HSET', jobKey, 'status', 'pending', 'sid', sid, 'attempts', '0', 'updatedAt', now, 'finishedAt', '', 'deadReason', '', 'dlqId', '')
  redis.call('PERSIST', jobKey)
  moveCount(eventsKey, 'dead', 'pending')
  recordEvent(eventsKey, jobKey, jobId, 'pending', 0, now, {'reason', 'retried from the dead-letter stream'}, {})
end
