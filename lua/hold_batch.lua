--[[
  Hold for many people in one call (group commit): the engine coalesces concurrent holds for
  one event and sends them together, in the order they arrived. Expired holds are reclaimed
  and the line served once, then each request is admitted exactly as hold.lua admits one, so
  a batch gives the same answers as the same requests sent one by one.

  Input:
    KEYS[1..8]  the event's keys (see includes/context.lua)
    ARGV[1]  nowMs
    ARGV[2]  holdMs
    ARGV[3]  idempotencyTtlMs
    ARGV[4]  reclaimMax
    ARGV[5]  serveMax
    ARGV[6]  lineMax
    ARGV[7]  retentionMs
    ARGV[8]  count             requests in this batch
    then per request, 6 entries: bookingId, token, userId, quantity, email, idempotencyKey

  Output: one reply per request, in order, each as hold.lua answers it
      or  { { 'EVENT_NOT_FOUND', '' } } once when the event is not live
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"
--- @include "includes/admission"

local REQUEST_FIELDS = 6
local ctx = eventContext(KEYS)
local nowMs, holdMs, idemTtlMs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local reclaimMax, serveMax, lineMax = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local retentionMs, count = tonumber(ARGV[7]), tonumber(ARGV[8])
if #ARGV ~= 8 + count * REQUEST_FIELDS then error('hold_batch: ARGV holds ' .. #ARGV .. ' entries for ' .. count .. ' requests') end

local ev = loadEvent(ctx)
if not ev then return { { 'EVENT_NOT_FOUND', '' } } end

reclaimExpired(ctx, ev, nowMs, reclaimMax, retentionMs)
serveLine(ctx, ev, nowMs, holdMs, serveMax, retentionMs)

local replies = {}
for i = 0, count - 1 do
  local at = 8 + i * REQUEST_FIELDS
  replies[i + 1] = admit(ctx, ev, nowMs, holdMs, { id = ARGV[at + 1], token = ARGV[at + 2], user = ARGV[at + 3],
    qty = tonumber(ARGV[at + 4]), email = ARGV[at + 5], idemKey = ARGV[at + 6] }, idemTtlMs, lineMax)
end
return replies
