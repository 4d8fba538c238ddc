--[[
  claimScheduleTick: decides a schedule's due tick, once, however many schedulers see it due. The
  caller read the due tick and the revision, and planned from them (cron needs a library): which
  tick to run (the due one, a later one, or none), the ticks missed beyond the grace, and the next
  tick. The plan holds only while both are unchanged, which this script checks; another scheduler
  that got there first has moved the due tick on, so the loser is told 0 and adds nothing.

  A tick to run is claimed: the due tick moves on and the claim (`name|tick|tick`) is held for a lease,
  in which the caller adds the job and records the run (recordScheduleRun). A caller that dies lets
  the lease run out, and any scheduler drives the claim again (takeOverScheduleClaim).

  With overlap 'skip' the caller read the schedule's newest job and its status first: the tick is
  skipped while that job is unfinished or another run of the schedule is being added, and the claim
  is refused (2, read again) when the newest job is no longer the one read.

  KEYS[1] due   KEYS[2] revisions   KEYS[3] decided   KEYS[4] claims   KEYS[5] inflight
  KEYS[6] lastJobs   KEYS[7] the schedule's runs list
  ARGV[1] name   ARGV[2] due tick read   ARGV[3] revision read   ARGV[4] tick to run ('' for none)
  ARGV[5] next tick   ARGV[6] how many ticks were missed ('' when too many to count)
  ARGV[7] first missed ('' for none)   ARGV[8] last missed
  ARGV[9] '1' when overlap is 'skip'   ARGV[10] newest job read ('' for none)
  ARGV[11] '1' when that job is unfinished   ARGV[12] lease end (ms)   ARGV[13] now (ms)
  ARGV[14] runs kept

  Returns 1 claimed (add the job, then record), 0 not (the tick was decided by another, or the
  schedule changed), 2 read the newest job again, 3 skipped for overlap, 4 nothing to run (missed).
]]
local name, dueTick, runTick, nextTick = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local now, kept = ARGV[13], ARGV[14]

if redis.call('ZSCORE', KEYS[1], name) ~= dueTick then return 0 end
if redis.call('HGET', KEYS[2], name) ~= ARGV[3] then return 0 end
local newest = math.max(tonumber(dueTick), tonumber(runTick) or 0, tonumber(ARGV[8]) or 0)
if tonumber(nextTick) <= newest then return redis.error_reply('claimScheduleTick: next tick ' .. nextTick .. ' is not after ' .. newest) end

local lastJob = redis.call('HGET', KEYS[6], name) or ''
local overlapSkip = ARGV[9] == '1' and runTick ~= ''
if overlapSkip and lastJob ~= ARGV[10] then return 2 end

if ARGV[7] ~= '' then
  pushRun(KEYS[7], {tick = ARGV[7], lastTick = ARGV[8], count = ARGV[6], kind = 'tick', status = 'missed', at = now}, kept)
end
redis.call('ZADD', KEYS[1], nextTick, name)
redis.call('HSET', KEYS[3], name, newest)
if runTick == '' then return 4 end

if overlapSkip and (ARGV[11] == '1' or tonumber(redis.call('HGET', KEYS[5], name) or '0') > 0) then
  local reason = 'the previous run is still being added'
  if ARGV[11] == '1' then reason = 'the previous run\'s job ' .. lastJob .. ' is unfinished' end
  pushRun(KEYS[7], {tick = runTick, kind = 'tick', status = 'skipped', job = lastJob, reason = reason, at = now}, kept)
  return 3
end

redis.call('ZADD', KEYS[4], ARGV[12], name .. '|' .. runTick .. '|tick')
redis.call('HINCRBY', KEYS[5], name, 1)
return 1
