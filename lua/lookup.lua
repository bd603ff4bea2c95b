--[[
  Lookup: reads one booking for its holder. A wrong token reads as no booking at all.

  Input:
    KEYS[1] booking:{E}:<id>
    KEYS[2] line:{E}
    ARGV[1] token         the secret half of the booking token (what the hash keeps)
    ARGV[2] bookingId

  Output: { 'ok', 'status', id, state, quantity, expiresAtMs, position, token, userId,
            amount, currency, reason } or { 'BOOKING_NOT_FOUND', '' }
]]
local v = redis.call('HMGET', KEYS[1], 'token', 'state', 'qty', 'exp', 'user', 'amount', 'currency', 'reason')
if not v[1] or v[1] ~= ARGV[1] then return { 'BOOKING_NOT_FOUND', '' } end
local position = 0
if v[2] == 'waiting' then position = (redis.call('ZRANK', KEYS[2], ARGV[2]) or -1) + 1 end
return { 'ok', 'status', ARGV[2], v[2], tonumber(v[3]), tonumber(v[4]), position, v[1], v[5],
  tonumber(v[6]), v[7], v[8] }
