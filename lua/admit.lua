--[[
  Admit: the anti-bot gate a booking request passes before the hold script. Two token
  buckets (the client's IP and the userId) are taken from together or not at all; then,
  if the event asks for a proof-of-work, the presented challenge must be hard enough and
  unused (its nonce is remembered until the challenge expires, so each solves one booking).

  Input:
    KEYS[1] event:{E}              hash; field pow_bits is the difficulty asked
    KEYS[2] rate:{E}:ip:<ip>       hash: tokens, atMs
    KEYS[3] rate:{E}:user:<user>   hash: tokens, atMs
    KEYS[4] pow:{E}:<nonce>        string while a challenge is used; pow:{E}: when none given
    ARGV[1] nowMs
    ARGV[2] ipPerS         ARGV[3] ipBurst
    ARGV[4] userPerS       ARGV[5] userBurst
    ARGV[6] powBits        difficulty of the presented challenge; 0 when none was given
    ARGV[7] powExpiresAtMs when the presented challenge expires

  Output: { 'ok' }
      or  { errorCode, detail }
        RATE_LIMITED (detail: 'ip:<waitMs>' or 'user:<waitMs>'),
        POW_REQUIRED (detail: bits asked), POW_REUSED
]]

local nowMs = tonumber(ARGV[1])

-- A bucket refilled at perS tokens a second up to burst; nil when it holds less than one.
local function bucket(key, perS, burst)
  local v = redis.call('HMGET', key, 'tokens', 'atMs')
  local tokens = tonumber(v[1]) or burst
  local atMs = tonumber(v[2]) or nowMs
  tokens = math.min(burst, tokens + math.max(0, nowMs - atMs) * perS / 1000)
  return tokens
end

local function waitMs(tokens, perS)
  return math.ceil((1 - tokens) * 1000 / perS)
end

local ipPerS, ipBurst = tonumber(ARGV[2]), tonumber(ARGV[3])
local userPerS, userBurst = tonumber(ARGV[4]), tonumber(ARGV[5])
local ipTokens = bucket(KEYS[2], ipPerS, ipBurst)
local userTokens = bucket(KEYS[3], userPerS, userBurst)
if ipTokens < 1 then return { 'RATE_LIMITED', 'ip:' .. waitMs(ipTokens, ipPerS) } end
if userTokens < 1 then return { 'RATE_LIMITED', 'user:' .. waitMs(userTokens, userPerS) } end
-- A full bucket equals no key, so a key lives only as long as it takes to refill.
redis.call('HSET', KEYS[2], 'tokens', ipTokens - 1, 'atMs', nowMs)
redis.call('PEXPIRE', KEYS[2], math.ceil(ipBurst * 1000 / ipPerS) + 1000)
redis.call('HSET', KEYS[3], 'tokens', userTokens - 1, 'atMs', nowMs)
redis.call('PEXPIRE', KEYS[3], math.ceil(userBurst * 1000 / userPerS) + 1000)

local asked = tonumber(redis.call('HGET', KEYS[1], 'pow_bits') or '0')
if asked > 0 then
  if tonumber(ARGV[6]) < asked then return { 'POW_REQUIRED', asked } end
  local ttlMs = tonumber(ARGV[7]) - nowMs
  if ttlMs < 1 or not redis.call('SET', KEYS[4], 1, 'NX', 'PX', ttlMs) then
    return { 'POW_REUSED', '' }
  end
end
return { 'ok' }
