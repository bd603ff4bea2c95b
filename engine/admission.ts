import type { RedisClient } from "./redis.js";
import type { Config } from "./config.js";
import { EngineError, isEngineErrorCode } from "./errors.js";
import { eventKey, powNonceKey, rateIpKey, rateUserKey } from "./keys.js";
import { metrics } from "./metrics.js";
import { issueChallenge, readChallenge, solves, type Challenge } from "./pow.js";
import { defineScripts, type ScriptCommands } from "./scripts.js";

// The anti-bot gate in front of the hold script: per-IP and per-user token buckets and the
// event's proof-of-work, all decided in one atomic script (lua/admit.lua). The per-person
// ticket limit, one open booking per person and the line cap are the hold script's.

export interface AdmissionRequest {
  eventId: string;
  userId: string;
  clientIp: string;
  /** Both empty when the client sent no proof. */
  powChallenge: string;
  powSolution: string;
}

export class Admission {
  private readonly redis: RedisClient & ScriptCommands;

  constructor(
    redis: RedisClient,
    private readonly config: Config,
  ) {
    this.redis = defineScripts(redis);
  }

  /** Resolves when the request may go on to the hold script; throws RATE_LIMITED or POW_* otherwise. */
  async admit(request: AdmissionRequest, nowMs = Date.now()): Promise<void> {
    const { limits, powSecret } = this.config;
    const given = request.powChallenge !== "" || request.powSolution !== "";
    let proof: Challenge | null = null;
    if (given) {
      const read = readChallenge(powSecret, request.powChallenge, request.eventId, nowMs);
      if (read && solves(read.challenge, request.powSolution, read.bits)) proof = read;
    }
    const reply = await this.redis.admit(
      eventKey(request.eventId),
      rateIpKey(request.eventId, request.clientIp),
      rateUserKey(request.eventId, request.userId),
      powNonceKey(request.eventId, proof?.nonce ?? ""),
      nowMs,
      limits.rateIpPerS,
      limits.rateIpBurst,
      limits.rateUserPerS,
      limits.rateUserBurst,
      proof?.bits ?? 0,
      proof?.expiresAtMs ?? 0,
    );
    let code = String(reply[0]);
    if (code === "ok") return;
    // A proof was sent but is forged, expired, for another event or wrong: say so.
    if (code === "POW_REQUIRED" && given && proof === null) code = "POW_INVALID";
    const detail = String(reply[1] ?? "");
    metrics.admissionRefusals.inc({ reason: code === "RATE_LIMITED" ? `rate_${detail.split(":")[0]}` : code.toLowerCase() });
    if (!isEngineErrorCode(code)) throw new Error(`admit script answered an unknown code: ${code}`);
    throw new EngineError(code, detail);
  }

  /** A fresh challenge at the event's current difficulty; null if the event is not live. */
  async challenge(eventId: string, nowMs = Date.now()): Promise<Challenge | null> {
    const [status, bits] = await this.redis.hmget(eventKey(eventId), "status", "pow_bits");
    if (status === null) return null;
    return issueChallenge(this.config.powSecret, eventId, Number(bits ?? 0), this.config.powTtlMs, nowMs);
  }
}
