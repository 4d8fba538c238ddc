--[[
  retryDeadJobs: sends back, oldest first, the dead jobs of one queue whose type matches, one batch
  of dead-letter entries at a time.

  KEYS[1] stream   KEYS[2] events   KEYS[3] dlq
  ARGV[1] now (ms)   ARGV[2] type ('' for any)   ARGV[3] entries to look at   ARGV[4] start id (exclusive, '' from the start)
  ARGV[5] job hash key prefix   ARGV[6] last entry id to look at (inclusive): the stream's end when
  the retrying began, so that a job that dies again meanwhile is not sent back twice in one go

  Returns {retried, lastEntryId}; lastEntryId is '' when the batch reached the end.
]]
local now, wanted, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local start = '-'
if ARGV[4] ~= '' then start = '(' .. ARGV[4] end
local entries = redis.call('XRANGE', KEYS[3], start, ARGV[6], 'COUNT', limit)
local retried = 0

for _, entry in ipairs(entries) do
  local jobId = entry[2][2]
  local jobKey = ARGV[5] .. jobId
  local job = redis.call('HMGET', jobKey, 'status', 'type')
  if job[1] == 'dead' and (wanted == '' or job[2] == wanted) then
    sendBackDead(KEYS[1], KEYS[2], jobKey, KEYS[3], jobId, entry[1], now)
    retried = retried + 1
  end
end

if #entries < limit then return {retried, ''} end
return {retried, entries[#entries][1]}
