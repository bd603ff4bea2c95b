import {
  OPERATOR_PAYMENTS_MAX,
  operatorStatuses,
  OPERATOR_PAYMENT_STATUSES,
  paymentsForOperators,
} from "../../sql/payments.js";
import type { Reply, RouteSpec } from "../exchange.js";
import { problems } from "../problems.js";
import type { HttpDeps } from "../deps.js";

// GET /admin/payments[?status=unmatched,refunded&limit=N] (Authorization: Bearer ADMIN_TOKEN):
// payments an operator looks at, newest first: money that found no booking of ours, went
// back, or is owed back.

const LIMIT_DEFAULT = 100;

export function paymentAdminRoutes(deps: HttpDeps): RouteSpec[] {
  return [
    {
      method: "get",
      pattern: "/admin/payments",
      name: "admin.payments",
      auth: "admin",
      async handler({ query }): Promise<Reply> {
        const statuses = operatorStatuses(query.get("status"));
        const limit = Number(query.get("limit") ?? LIMIT_DEFAULT);
        if (statuses === null)
          throw problems.invalidQuery([
            { field: "status", reason: `must list statuses among ${OPERATOR_PAYMENT_STATUSES.join(", ")}` },
          ]);
        if (!Number.isSafeInteger(limit) || limit < 1 || limit > OPERATOR_PAYMENTS_MAX) {
          throw problems.invalidQuery([
            { field: "limit", reason: `must be a whole number from 1 to ${OPERATOR_PAYMENTS_MAX}` },
          ]);
        }
        return { status: 200, json: { data: await paymentsForOperators(deps.readPool, statuses, limit) } };
      },
    },
  ];
}
