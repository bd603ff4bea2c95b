--[[
  Shared by every script that changes an event. Each receives one key, KEYS[1] = event:{E}, and
  builds the event's others from its hash tag {E} (eventContext, generated from engine/keys.ts), so
  one slot holds the whole event:
    event:{E}        hash: instock, held, paid, capacity, limits, sale window, display
    line:{E}         zset: waiting bookings, score = arrival sequence
    holds:{E}        zset: held bookings, score = expiresAtMs
    people:{E}       hash: userId -> '<tickets held + paid>' (per-person limit), then ':<id>' of
                     that person's waiting or held booking while there is one (includes/booking.lua)
    log:{E}          stream: every change, replayed into PostgreSQL by the relay
    booking:{E}:     prefix of one hash per booking
    idem:{E}:        prefix of idempotency keys
    rate:{E}:        prefix of the token buckets per IP and per userId (the hold scripts' gate)
    pow:{E}:         prefix of used proof-of-work nonces (the hold scripts' gate)
  The process's settings (SETTINGS: holdMs, reclaimMax, ...) are constants written into each
  script when it loads (generated/settings), so they are not sent with every call.
]]
--- @include "generated/schema"
--- @include "generated/keys"
--- @include "generated/settings"

-- event.holds_due_at when nothing is held: later than any hold can end.
local HOLDS_NONE_DUE = 9007199254740991

local function loadEvent(ctx)
  return readEvent(ctx.event)
end

-- How long a new or served hold lasts: the event's own length, else the process's (HOLD_SECONDS).
local function holdMsOf(ev)
  if ev.holdMs > 0 then return ev.holdMs end
  return SETTINGS.holdMs
end

local function saleOpen(ev, nowMs)
  return ev.status == 'on_sale' and nowMs >= ev.saleStartsAtMs
    and (ev.saleEndsAtMs == 0 or nowMs < ev.saleEndsAtMs)
end

local function saleOver(ev, nowMs)
  return ev.status == 'closed' or (ev.saleEndsAtMs > 0 and nowMs >= ev.saleEndsAtMs)
end

-- The opening of every script that changes an event's bookings: its keys, the clock
-- (ARGV[1] nowMs) and the hold length (the event's own, else SETTINGS.holdMs).
-- Returns nil when the event is not live. With headOnly, ev holds the event's head fields
-- only (readEventHead: what refuses a sold-out hold); readEventRest(ctx.event, ev) adds the rest.
local function openEvent(keys, argv, headOnly)
  local ctx = eventContext(keys[1])
  local ev
  if headOnly then ev = readEventHead(ctx.event) else ev = loadEvent(ctx) end
  if not ev then return nil end
  return ctx, ev, tonumber(argv[1]), holdMsOf(ev)
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
