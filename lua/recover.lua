--[[
  Recover: brings back into a live event what PostgreSQL knows and Redis lost (a FLUSHALL, a
  failover to a stale replica, a restart from an old snapshot). It only ever raises, so it is
  safe on a healthy event, where every value is already at or above PostgreSQL's. PostgreSQL
  is only trusted when it has every change Redis logged: if the log holds entries past the
  relay's offset, nothing is written and the caller tries again later (a log that ends before
  the offset is a Redis that lost entries PostgreSQL has).
  - per-person tallies: at least each person's paid tickets, so the per-person limit holds;
  - bookings an applied payment fact says are paid: made paid again (their hash written back
    from PostgreSQL's row when it is gone), their tickets taken from instock, or from their
    hold; when no stock is left or nobody is known for the booking, it is left as it is and
    named in the reply: the caller sends that payment back;
  - paid tickets: PostgreSQL's paid count plus the payments restored that the relay had not
    written, taken from instock (refused if instock is short);
  - the arrival and hold counters: above every sequence PostgreSQL has, so new bookings do
    not reuse the numbers of bookings it already holds.

  Input:
    KEYS[1] event:{E}       the event's key; its other keys are built from its hash tag (includes/context.lua)
    ARGV[1] paidInDb        tickets paid according to PostgreSQL
    ARGV[2] maxArrivalSeq   highest arrival_seq PostgreSQL has for the event
    ARGV[3] maxHoldSeq      highest hold_seq PostgreSQL has for the event
    ARGV[4] relayedUpTo     the relay's offset read in the same snapshot as ARGV[1..3]
    ARGV[5] nowMs
    ARGV[6] restore         JSON list of paid bookings to restore, each [bookingId, relayed (1 when
                            PostgreSQL's row is paid), userId ('' when unknown), qty, amount,
                            currency, paymentRef, seq, hseq, email, createdMs]
    ARGV[7..] userId, paid tickets pairs from PostgreSQL

  Output: { 'ok', paidAdded, countersRaised, talliesRaised, restored, { unrestored bookingId... } }
        | { 'RELAY_BEHIND', lastLogId } | { 'EVENT_NOT_FOUND', '' } | { 'CAPACITY_BELOW_SOLD', paidInDb }
]]
--- @include "includes/context"
--- @include "includes/booking"

local ctx = eventContext(KEYS[1])
local paidInDb, maxSeq, maxHold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local nowMs = tonumber(ARGV[5])

local ev = loadEvent(ctx)
if not ev or not ev.instock then return { 'EVENT_NOT_FOUND', '' } end

-- Stream ids are '<ms>-<seq>'; both parts fit a Lua number exactly.
local function streamIdAfter(a, b)
  local aMs, aSeq = string.match(a, '^(%d+)-?(%d*)$')
  local bMs, bSeq = string.match(b, '^(%d+)-?(%d*)$')
  aMs, bMs = tonumber(aMs), tonumber(bMs)
  if aMs ~= bMs then return aMs > bMs end
  return (tonumber(aSeq) or 0) > (tonumber(bSeq) or 0)
end

local last = redis.call('XREVRANGE', ctx.log, '+', '-', 'COUNT', 1)[1]
if last and streamIdAfter(last[1], ARGV[4]) then return { 'RELAY_BEHIND', last[1] } end

-- Checked before anything is written: Redis does not roll back a script that refuses halfway.
if paidInDb - ev.paid > ev.instock then return { 'CAPACITY_BELOW_SOLD', paidInDb } end

-- A booking PostgreSQL's row describes (r), as a hash of its own again, not yet in any state.
local function bookingFromDb(r)
  return {
    id = r[1], key = ctx.bookingPrefix .. r[1], user = r[3], qty = r[4], state = '', seq = r[8], exp = 0,
    amount = r[5], currency = r[6], email = r[10], pay = r[7], reason = '', created = r[11], token = '',
    hseq = r[9], idem = '',
  }
end

-- Tickets paid in Redis that PostgreSQL's paid count lacks (the relay had not written them).
local paidUnrelayed = 0
-- Paid tickets Redis does not count yet: instock keeps them aside.
local function owed()
  return math.max(0, paidInDb + paidUnrelayed - ev.paid)
end

-- Makes one booking paid again. Returns 'kept' (it was paid), 'restored' or 'refused', and
-- its tickets. A booking PostgreSQL has as paid is listed only when its last change is past
-- the end of this log, so a missing hash was lost, not let go after the retention period.
local function restorePaid(r)
  local b = loadBooking(ctx, r[1])
  if b and b.state == STATE.paid then return 'kept', b.qty end
  -- Tickets the person did not count yet: a held booking's are counted already.
  local tickets = 0
  if b and b.state == STATE.held then
    redis.call('ZREM', ctx.holds, b.id)
    moveStock(ctx, ev, 0, -b.qty, b.qty)
  else
    local qty = b and b.qty or r[4]
    -- A booking PostgreSQL counts as paid is part of owed; any other must leave owed in stock.
    local spare = ev.instock
    if r[2] == 0 then spare = ev.instock - owed() end
    if (not b and r[3] == '') or spare < qty then return 'refused', qty end
    if not b then
      b = bookingFromDb(r)
      saveBooking(b)
    elseif b.state == STATE.waiting then
      redis.call('ZREM', ctx.line, b.id)
    end
    moveStock(ctx, ev, -b.qty, 0, b.qty)
    tickets = b.qty
  end
  updatePerson(ctx, b, tickets, true)
  b.pay = r[7]
  setState(ctx, b, STATE.paid, 'payment_restored', nowMs)
  return 'restored', b.qty
end

local restored, unrestored = 0, {}
for _, r in ipairs(cjson.decode(ARGV[6])) do
  local result, qty = restorePaid(r)
  if result == 'restored' then restored = restored + 1 end
  if result == 'refused' then unrestored[#unrestored + 1] = r[1] end
  if r[2] == 0 and (result == 'restored' or result == 'kept') then paidUnrelayed = paidUnrelayed + qty end
end

-- Raised after the restores, which count their own tickets: a booking restored here that
-- PostgreSQL also counts as paid is then counted once.
local talliesRaised = 0
for i = 7, #ARGV, 2 do
  local user, paid = ARGV[i], tonumber(ARGV[i + 1])
  local tickets, openId = readPerson(ctx, user)
  if tickets < paid then
    writePerson(ctx, user, paid, openId)
    talliesRaised = talliesRaised + 1
  end
end

local paidAdded = owed()
if paidAdded > 0 then moveStock(ctx, ev, -paidAdded, 0, paidAdded) end

local countersRaised = 0
local seqs = redis.call('HMGET', ctx.event, EVENT.nextSeq, EVENT.nextHold)
if (tonumber(seqs[1]) or 0) < maxSeq then
  redis.call('HSET', ctx.event, EVENT.nextSeq, maxSeq)
  countersRaised = countersRaised + 1
end
if (tonumber(seqs[2]) or 0) < maxHold then
  redis.call('HSET', ctx.event, EVENT.nextHold, maxHold)
  countersRaised = countersRaised + 1
end

return { 'ok', paidAdded, countersRaised, talliesRaised, restored, unrestored }
