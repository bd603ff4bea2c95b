import type PgBoss from "pg-boss";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import type { PaymentProvider } from "../engine/payments.js";
import type { Pool } from "../sql/db.js";
import { sql } from "../sql/queries.js";
import { QUEUES, workEach } from "./queues.js";

// The payments-refund job: gives back a payment the engine could not apply. The payment
// row is the outbox (refund_due, or mismatch until its refund_ref is set); the provider's
// idempotency key is the payment's own session, so a retried job, or two facts about the
// same payment, refund it once.

export interface RefundJob {
  paymentId: string;
  reason: string;
}

interface PaymentToRefund {
  id: string;
  booking_id: string;
  provider_ref: string;
  payment_intent: string | null;
  amount: number;
  owed: boolean;
}

export class Refunds {
  constructor(
    private readonly pool: Pool,
    private readonly provider: PaymentProvider,
    private readonly log: Logger,
  ) {}

  async issue({ paymentId, reason }: RefundJob): Promise<"refunded" | "not_due"> {
    const { rows } = await this.pool.query<PaymentToRefund>(sql.paymentToRefund, [paymentId]);
    const payment = rows[0];
    if (payment === undefined || !payment.owed) return "not_due";
    let intent = payment.payment_intent;
    if (intent === null) {
      intent = await this.provider.paymentIntentOf(payment.provider_ref);
      if (intent === null) throw new Error(`checkout ${payment.provider_ref} has no payment intent to refund`);
      await this.pool.query(sql.setPaymentIntent, [payment.id, intent]);
    }
    const refund = await this.provider.refund({
      paymentIntent: intent,
      amount: payment.amount,
      idempotencyKey: `refund:${payment.provider_ref}`,
      bookingId: payment.booking_id,
      reason,
    });
    await this.pool.query(sql.markRefunded, [payment.id, refund.id]);
    metrics.refunds.inc({ result: "refunded" });
    this.log.info({ paymentId, bookingId: payment.booking_id, refundId: refund.id, amount: payment.amount }, "refund issued");
    return "refunded";
  }

  /** A refund whose retries are spent: an operator has to look at it. */
  async giveUp(job: RefundJob, error: string): Promise<void> {
    await this.pool.query(sql.markRefundFailed, [job.paymentId, error]);
    metrics.refunds.inc({ result: "failed" });
    this.log.error({ paymentId: job.paymentId, error }, "refund failed after every retry");
  }

  /** Workers for the refund queue and its dead letters. */
  async work(boss: PgBoss): Promise<void> {
    await workEach<RefundJob>(boss, QUEUES.refund, async (job) => {
      await this.issue(job);
    });
    await workEach<RefundJob>(boss, QUEUES.refund, (job) => this.giveUp(job, "retries spent; see the job's output in pgboss.job"), QUEUES.refund.deadLetter);
  }
}
