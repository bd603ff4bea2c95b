import type PgBoss from "pg-boss";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import type { PaymentProvider } from "../engine/payments/provider.js";
import type { Pool } from "../sql/db.js";
import { markRefundFailed, markRefunded, paymentToRefund, setPaymentRef } from "../sql/payments.js";
import { QUEUES, workEach } from "./queues.js";

// The payments-refund job: gives back a payment the engine could not apply. The payment
// row is the outbox (refund_due, or mismatch until its refund_ref is set); the provider's
// idempotency key is the payment's own session, so a retried job, or two facts about the
// same payment, refund it once.

export interface RefundJob {
  paymentId: string;
  reason: string;
}

export class Refunds {
  constructor(
    private readonly pool: Pool,
    private readonly provider: PaymentProvider,
    private readonly log: Logger,
  ) {}

  async issue({ paymentId, reason }: RefundJob): Promise<"refunded" | "not_due"> {
    const payment = await paymentToRefund(this.pool, paymentId);
    if (payment === null || !payment.owed) return "not_due";
    let paymentRef = payment.paymentRef;
    if (paymentRef === null) {
      paymentRef = await this.provider.paymentRefOf(payment.checkoutRef);
      if (paymentRef === null) throw new Error(`checkout ${payment.checkoutRef} has no payment to refund`);
      await setPaymentRef(this.pool, payment.id, paymentRef);
    }
    const refund = await this.provider.refund({
      paymentRef,
      amountMinor: payment.amountMinor,
      currency: payment.currency,
      idempotencyKey: `refund:${payment.checkoutRef}`,
      bookingId: payment.bookingId,
      reason,
    });
    await markRefunded(this.pool, payment.id, refund.id);
    metrics.refunds.inc({ result: "refunded" });
    this.log.info(
      { paymentId, bookingId: payment.bookingId, refundId: refund.id, amountMinor: payment.amountMinor },
      "refund issued",
    );
    return "refunded";
  }

  /** A refund whose retries are spent: an operator has to look at it. */
  async giveUp(job: RefundJob, error: string): Promise<void> {
    await markRefundFailed(this.pool, job.paymentId, error);
    metrics.refunds.inc({ result: "failed" });
    this.log.error({ paymentId: job.paymentId, error }, "refund failed after every retry");
  }

  /** Workers for the refund queue and its dead letters. */
  async work(boss: PgBoss): Promise<void> {
    await workEach<RefundJob>(boss, QUEUES.refund, async (job) => {
      await this.issue(job);
    });
    await workEach<RefundJob>(
      boss,
      QUEUES.refund,
      (job) => this.giveUp(job, "retries spent; see the job's output in pgboss.job"),
      QUEUES.refund.deadLetter,
    );
  }
}
