--[[
  Confirm: the payment gateway's webhook says a booking was paid. Idempotent: the same
  payment twice changes nothing. A payment for a hold that timed out or whose checkout
  failed takes stock again if any is in stock (money has moved; a refund is the worse
  outcome for everyone), otherwise the booking becomes refunded and the caller issues the
  refund; so does one that would put the person past the per-person limit (they held or
  bought others since the hold ended). A person who cancelled while their payment was in flight said they do not want
  the tickets: their booking stays cancelled and the payment is refunded.

  Input:
    KEYS[1] event:{E}       the event's key; its other keys are built from its hash tag (includes/context.lua)
    ARGV[1] nowMs
    ARGV[2] bookingId
    ARGV[3] paymentRef    the provider's payment id (checkout session)
    ARGV[4] amount        minor units actually paid
    ARGV[5] currency      lower-case ISO code actually paid
  The settings are the process's, written into the script when it loads (SETTINGS, includes/context.lua).

  Output: { 'ok', outcome, id, state, ... } (see bookingReply), outcome one of
      paid        the hold became paid
      late_paid   the hold had ended; stock was taken again
      duplicate   this payment was applied before
      refund      the hold had ended and no stock is left, the person had cancelled, or
                  the booking was already settled by another payment: the caller refunds
                  this payment (again, for a redelivery: refunds are idempotent per payment)
      over_limit  the hold had ended and taking stock again would put the person past the
                  per-person limit: the booking becomes refunded and the caller refunds
      mismatch    amount or currency differ from the booking's: not confirmed, flagged
    or { 'BOOKING_NOT_FOUND', '' }
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"

local ctx, ev, nowMs, holdMs = openEvent(KEYS, ARGV)
if not ctx then return { 'BOOKING_NOT_FOUND', '' } end
local bookingId, paymentRef, amount, currency = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
reclaimExpired(ctx, ev, nowMs)

local b = loadBooking(ctx, bookingId)
if not b then return { 'BOOKING_NOT_FOUND', '' } end

local outcome
if b.pay == paymentRef and b.state == STATE.paid then
  outcome = 'duplicate'
elseif b.pay == paymentRef and b.state == STATE.refunded then
  -- Answered again so a caller that crashed before queueing the refund queues it now.
  outcome = 'refund'
elseif amount ~= b.amount or currency ~= b.currency then
  redis.call('HSET', b.key, BOOKING.flag, 'amount_mismatch:' .. paymentRef)
  outcome = 'mismatch'
elseif b.state == STATE.held then
  b.pay = paymentRef
  redis.call('ZREM', ctx.holds, b.id)
  moveStock(ctx, ev, 0, -b.qty, b.qty)
  updatePerson(ctx, b, 0, true)
  setState(ctx, b, STATE.paid, 'payment', nowMs)
  outcome = STATE.paid
elseif b.state == STATE.cancelled and b.reason == 'user' then
  outcome = 'refund'
elseif (b.state == STATE.expired or b.state == STATE.cancelled)
    and readPerson(ctx, b.user) + b.qty > ev.maxPerUser then
  -- The person holds or bought others since this hold ended: taking stock again would put
  -- them past the per-person limit.
  b.pay = paymentRef
  setState(ctx, b, STATE.refunded, 'late_payment_over_limit', nowMs)
  outcome = 'over_limit'
elseif (b.state == STATE.expired or b.state == STATE.cancelled) and ev.instock >= b.qty then
  b.pay = paymentRef
  moveStock(ctx, ev, -b.qty, 0, b.qty)
  updatePerson(ctx, b, b.qty, false)
  setState(ctx, b, STATE.paid, 'late_payment', nowMs)
  outcome = 'late_paid'
elseif b.state == STATE.waiting or b.state == STATE.paid or b.state == STATE.refunded then
  -- Paid twice, or paid without ever holding: this payment goes back, the booking stays.
  outcome = 'refund'
else
  b.pay = paymentRef
  setState(ctx, b, STATE.refunded, 'late_payment_no_stock', nowMs)
  outcome = 'refund'
end
serveLine(ctx, ev, nowMs, holdMs)
return bookingReply(ctx, outcome, b)
