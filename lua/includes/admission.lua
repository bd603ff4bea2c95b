--[[
  Steps 3 to 6 of a hold for one request, once expired holds are reclaimed and the line is
  served: idempotent replay, the sale and the person's limits, then hold, queue or refuse.
  Shared by hold.lua (one request) and hold_batch.lua (many, in arrival order).
  req = { id, token, user, qty, email, idemKey, verified, ip, made }; ip '' for internal
  callers; made = the client IP's bookings in the window, as the gate read them.
  Limits from SETTINGS: lineMax, ipBookingsMax; returns the reply hold.lua documents.
  The open booking's id is told only to a request that proved it is that person (verified):
  anyone can type a userId, and the id is half of what reads the booking's state.
]]

local function idempotencyKeyOf(ctx, req)
  return ctx.idemPrefix .. req.user .. ':' .. req.idemKey
end

-- Answered before the gate and the housekeeping: a request nothing can ever serve, as
-- fewer tickets are in stock and held together than it asks for (reclaiming holds and
-- serving the line move tickets between the two, never out). Refusing it changes nothing
-- and tells nothing, so it spends no budget. A request whose Idempotency-Key names a
-- booking goes the whole way, to be answered with that booking; one past the per-person
-- limit or after the sale is told so, as before.
local function refuseSoldOut(ctx, ev, nowMs, req)
  if ev.instock + ev.held >= req.qty or req.qty > ev.maxPerUser or saleOver(ev, nowMs) then return nil end
  if req.idemKey ~= '' and redis.call('EXISTS', idempotencyKeyOf(ctx, req)) == 1 then return nil end
  return { 'SOLD_OUT', '' }
end

local function admit(ctx, ev, nowMs, holdMs, req)
  local bookingId, token, userId, quantity, email, idemKey = req.id, req.token, req.user, req.qty, req.email, req.idemKey
  local idemFull = ''
  if idemKey ~= '' then
    idemFull = idempotencyKeyOf(ctx, req)
    local priorId = redis.call('GET', idemFull)
    if priorId then
      local prior = loadBooking(ctx, priorId)
      if prior then
        if prior.qty ~= quantity then return { 'IDEMPOTENCY_MISMATCH', priorId } end
        return bookingReply(ctx, 'replay', prior)
      end
    end
  end

  if saleOver(ev, nowMs) then return { 'SALE_CLOSED', '' } end
  local tally, openId = readPerson(ctx, userId)
  if tally + quantity > ev.maxPerUser then return { 'PER_PERSON_LIMIT', ev.maxPerUser - tally } end
  if openId then return { 'OPEN_BOOKING_EXISTS', req.verified and openId or '' } end

  local lineLength = ctx.lineLength or redis.call('ZCARD', ctx.line)
  local canHoldNow = saleOpen(ev, nowMs) and lineLength == 0 and ev.instock >= quantity
  if not canHoldNow then
    -- Tickets can still come back only from holds; paid ones rarely do.
    if ev.instock + ev.held < quantity then return { 'SOLD_OUT', '' } end
    if lineLength >= SETTINGS.lineMax then return { 'LINE_FULL', SETTINGS.lineMax } end
  end
  -- One address makes at most ipBookingsMax bookings per event per window, cancelled or
  -- not; the window is the unpaid retention, so the memory a hold-then-cancel loop takes
  -- stays bounded. The counter expires one window after the window's first booking.
  local madeKey = req.ip ~= '' and (ctx.ratePrefix .. 'made:' .. req.ip) or nil
  if madeKey and req.made >= SETTINGS.ipBookingsMax then
    return { 'IP_BOOKING_LIMIT', redis.call('PTTL', madeKey) }
  end

  ev.nextSeq = ev.nextSeq + 1
  local b = {
    id = bookingId, key = ctx.bookingPrefix .. bookingId, user = userId, qty = quantity,
    seq = ev.nextSeq, exp = 0, hseq = 0,
    amount = ev.price * quantity, currency = ev.currency, email = email, pay = '',
    reason = '', created = nowMs, token = token, idem = idemKey,
  }
  if canHoldNow then
    takeHold(ctx, ev, b, nowMs, holdMs, { EVENT.nextSeq, b.seq })
    tally = tally + quantity
    b.state = STATE.held
  else
    redis.call('HSET', ctx.event, EVENT.nextSeq, b.seq, EVENT.lineEmpty, 0)
    redis.call('ZADD', ctx.line, b.seq, b.id)
    ctx.lineLength, ev.lineEmpty = lineLength + 1, 0
    b.state = STATE.waiting
  end
  saveBooking(b)
  writePerson(ctx, userId, tally, b.id)
  if idemFull ~= '' then redis.call('SET', idemFull, b.id, 'PX', SETTINGS.idempotencyTtlMs) end
  if madeKey then
    if req.made == 0 then
      redis.call('SET', madeKey, 1, 'PX', SETTINGS.unpaidRetentionMs)
    else
      redis.call('SET', madeKey, req.made + 1, 'KEEPTTL')
    end
  end
  appendLog(ctx, b.state, b, nowMs)

  -- The reply's kind is the new booking's state: held, or waiting at the end of the line.
  return bookingReplyOf(b.state, b, b.state == STATE.waiting and ctx.lineLength or 0)
end
