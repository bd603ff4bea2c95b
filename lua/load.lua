--[[
  Load: puts an event's settings and display fields into Redis, or refreshes them.
  Live inventory is never clobbered: when the event is already live, only the settings
  change, and a capacity change moves instock by the same amount (refused if that would
  take back tickets that are held or paid). When it is not live (new event, or Redis lost
  it), inventory starts from PostgreSQL's count of paid tickets.

  Input:
    KEYS[1] event:{E}       the event's key; its other keys are built from its hash tag (includes/context.lua)
    ARGV[1] capacity
    ARGV[2] paidInDb        tickets paid according to PostgreSQL
    ARGV[3..] field, value pairs: settings and display fields (no inventory fields)

  Output: { 'ok', instock, held, paid, capacity } or { 'CAPACITY_BELOW_SOLD', held + paid }
]]
--- @include "includes/context"

-- Keeps event:{E} a hash table, not a listpack: one value longer than Redis's hash-max-listpack-value
-- (64 bytes by default) does, for good. Every hold reads and writes many of its ~22 fields, and in a
-- listpack each is a scan from its start (a 16-field HMGET measured 2x dearer). One per event.
local HASHTABLE_PAD = string.rep('.', 128)

local ctx = eventContext(KEYS[1])
local capacity, paidInDb = tonumber(ARGV[1]), tonumber(ARGV[2])
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end

local ev = loadEvent(ctx)
if ev and ev.instock then
  local taken = ev.held + ev.paid
  if capacity < taken then return { 'CAPACITY_BELOW_SOLD', taken } end
  ev.instock = capacity - taken
  ev.capacity = capacity
else
  if capacity < paidInDb then return { 'CAPACITY_BELOW_SOLD', paidInDb } end
  ev = { instock = capacity - paidInDb, held = 0, paid = paidInDb, capacity = capacity }
end
redis.call('HSET', ctx.event, EVENT.instock, ev.instock, EVENT.held, ev.held, EVENT.paid, ev.paid,
  EVENT.capacity, ev.capacity, EVENT.hashtablePad, HASHTABLE_PAD, unpack(fields))
return { 'ok', ev.instock, ev.held, ev.paid, ev.capacity }
