import { createHash } from "node:crypto";
import type PgBoss from "pg-boss";
import type { Config, MailConfig } from "../engine/config.js";
import type { Engine } from "../engine/engine.js";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import { STATE, type BookingState } from "../engine/schema.js";
import type { Pool, PoolClient } from "../sql/db.js";
import { paidBookingsOfEvent } from "../sql/bookings.js";
import { eventStartsAt } from "../sql/events.js";
import {
  claimNotification,
  mailBooking,
  markNotificationFailed,
  markNotificationGivenUp,
  markNotificationSent,
  markNotificationSkipped,
  type MailBooking,
} from "../sql/notifications.js";
import type { Mailer } from "./mail.js";
import { renderMail, reminderKind, type BookingForMail, type NotificationKind } from "./messages.js";
import { bossDb, QUEUES, workEach } from "./queues.js";
import type { StateChange } from "./relay.js";

// Booking emails. The relay queues a notify job in the transaction that writes the state
// change that calls for it, so a job exists exactly when its reason is committed. The job
// claims its notifications row before sending, so a retried job never sends twice.

export interface NotifyJob {
  bookingId: string;
  kind: NotificationKind;
}

/** The state a booking must still be in when its email goes out. */
function stateFor(kind: NotificationKind): BookingState {
  if (kind === "your_turn") return STATE.held;
  if (kind === "refund") return STATE.refunded;
  return STATE.paid;
}

