--[[
  trimDeadLetters: trims a queue's dead-letter stream to its bounds (see the step of that name), for
  the maintenance pass that runs even when no job dies.

  KEYS[1] dlq   KEYS[2] events
  ARGV[1] job hash key prefix   ARGV[2] now (ms)   ARGV[3] retention (ms)   ARGV[4] max length
  ARGV[5] most entries to trim

  Returns how many entries were trimmed.
]]
return trimDeadLetters(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]))
