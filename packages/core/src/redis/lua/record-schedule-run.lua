--[[
  recordScheduleRun: ends a claim: the run goes first in the schedule's runs, with the job it made
  (or why none could be: a failed run, never retried), and the job becomes the schedule's newest
  (what overlap 'skip' looks at). Only the first record of a claim counts: one driven twice, or
  dropped with its schedule, is recorded once, or not at all.

  KEYS[1] definitions   KEYS[2] claims   KEYS[3] inflight   KEYS[4] lastJobs   KEYS[5] the schedule's runs list
  ARGV[1] name   ARGV[2] claim (`name|tick|kind`)   ARGV[3] tick   ARGV[4] kind ('tick' or 'manual')
  ARGV[5] status ('created' or 'failed')   ARGV[6] job id ('' when failed)   ARGV[7] why it failed ('')
  ARGV[8] now (ms)   ARGV[9] runs kept

  Returns 1 recorded, 0 not (recorded before, or the schedule was removed).
]]
local name = ARGV[1]
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[3], name, -1) <= 0 then redis.call('HDEL', KEYS[3], name) end
if redis.call('HEXISTS', KEYS[1], name) == 0 then return 0 end
local run = {tick = ARGV[3], kind = ARGV[4], status = ARGV[5], at = ARGV[8]}
if ARGV[6] ~= '' then
  run.job = ARGV[6]
  redis.call('HSET', KEYS[4], name, ARGV[6])
end
if ARGV[7] ~= '' then run.reason = ARGV[7] end
pushRun(KEYS[5], run, ARGV[9])
return 1
