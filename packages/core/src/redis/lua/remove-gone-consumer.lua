--[[
  removeGoneConsumer: deletes a consumer from the group if it owns no pending entries and has been
  idle for at least the given time. The check and the delete are one step, so no entry it might
  have just read is dropped with it.

  KEYS[1] stream
  ARGV[1] group   ARGV[2] consumer   ARGV[3] min idle (ms)

  Returns 1 when removed, 0 otherwise.
]]
for _, fields in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #fields, 2 do info[fields[i]] = fields[i + 1] end
  if info['name'] == ARGV[2] then
    if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[3]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
    return 0
  end
end
return 0
