import type { PaymentProviderName, PaymentsConfig } from "../config.js";
import type { PaymentProvider } from "./provider.js";
import { createStripeProvider } from "./stripe.js";

// PAYMENT_PROVIDER names one entry here: the adapter it runs and that adapter's settings.
// `mock` is the Stripe adapter pointed at the mock gateway (gateway/) on loopback.

type PaymentSettings = Pick<PaymentsConfig, "stripe" | "mock">;

const PROVIDERS: Record<PaymentProviderName, (config: PaymentSettings) => PaymentProvider> = {
  stripe: (config: PaymentSettings) =>
    createStripeProvider({ secretKey: config.stripe.secretKey, webhookSecret: config.stripe.webhookSecret }),
  mock: (config: PaymentSettings) =>
    createStripeProvider({
      secretKey: config.stripe.secretKey,
      webhookSecret: config.mock.webhookSecret,
      endpoint: {
        host: config.mock.host === "0.0.0.0" ? "127.0.0.1" : config.mock.host,
        port: config.mock.port,
        protocol: "http",
      },
    }),
};

export function createPaymentProvider(config: PaymentSettings & { provider: PaymentProviderName }): PaymentProvider {
  return PROVIDERS[config.provider](config);
}
