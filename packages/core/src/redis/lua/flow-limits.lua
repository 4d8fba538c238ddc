--[[
  Flow limits (included by the scripts that start jobs, before start-entry.lua): the rate limits and
  concurrency caps of the queue and of the job types the worker serves, as the worker passes them
  (see ScriptLimits): '' when nothing is limited, which skips every check, or the JSON of
  {q?: limit, t?: {type: limit}, g?: the queue's cap per fair group (see takeJobs)}, each limit
  {m: rate max (0: none), w: window (ms), c: cap (0: none),
  k: the KEYS index of the rate's window, o: for a type's cap, the KEYS index of its overrunning
  handlers (see runningNow)}.

  A rate window is a ZSET of the starts of the last `w` ms (member per start, scored by its time),
  so that at most `m` start in any window. A job released from waiting for its type's rate holds a
  reservation there (member 'r:' .. job id, see releaseLimited) until it starts. Windows are kept on
  Redis's clock, which every worker shares: a worker's own clock, or its `now` taken a moment before
  its call ran, would let starts of different workers crowd closer than the window.
]]
local flow = false
local flowTime = false

--[[
  flowNow: Redis's time (ms), read once per call.
]]
local function flowNow()
  flowTime = flowTime or redisTimeMs()
  return flowTime
end

local function setFlow(arg)
  flow = arg ~= '' and cjson.decode(arg)
end

--[[
  processingNow: the partition's jobs processing now (field 'processing'), or those of one type
  ('processing:' .. type), with this call's own changes (moveCount) counted in.
]]
local function processingNow(field)
  return (tonumber(redis.call('HGET', queueKeys.counts, field)) or 0) + (transitionCounts[field] or 0)
end

--[[
  runningNow: the jobs of a type its cap counts: those processing, with this call's own changes, and
  the handlers still running after their attempts ended (timed out, ignoring their signal), each
  while its worker keeps its lease (see failJob, renewOverruns); a crashed worker's lapse.
]]
local function runningNow(jobType, limit)
  local running = processingNow('processing:' .. jobType)
  if limit.o > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[limit.o], '-inf', flowNow())
    running = running + redis.call('ZCARD', KEYS[limit.o])
  end
  return running
end

--[[
  windowRoom: how many more starts `limit`'s rate window allows now, once the starts older than the
  window have left it, and, when none, in how long the oldest leaves (ms).
]]
local function windowRoom(limit)
  local key, now = KEYS[limit.k], flowNow()
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - limit.w)
  local room = limit.m - redis.call('ZCARD', key)
  if room > 0 then return room, 0 end
  return 0, math.max(1, tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]) + limit.w - now)
end

--[[
  countStart: enters a start in a rate window, which lapses once the window has passed with no start.
]]
local function countStart(limit, member)
  redis.call('ZADD', KEYS[limit.k], flowNow(), member)
  redis.call('PEXPIRE', KEYS[limit.k], limit.w)
end

--[[
  queueAllowance: how many jobs may start now under the queue's own limits, and, when none, in how
  long to look again (ms; 0 when a cap holds them, which only a job ending elsewhere lifts).
]]
local function queueAllowance()
  local q = flow and flow.q
  if not q then return math.huge, 0 end
  local room, again = math.huge, 0
  if q.c > 0 then room = q.c - processingNow('processing') end
  if q.m > 0 and room > 0 then room, again = windowRoom(q) end
  return room, again
end

--[[
  admitStart: whether a pending job of `jobType` may start now: false when it may (the rate windows
  then count its start, `member`), else what holds it back: 'queue' (the queue's limits), 'concurrency'
  or 'rate' (its type's).
]]
local function admitStart(jobType, jobId, member)
  if not flow then return false end
  local q, t = flow.q, flow.t and flow.t[jobType]
  if q and q.c > 0 and processingNow('processing') >= q.c then return 'queue' end
  if q and q.m > 0 and windowRoom(q) <= 0 then return 'queue' end
  if t and t.c > 0 and runningNow(jobType, t) >= t.c then return 'concurrency' end
  local reserved = t and t.m > 0 and redis.call('ZREM', KEYS[t.k], 'r:' .. jobId) == 1
  if t and t.m > 0 and not reserved and windowRoom(t) <= 0 then return 'rate' end
  if q and q.m > 0 then countStart(q, member) end
  if t and t.m > 0 then countStart(t, member) end
  return false
end
