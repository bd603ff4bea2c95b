import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from "jose";
import type { UserTokenSettings } from "../engine/config.js";
import { bearer } from "./auth.js";
import { problems } from "./problems.js";

// Signed identities. With USER_TOKEN_SECRET (HS256, shared with the ticketing site) or
// USER_TOKEN_JWKS_URL (the site's public keys) set, POST /bookings carries a JWT the site
// issued: `sub` is the person, an optional `eventId` claim ties it to one event, `iat` dates it
// (USER_TOKEN_MAX_AGE_SECONDS). Verified with jose; the algorithms are fixed here, never taken
// from the token.

const HMAC_ALGORITHMS = ["HS256"];
const PUBLIC_KEY_ALGORITHMS = ["ES256", "EdDSA", "RS256", "PS256"];
/** Clock difference allowed between the ticketing site and the engine. */
const CLOCK_TOLERANCE_S = 5;
/** Longest token read; a JWT naming a person and an event is a few hundred characters. */
const TOKEN_CHARS_MAX = 4096;
/** What a userId may hold, in a body or a token's sub. */
export const USER_ID = /^[A-Za-z0-9._@+|-]+$/;

export interface UserIdentity {
  userId: string;
  /** The event the token is for; null: any event. */
  eventId: string | null;
}

type Verify = (token: string) => Promise<JWTPayload>;

export class UserTokens {
  private readonly verifyJwt: Verify | null;

  constructor(
    settings: UserTokenSettings,
    private readonly userIdChars: number,
  ) {
    const options = { maxTokenAge: `${settings.maxAgeS}s`, clockTolerance: CLOCK_TOLERANCE_S };
    if (settings.secret !== "") {
      const key = new TextEncoder().encode(settings.secret);
      this.verifyJwt = async (token) =>
        (await jwtVerify(token, key, { ...options, algorithms: HMAC_ALGORITHMS })).payload;
    } else if (settings.jwksUrl !== "") {
      const keys = createRemoteJWKSet(new URL(settings.jwksUrl));
      this.verifyJwt = async (token) =>
        (await jwtVerify(token, keys, { ...options, algorithms: PUBLIC_KEY_ALGORITHMS })).payload;
    } else {
      this.verifyJwt = null;
    }
  }

  /** Whether POST /bookings needs a token (one of the two settings is set). */
  get required(): boolean {
    return this.verifyJwt !== null;
  }

  /** The person the request's bearer token names; a 401 problem if there is none or it is not good. */
  async identify(authorization: string): Promise<UserIdentity> {
    const token = bearer(authorization);
    if (token === "") throw problems.userTokenRequired();
    if (token.length > TOKEN_CHARS_MAX)
      throw problems.userTokenInvalid(`A user token is at most ${TOKEN_CHARS_MAX} characters.`);
    const payload = await this.verifyJwt!(token).catch(refusal);
    const { sub, eventId } = payload;
    if (typeof sub !== "string" || sub.length > this.userIdChars || !USER_ID.test(sub))
      throw problems.userTokenInvalid("The token's sub must be a userId.");
    if (eventId !== undefined && typeof eventId !== "string")
      throw problems.userTokenInvalid("The token's eventId must be a string.");
    return { userId: sub, eventId: eventId ?? null };
  }
}

/** A token jose refused is the client's 401; keys that could not be fetched are the engine's 503. */
function refusal(error: unknown): never {
  if (
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    !(error instanceof errors.JOSEError)
  ) {
    throw problems.unavailable("The ticketing site's signing keys (USER_TOKEN_JWKS_URL) could not be fetched.");
  }
  throw problems.userTokenInvalid(`The token was refused: ${error.code}.`);
}
