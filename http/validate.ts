import { hasUnsafeChars, UNSAFE_TEXT_REASON } from "../engine/text.js";
import { problems, type FieldError } from "./problems.js";

// Request bodies are parsed by hand, field by field: explicit, no reflection, and every
// bound is stated where the field is read.

export function parseJsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) throw problems.invalidJson("The body is empty; send a JSON object.");
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw problems.invalidJson((error as Error).message);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw problems.invalidJson("The body must be a JSON object.");
  }
  return value as Record<string, unknown>;
}

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const EMAIL = /^[^\s@<>()[\],;:"]+@[^\s@<>()[\],;:"]+\.[^\s@<>()[\],;:"]+$/;

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Reads fields of one JSON object, collecting every problem before answering 422 with all of them. */
export class Fields {
  private readonly errors: FieldError[] = [];
  /** Fields read so far: a handful, so a list (cheaper to make than a Set on every request). */
  private readonly known: string[] = [];

  constructor(private readonly body: Record<string, unknown>) {}

  private read(name: string, required: boolean): unknown {
    this.known.push(name);
    const value = this.body[name];
    if (value === undefined || value === null) {
      if (required) this.errors.push({ field: name, reason: "is required" });
      return undefined;
    }
    return value;
  }

  private fail(field: string, reason: string): undefined {
    this.errors.push({ field, reason });
    return undefined;
  }

  string(
    name: string,
    opts: { required: boolean; maxChars: number; pattern?: RegExp; patternHint?: string },
  ): string | undefined {
    const value = this.read(name, opts.required);
    if (value === undefined) return undefined;
    if (typeof value !== "string") return this.fail(name, "must be a string");
    if (hasUnsafeChars(value)) return this.fail(name, UNSAFE_TEXT_REASON);
    if (value.trim().length === 0) return this.fail(name, "must not be blank");
    if (value.length > opts.maxChars) return this.fail(name, `must be at most ${opts.maxChars} characters`);
    if (opts.pattern && !opts.pattern.test(value)) return this.fail(name, opts.patternHint ?? "has an invalid format");
    return value;
  }

  integer(name: string, opts: { required: boolean; min: number; max: number }): number | undefined {
    const value = this.read(name, opts.required);
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isSafeInteger(value)) return this.fail(name, "must be a whole number");
    if (value < opts.min || value > opts.max) return this.fail(name, `must be from ${opts.min} to ${opts.max}`);
    return value;
  }

  /** An ISO 8601 date-time with an explicit offset, as the contract requires. */
  instant(name: string, opts: { required: boolean }): Date | undefined {
    const value = this.string(name, {
      ...opts,
      maxChars: 40,
      pattern: ISO_WITH_OFFSET,
      patternHint: "must be an ISO 8601 date-time with an offset, e.g. 2027-05-01T20:00:00+02:00",
    });
    if (value === undefined) return undefined;
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? this.fail(name, "is not a real date") : date;
  }

  /** An optional instant that can be cleared: null when the body sends null, undefined when it is absent. */
  clearableInstant(name: string): Date | null | undefined {
    if (this.body[name] !== null) return this.instant(name, { required: false });
    this.known.push(name);
    return null;
  }

  timeZone(name: string, opts: { required: boolean }): string | undefined {
    const value = this.string(name, { ...opts, maxChars: 64 });
    if (value === undefined) return undefined;
    return isTimeZone(value) ? value : this.fail(name, "must be an IANA time zone such as Europe/Paris");
  }

  email(name: string, opts: { required: boolean; maxChars: number }): string | undefined {
    // Named, not spread: a spread costs microseconds, and this runs on every booking.
    return this.string(name, {
      required: opts.required,
      maxChars: opts.maxChars,
      pattern: EMAIL,
      patternHint: "must be an email address",
    });
  }

  oneOf<T extends string>(name: string, values: readonly T[], opts: { required: boolean }): T | undefined {
    const value = this.read(name, opts.required);
    if (value === undefined) return undefined;
    return values.includes(value as T) ? (value as T) : this.fail(name, `must be one of ${values.join(", ")}`);
  }

  /** A string from outside the body (a header): the same refusal of unsafe characters. */
  text(field: string, value: string): void {
    if (hasUnsafeChars(value)) this.errors.push({ field, reason: UNSAFE_TEXT_REASON });
  }

  check(condition: boolean, field: string, reason: string): void {
    if (!condition) this.errors.push({ field, reason });
  }

  /** Throws 422 listing every problem, including fields this route does not know. */
  done(): void {
    for (const name of Object.keys(this.body)) {
      if (!this.known.includes(name)) this.errors.push({ field: name, reason: "is not a known field" });
    }
    if (this.errors.length > 0) throw problems.invalidParameters(this.errors);
  }
}