/** One job id per booking and kind: pg-boss inserts a second copy as nothing. */
function jobId(job: NotifyJob, dueAtMs = 0): string {
  const hex = createHash("sha256").update(`${job.bookingId}:${job.kind}:${dueAtMs}`).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The emails a change calls for: only transitions, never a repeated state, none without an address. */
function notificationsFor(change: StateChange): ("confirmation" | "your_turn" | "refund")[] {
  // A booking's mails go only to the address given with it: with none, a job could only be skipped.
  if (change.from === change.to || change.email === "") return [];
  if (change.to === STATE.paid) return ["confirmation"];
  if (change.to === STATE.refunded) return ["refund"];
  if (change.from === STATE.waiting && change.to === STATE.held) return ["your_turn"];
  return [];
}

type QueuedJob = { job: NotifyJob; startAfter?: Date };

/** One reminder job per configured offset still ahead of now. */
function remindersFor(bookingId: string, startsAtMs: number, config: MailConfig): QueuedJob[] {
  const jobs: QueuedJob[] = [];
  for (const offsetMs of config.reminderOffsetsMs) {
    const at = startsAtMs - offsetMs;
    if (at > Date.now()) jobs.push({ job: { bookingId, kind: reminderKind(offsetMs) }, startAfter: new Date(at) });
  }
  return jobs;
}

/** Inserts jobs in one statement (an on-sale's relay batch can call for hundreds). */
async function insertJobs(boss: PgBoss, client: PoolClient, jobs: QueuedJob[]): Promise<void> {
  if (jobs.length === 0) return;
  await boss.insert(
    jobs.map(({ job, startAfter }) => ({
      name: QUEUES.notify.name,
      id: jobId(job, startAfter?.getTime() ?? 0),
      data: job,
      ...(startAfter ? { startAfter } : {}),
    })),
    { db: bossDb(client) },
  );
}

/** Queues the notify jobs for a batch of changes within the relay's transaction. */
export async function queueNotifications(
  boss: PgBoss,
  client: PoolClient,
  config: MailConfig,
  eventId: string,
  changes: StateChange[],
): Promise<number> {
  const jobs: QueuedJob[] = [];
  let startsAtMs: number | null = null;
  for (const change of changes) {
    for (const kind of notificationsFor(change)) {
      jobs.push({ job: { bookingId: change.bookingId, kind } });
      if (kind !== "confirmation" || config.reminderOffsetsMs.length === 0) continue;
      startsAtMs ??= (await eventStartsAt(client, eventId))?.getTime() ?? 0;
      jobs.push(...remindersFor(change.bookingId, startsAtMs, config));
    }
  }
  await insertJobs(boss, client, jobs);
  return jobs.length;
}

/** Paid bookings one insert of reminder jobs covers when an event moves. */
const MOVED_REMINDERS_CHUNK = 1_000;

/**
 * An event moved earlier: its reminders are queued again for the new times, within the
 * transaction that moves it (a move later is caught by the reminder itself, which waits). A
 * reminder that still runs at its old time finds its claim taken and sends nothing.
 */
export async function queueMovedReminders(
  boss: PgBoss,
  client: PoolClient,
  config: MailConfig,
  eventId: string,
  fromMs: number,
  toMs: number,
): Promise<number> {
  if (toMs >= fromMs || config.reminderOffsetsMs.length === 0) return 0;
  const rows = await paidBookingsOfEvent(client, eventId);
  for (let start = 0; start < rows.length; start += MOVED_REMINDERS_CHUNK) {
    await insertJobs(
      boss,
      client,
      rows.slice(start, start + MOVED_REMINDERS_CHUNK).flatMap(({ id }) => remindersFor(id, toMs, config)),
    );
  }
  return rows.length;
}

export type NotifyOutcome = "sent" | "skipped" | "already" | { earlyUntilMs: number };

/** A reminder whose event moved later by more than this is put back until its new time. */
const REMINDER_EARLY_SLACK_MS = 60_000;

function reminderOffsetMs(kind: NotificationKind): number | null {
  const match = /^reminder_(\d+)m$/.exec(kind);
  return match === null ? null : Number(match[1]) * 60_000;
}

export class Notifier {
  constructor(
    private readonly pool: Pool,
    private readonly engine: Engine,
    private readonly mailer: Mailer,
    private readonly config: Config,
    private readonly log: Logger,
  ) {}

  async notify({ bookingId, kind }: NotifyJob): Promise<NotifyOutcome> {
    const row = await mailBooking(this.pool, bookingId);
    if (row === null) throw new Error(`booking ${bookingId} is not in PostgreSQL`);
    const booking = await this.toMail(row);
    // Re-checked at send time: a reminder for a refunded booking, or "your turn" for a hold
    // that has ended, is not sent.
    const skip =
      booking.status !== stateFor(kind)
        ? `booking is ${booking.status}`
        : kind === "your_turn" && (booking.expiresAt?.getTime() ?? 0) <= Date.now()
          ? "hold is over"
          : kind.startsWith("reminder_") && booking.startsAt.getTime() <= Date.now()
            ? "event has started"
            : booking.recipient === ""
              ? "no email address"
              : "";
    if (skip !== "") {
      await markNotificationSkipped(this.pool, bookingId, kind, booking.recipient, skip);
      metrics.emails.inc({ kind: metricKind(kind), result: "skipped" });
      return "skipped";
    }
    // Reminders are queued at payment; if the event has since moved later, wait for the new time.
    const offsetMs = reminderOffsetMs(kind);
    if (offsetMs !== null && booking.startsAt.getTime() - offsetMs - Date.now() > REMINDER_EARLY_SLACK_MS) {
      return { earlyUntilMs: booking.startsAt.getTime() - offsetMs };
    }
    if (!(await claimNotification(this.pool, bookingId, kind, booking.recipient))) return "already";
    try {
      const messageId = await this.mailer.send({
        to: booking.recipient,
        messageId: `<${bookingId}.${kind}@onsale>`,
        ...renderMail(kind, booking),
      });
      await markNotificationSent(this.pool, bookingId, kind, messageId);
    } catch (error) {
      // The SMTP server refused it (or was unreachable): not sent, so the retry may send.
      await markNotificationFailed(this.pool, bookingId, kind, String((error as Error).message).slice(0, 500));
      metrics.emails.inc({ kind: metricKind(kind), result: "failed" });
      throw error;
    }
    metrics.emails.inc({ kind: metricKind(kind), result: "sent" });
    this.log.info({ bookingId, kind, to: booking.recipient }, "email sent");
    return "sent";
  }

  private async toMail(booking: MailBooking): Promise<BookingForMail> {
    // The payment link carries the booking's token, which only Redis keeps.
    const token = booking.status === STATE.held ? await this.engine.tokenOf(booking.eventId, booking.bookingId) : null;
    const payUrl = `${this.config.http.publicUrl}/pay/${booking.bookingId}`;
    return { ...booking, payUrl: token ? `${payUrl}?token=${encodeURIComponent(token)}` : payUrl };
  }

  /** Workers for the notify queue and its dead letters. */
  async work(boss: PgBoss): Promise<void> {
    await workEach<NotifyJob>(boss, QUEUES.notify, async (job) => {
      const outcome = await this.notify(job);
      if (typeof outcome === "object") {
        await boss.send(QUEUES.notify.name, job, {
          id: jobId(job, outcome.earlyUntilMs),
          startAfter: new Date(outcome.earlyUntilMs),
        });
      }
    });
    await workEach<NotifyJob>(
      boss,
      QUEUES.notify,
      async ({ bookingId, kind }) => {
        await markNotificationGivenUp(this.pool, bookingId, kind, "retries spent; see the job's output in pgboss.job");
        metrics.emails.inc({ kind: metricKind(kind), result: "given_up" });
        this.log.error({ bookingId, kind }, "email given up after every retry");
      },
      QUEUES.notify.deadLetter,
    );
  }
}

/** Reminder kinds carry their offset; metrics group them to keep label values few. */
function metricKind(kind: NotificationKind): string {
  return kind.startsWith("reminder_") ? "reminder" : kind;
}
