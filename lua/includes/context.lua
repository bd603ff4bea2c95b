--[[
  Shared by every script that changes an event. All scripts receive the same KEYS (EVENT_KEYS in engine/keys.ts),
  all carrying the event's hash tag {E}, so one slot holds the whole event:
    KEYS[1] event:{E}        hash: instock, held, paid, capacity, limits, sale window, display
    KEYS[2] line:{E}         zset: waiting bookings, score = arrival sequence
    KEYS[3] holds:{E}        zset: held bookings, score = expiresAtMs
    KEYS[4] open:{E}         hash: userId -> id of that person's waiting or held booking
    KEYS[5] tally:{E}        hash: userId -> tickets held + paid (per-person limit)
    KEYS[6] log:{E}          stream: every change, replayed into PostgreSQL by the relay
    KEYS[7] booking:{E}:     prefix of one hash per booking
    KEYS[8] idem:{E}:        prefix of idempotency keys
    KEYS[9]  rate:{E}:       prefix of the token buckets per IP and per userId (the hold scripts' gate)
    KEYS[10] pow:{E}:        prefix of used proof-of-work nonces (the hold scripts' gate)
]]
--- @include "generated/schema"

-- event.holds_due_at when nothing is held: later than any hold can end.
local HOLDS_NONE_DUE = 9007199254740991

-- unpaidRetentionMs is set by each script that changes bookings, from its ARGV; lineLength
-- is set (to 0) only once serving the line found it empty, else the line is counted.
local function eventContext(keys)
  return {
    event = keys[1], line = keys[2], holds = keys[3], open = keys[4],
    tally = keys[5], log = keys[6], bookingPrefix = keys[7], idemPrefix = keys[8],
    ratePrefix = keys[9], powPrefix = keys[10], unpaidRetentionMs = nil, lineLength = nil,
  }
end

local function loadEvent(ctx)
  return readEvent(ctx.event)
end

-- How long a new or served hold lasts: the event's own length, else the caller's (HOLD_SECONDS).
local function holdMsOf(ev, defaultMs)
  if ev.holdMs > 0 then return ev.holdMs end
  return defaultMs
end

local function saleOpen(ev, nowMs)
  return ev.status == 'on_sale' and nowMs >= ev.saleStartsAtMs
    and (ev.saleEndsAtMs == 0 or nowMs < ev.saleEndsAtMs)
end

local function saleOver(ev, nowMs)
  return ev.status == 'closed' or (ev.saleEndsAtMs > 0 and nowMs >= ev.saleEndsAtMs)
end

-- The opening of every script that changes an event's bookings: its keys, the clock
-- (ARGV[1] nowMs) and the hold length (ARGV[2] holdMs, unless the event sets its own).
-- Returns nil when the event is not live.
local function openEvent(keys, argv)
  local ctx = eventContext(keys)
  local ev = loadEvent(ctx)
  if not ev then return nil end
  return ctx, ev, tonumber(argv[1]), holdMsOf(ev, tonumber(argv[2]))
end

-- Moves tickets between instock, held and paid. The invariant is checked before anything
-- is written, because Redis does not roll back a script that fails halfway. `also` (field,
-- value, ...) are other event fields written with the counters, in the same HSET.
local function moveStock(ctx, ev, dInstock, dHeld, dPaid, also)
  local instock, held, paid = ev.instock + dInstock, ev.held + dHeld, ev.paid + dPaid
  if instock < 0 or held < 0 or paid < 0 or instock + held + paid ~= ev.capacity then
    error('invariant: instock ' .. instock .. ' + held ' .. held .. ' + paid ' .. paid
      .. ' ~= capacity ' .. ev.capacity)
  end
  ev.instock, ev.held, ev.paid = instock, held, paid
  if also then
    redis.call('HSET', ctx.event, EVENT.instock, instock, EVENT.held, held, EVENT.paid, paid, unpack(also))
  else
    redis.call('HSET', ctx.event, EVENT.instock, instock, EVENT.held, held, EVENT.paid, paid)
  end
end
