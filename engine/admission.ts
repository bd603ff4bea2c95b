import type { AntiBotConfig } from "./config.js";
import { EngineError } from "./errors.js";
import { eventKey } from "./keys.js";
import { metrics } from "./metrics.js";
import { EVENT } from "./schema.js";
import { issueChallenge, readChallenge, solves, type Challenge } from "./pow.js";
import type { RedisClient } from "./redis.js";

// The anti-bot gate: per-IP and per-user token buckets and the event's proof-of-work. The
// proof is checked here (hashing is CPU work, not Redis work); the buckets, the difficulty
// the event asks and the nonce's single use are decided by the hold script itself
// (lua/includes/gate.lua), so a booking is one round trip. A proof that fails here reaches
// the script as none, so it never charges the userId's bucket. The per-person ticket limit,
// one open booking per person and the line cap are the hold script's own checks.

export interface AdmissionRequest {
  eventId: string;
  clientIp: string;
  /** Both empty when the client sent no proof. */
  powChallenge: string;
  powSolution: string;
}

/** What the hold script's gate needs to know of one client's request. */
export interface Gate {
  clientIp: string;
  /** The proof, when one was sent and it solves a genuine, fresh challenge for this event. */
  proof: Challenge | null;
  /** A proof was sent, valid or not: a bad one is told apart from a missing one. */
  proofSent: boolean;
}

const GATE_REFUSALS = new Set(["RATE_LIMITED", "POW_REQUIRED", "POW_REUSED", "IP_BOOKING_LIMIT"]);

/** A hold's error as the client is told it: the gate's refusals are counted, and a bad proof told apart from a missing one. */
export function gateRefusal(error: unknown, gate: Gate | undefined): unknown {
  if (!(error instanceof EngineError) || !GATE_REFUSALS.has(error.code)) return error;
  const { detail } = error;
  // A proof was sent but is forged, expired, for another event or wrong: say so.
  const code = error.code === "POW_REQUIRED" && gate?.proofSent && gate.proof === null ? "POW_INVALID" : error.code;
  metrics.admissionRefusals.inc({
    reason: code === "RATE_LIMITED" ? `rate_${detail.split(":")[0]}` : code.toLowerCase(),
  });
  return code === error.code ? error : new EngineError(code, detail);
}

export class Admission {
  constructor(
    private readonly redis: RedisClient,
    private readonly config: AntiBotConfig,
  ) {}

  /** Checks a sent proof against its challenge; the hold script does the rest. */
  gateOf(request: AdmissionRequest, nowMs = Date.now()): Gate {
    const proofSent = request.powChallenge !== "" || request.powSolution !== "";
    let proof: Challenge | null = null;
    if (proofSent) {
      const read = readChallenge(
        this.config.powSecret,
        request.powChallenge,
        request.eventId,
        this.config.powTtlMs,
        nowMs,
      );
      if (read && solves(read.challenge, request.powSolution, read.bits)) proof = read;
    }
    return { clientIp: request.clientIp, proof, proofSent };
  }

  /** A fresh challenge at the event's current difficulty; null if the event is not live. */
  async challenge(eventId: string, nowMs = Date.now()): Promise<Challenge | null> {
    const [status, bits] = await this.redis.hmget(eventKey(eventId), EVENT.status, EVENT.powBits);
    if (status === null) return null;
    return issueChallenge(this.config.powSecret, eventId, Number(bits ?? 0), this.config.powTtlMs, nowMs);
  }
}
