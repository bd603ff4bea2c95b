import { timingSafeEqual } from "node:crypto";
import type { Booking } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import { problems } from "./problems.js";

// Who may call a route, declared on its spec and checked by http/exchange.ts before the
// handler runs:
//   admin    Authorization: Bearer <ADMIN_TOKEN>, compared in constant time; 401 otherwise
//   booking  the booking's own token (Authorization: Bearer, or ?token= on pages reached by
//            link); the engine compares it with the booking's secret, and a wrong token reads
//            as "no such booking"
//   none     anyone

export type Auth = "admin" | "booking" | "none";
export const AUTHS: readonly Auth[] = ["admin", "booking", "none"];

/** The checks a server needs for routes that declare admin or booking authorization. */
export interface Authorizer {
  /** Throws 401 unless the Authorization header is the admin bearer token. */
  admin(authorization: string): void;
  /** The booking the token opens; throws BOOKING_NOT_FOUND otherwise. */
  booking(bookingId: string, token: string): Promise<Booking>;
}

/** The token of `Authorization: Bearer <token>`; empty for any other header. */
export function bearer(header: string): string {
  return header.startsWith("Bearer ") ? header.slice(7).trim() : "";
}

/** Checks an Authorization header against `Bearer <token>` in constant time; 401 otherwise. */
function adminGuard(token: string): (authorization: string) => void {
  const expected = Buffer.from(`Bearer ${token}`);
  return (authorization) => {
    const given = Buffer.from(authorization);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw problems.unauthorized();
  };
}

/** The engine's checks: the admin token from settings, booking tokens against Redis. */
export function engineAuthorizer(
  adminToken: string,
  status: (bookingId: string, token: string) => Promise<Booking>,
): Authorizer {
  return {
    admin: adminGuard(adminToken),
    booking: (bookingId, token) =>
      token === "" ? Promise.reject(new EngineError("BOOKING_NOT_FOUND", "")) : status(bookingId, token),
  };
}
