import type { Logger } from "../engine/logger.js";
import type { PaymentProvider } from "../engine/payments.js";
import { inTransaction, type Pool } from "../sql/db.js";
import { sql } from "../sql/queries.js";

// Closes Checkout Sessions whose hold is over. A session must live 30 minutes at Stripe, a
// hold 5: left open, a person could pay for tickets already handed to the next in line and
// be refunded. Expiring it makes the gateway refuse the payment instead. A payment already
// under way when the session closes still lands, and is handled as a late payment.

/** Sessions one pass closes at most: the pass holds their row locks while it calls the provider. */
export const CHECKOUT_CLOSE_BATCH = 50;

/** Closes sessions whose hold ended more than graceMs ago; true when there may be more. */
export async function closeEndedCheckouts(pool: Pool, provider: PaymentProvider, graceMs: number, log: Logger): Promise<boolean> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{ session_id: string }>(sql.checkoutsToClose, [graceMs, CHECKOUT_CLOSE_BATCH]);
    for (const { session_id: sessionId } of rows) {
      const expired = await provider.expireCheckout(sessionId);
      await client.query(sql.closeCheckout, [sessionId]);
      if (expired) log.info({ sessionId }, "checkout closed after its hold ended");
    }
    return rows.length === CHECKOUT_CLOSE_BATCH;
  });
}
