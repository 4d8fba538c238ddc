--[[
  takeOverScheduleClaim: takes over a claim whose lease ran out (its scheduler died, or stalled past
  it) for a new lease, so that one scheduler at a time drives it again. Driving it twice would still
  add one job (the idempotency key is the claim's), and record it once (the first record removes the
  claim): the lease only saves the work.

  KEYS[1] claims
  ARGV[1] claim (`name|tick|kind`)   ARGV[2] now (ms)   ARGV[3] new lease end (ms)

  Returns 1 taken over, 0 not (recorded meanwhile, or taken over by another).
]]
local lease = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not lease or tonumber(lease) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
