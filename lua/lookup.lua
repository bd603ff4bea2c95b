--[[
  Lookup: reads one booking for its holder. A wrong token reads as no booking at all.

  Input:
    KEYS[1] booking:{E}:<id>
    KEYS[2] line:{E}
    ARGV[1] token         the secret half of the booking token (what the hash keeps)
    ARGV[2] bookingId

  Output: { 'ok', 'status', id, state, ... } (see bookingReply) or { 'BOOKING_NOT_FOUND', '' }
]]
--- @include "includes/context"
--- @include "includes/booking"

local b = readBooking(KEYS[1], ARGV[2])
if not b or b.token ~= ARGV[1] then return { 'BOOKING_NOT_FOUND', '' } end
return bookingReply({ line = KEYS[2] }, 'status', b)
