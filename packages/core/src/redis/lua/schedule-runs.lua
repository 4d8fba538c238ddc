--[[
  Included by the scripts that record a schedule's runs.

  pushRun: puts a run first in a schedule's list of runs and keeps the newest `kept`. `run` is a
  table of strings (tick, kind, status, job, reason, count, lastTick, at), encoded as JSON.
]]
local function pushRun(runsKey, run, kept)
  redis.call('LPUSH', runsKey, cjson.encode(run))
  redis.call('LTRIM', runsKey, 0, tonumber(kept) - 1)
end
