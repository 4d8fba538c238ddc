--[[
  removeSchedule: deletes a schedule with its state and runs. A claim in flight is dropped with it:
  its job may still be added (the caller of the claim is past the point of no return), but it is
  recorded nowhere and never driven again. The claims are read first and given here, as their
  members carry ticks the script cannot know.

  KEYS[1] definitions   KEYS[2] revisions   KEYS[3] due   KEYS[4] decided   KEYS[5] claims
  KEYS[6] inflight   KEYS[7] lastJobs   KEYS[8] the schedule's runs list
  ARGV[1] name   ARGV[2..] the schedule's claims (members of KEYS[5])

  Returns 1 when the schedule existed, 0 when not.
]]
local name = ARGV[1]
if redis.call('HDEL', KEYS[1], name) == 0 then return 0 end
for i = 2, #ARGV do redis.call('ZREM', KEYS[5], ARGV[i]) end
redis.call('HDEL', KEYS[2], name)
redis.call('ZREM', KEYS[3], name)
redis.call('HDEL', KEYS[4], name)
redis.call('HDEL', KEYS[6], name)
redis.call('HDEL', KEYS[7], name)
redis.call('DEL', KEYS[8])
return 1
