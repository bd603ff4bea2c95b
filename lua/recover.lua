--[[
  Recover: brings back into a live event what PostgreSQL knows and Redis lost (a FLUSHALL, a
  failover to a stale replica, a restart from an old snapshot). It only ever raises, so it is
  safe on a healthy event, where every value is already at or above PostgreSQL's. PostgreSQL
  is only trusted when it has every change Redis logged: if the log holds entries past the
  relay's offset, nothing is written and the caller tries again later.
  - paid tickets: PostgreSQL's paid count, taken from instock (refused if instock is short);
  - the arrival and hold counters: above every sequence PostgreSQL has, so new bookings do
    not reuse the numbers of bookings it already holds;
  - per-person tallies: at least each person's paid tickets, so the per-person limit holds.

  Input:
    KEYS[1..10]  the event's keys (see includes/context.lua)
    ARGV[1] paidInDb        tickets paid according to PostgreSQL
    ARGV[2] maxArrivalSeq   highest arrival_seq PostgreSQL has for the event
    ARGV[3] maxHoldSeq      highest hold_seq PostgreSQL has for the event
    ARGV[4] relayedUpTo     the relay's offset read in the same snapshot as ARGV[1..3]
    ARGV[5..] userId, paid tickets pairs from PostgreSQL

  Output: { 'ok', paidAdded, countersRaised, talliesRaised } | { 'RELAY_BEHIND', lastLogId }
        | { 'EVENT_NOT_FOUND', '' } | { 'CAPACITY_BELOW_SOLD', paidInDb }
]]
--- @include "includes/context"

local ctx = eventContext(KEYS)
local paidInDb, maxSeq, maxHold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local ev = loadEvent(ctx)
if not ev or not ev.instock then return { 'EVENT_NOT_FOUND', '' } end

local last = redis.call('XREVRANGE', ctx.log, '+', '-', 'COUNT', 1)[1]
if last and last[1] ~= ARGV[4] then return { 'RELAY_BEHIND', last[1] } end

local paidAdded = 0
if paidInDb > ev.paid then
  paidAdded = paidInDb - ev.paid
  if paidAdded > ev.instock then return { 'CAPACITY_BELOW_SOLD', paidInDb } end
  moveStock(ctx, ev, -paidAdded, 0, paidAdded)
end

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

local talliesRaised = 0
for i = 5, #ARGV, 2 do
  local user, paid = ARGV[i], tonumber(ARGV[i + 1])
  if (tonumber(redis.call('HGET', ctx.tally, user)) or 0) < paid then
    redis.call('HSET', ctx.tally, user, paid)
    talliesRaised = talliesRaised + 1
  end
end
return { 'ok', paidAdded, countersRaised, talliesRaised }
