--[[
  The floor of a hold: the least any hold must do in Redis, to compare the engine's hold
  script with. Takes stock, records the booking, indexes its expiry, logs it. No line, no
  limits, no idempotency, no checks beyond stock.

  Input:
    KEYS[1] stock hash (field instock)
    KEYS[2] the booking hash
    KEYS[3] hold expiry index (sorted set, score = expiresAtMs)
    KEYS[4] log (stream)
    ARGV[1] bookingId
    ARGV[2] userId
    ARGV[3] quantity
    ARGV[4] expiresAtMs
  Output:
    'held' or 'SOLD_OUT'
]]
local quantity = tonumber(ARGV[3])
if tonumber(redis.call('HGET', KEYS[1], 'instock')) < quantity then return 'SOLD_OUT' end
redis.call('HINCRBY', KEYS[1], 'instock', -quantity)
redis.call('HSET', KEYS[2], 'user', ARGV[2], 'qty', quantity, 'state', 'held', 'exp', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('XADD', KEYS[4], '*', 'id', ARGV[1], 'user', ARGV[2], 'qty', quantity, 'state', 'held')
return 'held'
