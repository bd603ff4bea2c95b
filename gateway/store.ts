import { randomBytes } from "node:crypto";

// What the mock gateway remembers: Checkout Sessions (by id and by payment intent) and the
// first answer to each Idempotency-Key, all bounded.

export interface Session {
  id: string;
  object: "checkout.session";
  url: string;
  mode: string;
  status: "open" | "complete" | "expired";
  payment_status: "unpaid" | "paid";
  amount_total: number;
  currency: string;
  client_reference_id: string | null;
  metadata: Record<string, string>;
  payment_intent: string;
  success_url: string;
  cancel_url: string;
  expires_at: number;
  created: number;
  line_items_name: string;
  quantity: number;
  /** What the mock has refunded of this payment, in minor units. */
  amount_refunded: number;
}

/** Sessions kept at most; the oldest go first. */
const SESSIONS_MAX = 100_000;
/** Idempotency keys kept at most; the oldest go first. */
const IDEMPOTENCY_KEYS_MAX = 100_000;

export const randomId = (prefix: string) => `${prefix}_${randomBytes(12).toString("hex")}`;
export const nowSeconds = () => Math.floor(Date.now() / 1000);

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly sessionByIntent = new Map<string, string>();
  private readonly byIdempotencyKey = new Map<string, unknown>();

  remember(session: Session): void {
    if (this.sessions.size >= SESSIONS_MAX) {
      const oldest = this.sessions.values().next().value!;
      this.sessions.delete(oldest.id);
      this.sessionByIntent.delete(oldest.payment_intent);
    }
    this.sessions.set(session.id, session);
    this.sessionByIntent.set(session.payment_intent, session.id);
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  byIntent(intent: string): Session | undefined {
    return this.sessions.get(this.sessionByIntent.get(intent) ?? "");
  }

  /** The session if it can still be paid or expired. */
  open(id: string): Session | null {
    const session = this.sessions.get(id);
    return session !== undefined && session.status === "open" ? session : null;
  }

  all(): IterableIterator<Session> {
    return this.sessions.values();
  }

  /** The first answer given under an Idempotency-Key in a scope, if any. */
  idempotent(scope: string, key: string): unknown {
    return key === "" ? undefined : this.byIdempotencyKey.get(`${scope}:${key}`);
  }

  rememberAnswer(scope: string, key: string, answer: unknown): void {
    if (key === "") return;
    if (this.byIdempotencyKey.size >= IDEMPOTENCY_KEYS_MAX)
      this.byIdempotencyKey.delete(this.byIdempotencyKey.keys().next().value!);
    this.byIdempotencyKey.set(`${scope}:${key}`, answer);
  }
}
