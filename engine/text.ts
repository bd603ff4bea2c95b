// Text a client sends travels on into PostgreSQL (which refuses NUL), mails, calendars and
// logs: control characters (C0, DEL, C1) and UTF-16 halves without their pair never belong in it.
const UNSAFE = /[\p{Cc}\p{Cs}]/u;

export const UNSAFE_TEXT_REASON = "must not contain control characters or unpaired surrogates";

export function hasUnsafeChars(text: string): boolean {
  return UNSAFE.test(text);
}
