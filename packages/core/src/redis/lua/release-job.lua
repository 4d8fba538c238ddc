--[[
  releaseJob: hands an attempt that a stopping worker could not finish back to the stream at once,
  for another worker to take, instead of waiting out the visibility timeout. The interrupted attempt
  does not count against the job's attempts.

  KEYS[1..3] events, counts, throughput   KEYS[4] the stream of the job's band   KEYS[5] job hash
  KEYS[6..8] fair queue, its tags, grouped stream (see setFair)
  ARGV[1] group    ARGV[2] stream entry id   ARGV[3] attempt   ARGV[4] now (ms)   ARGV[5] worker

  Returns 1 when released, 0 when the attempt is no longer the job's current one (nothing is
  changed for the job then).
]]
local stream, jobKey = KEYS[4], KEYS[5]
setFair(KEYS[6], KEYS[7], KEYS[8])
local group, sid, attempt, now, worker = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local current, job = currentAttempt(jobKey, sid, attempt, worker)
if not current then
  if not entryIsLive(job, sid) then dropEntry(stream, group, {sid}) end
  return 0
end

local attempts = tostring(math.max(tonumber(job[3]) - 1, 0))
dropEntry(stream, group, {sid})
requeue(stream, jobKey, job[5], 'processing', attempts, now, {'attempts', attempts},
  {'worker', worker, 'error', 'interrupted: its worker shut down'})
return 1
