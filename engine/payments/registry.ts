import type { Config } from "../config.js";
import type { PaymentProvider } from "./provider.js";
import { createStripeProvider } from "./stripe.js";

// PAYMENT_PROVIDER names one entry here: the adapter it runs and that adapter's settings.
// `mock` is the Stripe adapter pointed at the mock gateway (gateway/) on loopback.

type PaymentSettings = Pick<Config, "stripeSecretKey" | "stripeWebhookSecret" | "mockGatewayHost" | "mockGatewayPort" | "mockWebhookSecret">;

const PROVIDERS = {
  stripe: (config: PaymentSettings) =>
    createStripeProvider({ secretKey: config.stripeSecretKey, webhookSecret: config.stripeWebhookSecret }),
  mock: (config: PaymentSettings) =>
    createStripeProvider({
      secretKey: config.stripeSecretKey,
      webhookSecret: config.mockWebhookSecret,
      endpoint: { host: config.mockGatewayHost === "0.0.0.0" ? "127.0.0.1" : config.mockGatewayHost, port: config.mockGatewayPort, protocol: "http" },
    }),
} satisfies Record<string, (config: PaymentSettings) => PaymentProvider>;

export type PaymentProviderName = keyof typeof PROVIDERS;
export const PAYMENT_PROVIDER_NAMES = Object.keys(PROVIDERS) as PaymentProviderName[];

export function createPaymentProvider(config: PaymentSettings & { paymentProvider: PaymentProviderName }): PaymentProvider {
  return PROVIDERS[config.paymentProvider](config);
}
