import type { Logger } from "../engine/logger.js";
import type { PaymentProvider } from "../engine/payments/provider.js";
import { inTransaction, type Pool } from "../sql/db.js";
import { checkoutsToClose, closeCheckout } from "../sql/payments.js";
import { outcomeOf, type PassOutcome } from "./periodic.js";

// Closes Checkout Sessions whose hold is over. A session must live 30 minutes at Stripe, a
// hold 5: left open, a person could pay for tickets already handed to the next in line and
// be refunded. Expiring it makes the gateway refuse the payment instead. A payment already
// under way when the session closes still lands, and is handled as a late payment.

/** Sessions one pass closes at most: the pass holds their row locks while it calls the provider. */
const CHECKOUT_CLOSE_BATCH = 50;

/** Closes sessions whose hold ended more than graceMs ago; "more" when there may be more. */
export async function closeEndedCheckouts(
  pool: Pool,
  provider: PaymentProvider,
  graceMs: number,
  log: Logger,
): Promise<PassOutcome> {
  return inTransaction(pool, async (client) => {
    const checkoutRefs = await checkoutsToClose(client, graceMs, CHECKOUT_CLOSE_BATCH);
    for (const checkoutRef of checkoutRefs) {
      const expired = await provider.expireCheckout(checkoutRef);
      await closeCheckout(client, checkoutRef);
      if (expired) log.info({ checkoutRef }, "checkout closed after its hold ended");
    }
    return outcomeOf(checkoutRefs.length, CHECKOUT_CLOSE_BATCH);
  });
}
