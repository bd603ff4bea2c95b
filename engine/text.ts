// Text a client sends travels on into PostgreSQL (which refuses NUL), mails, calendars and
// logs: control characters (C0, DEL, C1) and UTF-16 halves without their pair never belong in it.
const UNSAFE = /[\p{Cc}\p{Cs}]/u;

export const UNSAFE_TEXT_REASON = "must not contain control characters or unpaired surrogates";

export function hasUnsafeChars(text: string): boolean {
  return UNSAFE.test(text);
}

/** Digits, optionally grouped by underscores (500_000); not 1e3, 0x10, 5.0 or " 5". */
const WHOLE_NUMBER = /^\d+(_\d+)*$/;

/** A whole number written out in digits, within min..max; null for anything else. */
export function wholeNumberIn(raw: string, min: number, max: number): number | null {
  const value = WHOLE_NUMBER.test(raw) ? Number(raw.replaceAll("_", "")) : Number.NaN;
  return Number.isSafeInteger(value) && value >= min && value <= max ? value : null;
}
