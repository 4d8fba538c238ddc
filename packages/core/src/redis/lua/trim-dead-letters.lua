--[[
  trimDeadLetters: removes dead-letter entries found past the stream's bounds (at most DEAD_JOBS_MAX
  entries, none older than DEAD_JOB_RETENTION_MS; see DeadLetterTrim), with each one's job hash when
  the job is still dead from that entry (PostgreSQL keeps the job), so the bound holds for memory,
  not only for the stream. An entry retried meanwhile keeps its job, which lives on.

  KEYS[1..3] events, counts, throughput   KEYS[4] dlq   KEYS[5..n] job hashes, one per entry
  ARGV[1..n] the dead-letter entry ids, in the order of the job hashes

  Returns how many job hashes went.
]]
local removed = 0
for i = 5, #KEYS do
  local dlqId = ARGV[i - 4]
  local job = redis.call('HMGET', KEYS[i], 'status', 'dlqId')
  if job[1] == 'dead' and job[2] == dlqId then
    redis.call('DEL', KEYS[i])
    moveCount('dead', false)
    removed = removed + 1
  end
end
if #ARGV > 0 then redis.call('XDEL', KEYS[4], unpack(ARGV)) end
return removed
