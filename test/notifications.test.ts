import ICAL from "ical.js";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../engine/logger.js";
import { Mailer } from "../jobs/mail.js";
import { Notifier } from "../jobs/notify.js";
import { ADMIN_TOKEN, completedEvent, sleep, useTestEngine, waitFor } from "./helpers.js";

// Booking emails through a real SMTP server (in-process smtp-server), read back with
// mailparser: confirmation with a parseable .ics, "your turn", refund notice, reminders.

const received: ParsedMail[] = [];
/** Recipients the SMTP server refuses for good (550). */
const refused = new Set<string>();
let smtp: SMTPServer;
let smtpUrl = "";

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (refused.has(address.address))
        return callback(Object.assign(new Error("no such mailbox"), { responseCode: 550 }));
      callback();
    },
    onData(stream, _session, callback) {
      simpleParser(stream).then((mail) => {
        received.push(mail);
        callback();
      }, callback);
    },
  });
  await new Promise<void>((done) => smtp.listen(0, "127.0.0.1", () => done()));
  smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((done) => smtp.close(() => done())));

const ctx = useTestEngine(() => ({ SMTP_URL: smtpUrl, HOLD_SECONDS: "2", REMINDER_OFFSETS: "1h" }), { work: true });

const mailsTo = (address: string) =>
  received.filter((mail) => mail.to && !Array.isArray(mail.to) && mail.to.value[0]?.address === address);

async function book(eventId: string, userId: string, quantity = 1) {
  const answer = await ctx.client.request("POST", "/bookings", {
    body: { eventId, userId, quantity, email: `${userId}@example.com` },
  });
  expect([201, 202]).toContain(answer.status);
  return {
    id: answer.body.id as string,
    token: answer.body.token as string,
    eventId,
    status: answer.body.status as string,
  };
}

/** A second notifier on the same database and SMTP server, as a retried or duplicated job would run. */
let retryMailer: Mailer | null = null;
const notifier = () => {
  retryMailer ??= new Mailer(smtpUrl, "t@example.com");
  return new Notifier(
    ctx.running.pool,
    ctx.running.engine,
    retryMailer,
    ctx.running.config,
    createLogger("silent", "notify-test"),
  );
};
afterAll(() => retryMailer?.close());

async function notifications(bookingId: string) {
  const { rows } = await ctx.running.pool.query<{ kind: string; status: string; recipient: string }>(
    "SELECT kind, status, recipient FROM notifications WHERE booking_id = $1 ORDER BY kind",
    [bookingId],
  );
  return rows;
}

/** The booking's 1 h reminder jobs still waiting to run. */
async function reminderJobs(bookingId: string) {
  const schema = ctx.running.config.postgres.bossSchema;
  const { rows } = await ctx.running.pool.query<{ start_after: Date }>(
    `SELECT start_after FROM ${schema}.job WHERE name = 'notify' AND data->>'bookingId' = $1 AND data->>'kind' = 'reminder_60m' AND state = 'created'`,
    [bookingId],
  );
  return rows;
}

/**
 * Waits until nothing more can arrive for the booking: none of its notify jobs that are due is
 * waiting or running, and none of its notifications is being sent (one marked sent is already
 * received: the SMTP server here parses a message before it answers).
 */
async function settled(bookingId: string): Promise<void> {
  const schema = ctx.running.config.postgres.bossSchema;
  const busy = async () => {
    const { rows } = await ctx.running.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${schema}.job WHERE name = 'notify' AND data->>'bookingId' = $1 AND state IN ('created', 'retry', 'active') AND start_after <= now()`,
      [bookingId],
    );
    return rows[0]!.n + (await notifications(bookingId)).filter((n) => n.status === "sending").length;
  };
  await waitFor(busy, (n) => n === 0, 20_000);
}

describe("notifications", () => {
  it("a paid booking yields exactly one confirmation whose .ics carries the start time and zone", async () => {
    const startsAt = "2027-06-01T20:00:00+02:00";
    const eventId = await ctx.client.eventId({
      name: "Calendar Night",
      startsAt,
      timeZone: "Europe/Paris",
      price: 4500,
    });
    const booking = await book(eventId, "cal-alice", 2);
    expect((await ctx.client.webhook(completedEvent(booking, 9000))).status).toBe(200);

    const [mail] = await waitFor(
      async () => mailsTo("cal-alice@example.com"),
      (mails) => mails.length >= 1,
      20_000,
    );
    expect(mail!.subject).toBe("Your tickets: Calendar Night");
    expect(mail!.text).toContain(booking.id);
    expect(mail!.text).toContain("€90.00");
    expect(mail!.text).toContain("https://calendar.google.com/calendar/render?action=TEMPLATE");
    const ics = mail!.attachments.find((a) => a.filename === "event.ics");
    expect(ics).toBeDefined();

    const calendar = new ICAL.Component(ICAL.parse(ics!.content.toString("utf8")));
    const zone = calendar.getFirstSubcomponent("vtimezone")!;
    expect(zone.getFirstPropertyValue("tzid")).toBe("Europe/Paris");
    ICAL.TimezoneService.register(zone);
    const vevent = calendar.getFirstSubcomponent("vevent")!;
    expect(vevent.getFirstProperty("dtstart")!.getParameter("tzid")).toBe("Europe/Paris");
    const start = new ICAL.Event(vevent).startDate;
    expect(start.hour).toBe(20);
    expect(start.toJSDate().toISOString()).toBe(new Date(startsAt).toISOString());

    // A retried job (same booking, same kind) finds the claim and sends nothing.
    expect(await notifier().notify({ bookingId: booking.id, kind: "confirmation" })).toBe("already");
    await settled(booking.id);
    expect(mailsTo("cal-alice@example.com")).toHaveLength(1);
    expect(
      await waitFor(
        () => notifications(booking.id),
        (list) => list.every((n) => n.status !== "sending"),
      ),
    ).toEqual([{ kind: "confirmation", status: "sent", recipient: "cal-alice@example.com" }]);
  });

  it("a booking's mail goes to the address given with it, whatever a later booking under the same userId says", async () => {
    // The reminder is due 8 s from now, long after the other booking below reaches PostgreSQL.
    const startsAt = new Date(Date.now() + 3_600_000 + 8000);
    const own = await ctx.client.eventId({ name: "Own Address Night", startsAt: startsAt.toISOString(), price: 5000 });
    const given = await ctx.client.request("POST", "/bookings", {
      body: { eventId: own, userId: "shared-user", quantity: 1, email: "owner@example.com" },
    });
    expect(given.status).toBe(201);
    expect((await ctx.client.webhook(completedEvent({ id: given.body.id, eventId: own }, 5000))).status).toBe(200);
    await waitFor(
      async () => mailsTo("owner@example.com"),
      (mails) => mails.length >= 1,
      20_000,
    );

    // Someone else names the same userId, with an address of their own, on another event.
    const elsewhere = await ctx.client.eventId({ name: "Other Address Night" });
    const other = await ctx.client.request("POST", "/bookings", {
      body: { eventId: elsewhere, userId: "shared-user", quantity: 1, email: "intruder@example.com" },
    });
    expect(other.status).toBe(201);
    await waitFor(
      async () => (await ctx.running.pool.query("SELECT 1 FROM bookings WHERE id = $1", [other.body.id])).rowCount,
      (n) => n === 1,
      5000,
    );

    const sent = await waitFor(
      () => notifications(given.body.id),
      (list) => list.length === 2 && list.every((n) => n.status === "sent"),
      30_000,
    );
    expect(sent).toEqual([
      { kind: "confirmation", status: "sent", recipient: "owner@example.com" },
      { kind: "reminder_60m", status: "sent", recipient: "owner@example.com" },
    ]);
    expect(
      mailsTo("owner@example.com")
        .map((m) => m.subject)
        .sort(),
    ).toEqual(["Reminder: Own Address Night", "Your tickets: Own Address Night"]);
    expect(mailsTo("intruder@example.com").filter((m) => m.text?.includes(given.body.id))).toEqual([]);
  });

  it("a reminder is scheduled with startAfter and sent when its time comes", async () => {
    const startsAt = new Date(Date.now() + 3_600_000 + 6000);
    const dueAtMs = startsAt.getTime() - 3_600_000;
    const eventId = await ctx.client.eventId({ name: "Soon Show", startsAt: startsAt.toISOString() });
    const booking = await book(eventId, "remind-bob");
    await ctx.client.webhook(completedEvent(booking, 5000));
    // Queued with the confirmation, to start at its time (not when it was queued).
    const jobs = await waitFor(
      () => reminderJobs(booking.id),
      (rows) => rows.length >= 1,
      20_000,
    );
    expect(jobs.map((row) => row.start_after.getTime())).toEqual([dueAtMs]);
    const mails = await waitFor(
      async () => mailsTo("remind-bob@example.com"),
      (list) => list.length >= 2,
      30_000,
    );
    expect(mails.map((m) => m.subject).sort()).toEqual(["Reminder: Soon Show", "Your tickets: Soon Show"]);
    // The SMTP server has the message a moment before the worker records it sent.
    const sentAt = await waitFor(
      async () =>
        (
          await ctx.running.pool.query<{ sent_at: Date | null }>(
            "SELECT sent_at FROM notifications WHERE booking_id = $1 AND kind = 'reminder_60m'",
            [booking.id],
          )
        ).rows[0]?.sent_at,
      (at) => at instanceof Date,
    );
    expect(sentAt!.getTime()).toBeGreaterThanOrEqual(dueAtMs);
    expect(await notifications(booking.id)).toEqual([
      { kind: "confirmation", status: "sent", recipient: "remind-bob@example.com" },
      { kind: "reminder_60m", status: "sent", recipient: "remind-bob@example.com" },
    ]);
  });

  it("a reminder whose event moved later waits for the new time", async () => {
    // Far enough ahead that the move below lands before the reminder comes due, even on a busy machine.
    const startsAt = new Date(Date.now() + 3_600_000 + 8000);
    const eventId = await ctx.client.eventId({ name: "Moved Show", startsAt: startsAt.toISOString() });
    const booking = await book(eventId, "moved-ivy");
    await ctx.client.webhook(completedEvent(booking, 5000));
    await waitFor(
      () => reminderJobs(booking.id),
      (rows) => rows.length >= 1,
      20_000,
    );
    const movedTo = new Date(startsAt.getTime() + 86_400_000);
    const patched = await ctx.client.request("PATCH", `/admin/events/${eventId}`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      body: { startsAt: movedTo.toISOString() },
    });
    expect(patched.status).toBe(200);
    // The reminder job comes due at the old time, finds the event later, and is queued again.
    const again = await waitFor(
      () => reminderJobs(booking.id),
      (rows) => rows.some((row) => row.start_after.getTime() > startsAt.getTime()),
      30_000,
    );
    expect(again.map((row) => row.start_after.getTime())).toEqual([movedTo.getTime() - 3_600_000]);
    await waitFor(
      async () => mailsTo("moved-ivy@example.com"),
      (mails) => mails.length >= 1,
      20_000,
    );
    expect(mailsTo("moved-ivy@example.com").map((m) => m.subject)).toEqual(["Your tickets: Moved Show"]);
    expect((await notifications(booking.id)).map((n) => n.kind)).toEqual(["confirmation"]);
  });

  it("a reminder whose event moved earlier is sent at the new time, once", async () => {
    const startsAt = new Date(Date.now() + 3 * 3_600_000);
    const eventId = await ctx.client.eventId({ name: "Earlier Show", startsAt: startsAt.toISOString() });
    const booking = await book(eventId, "earlier-kim");
    await ctx.client.webhook(completedEvent(booking, 5000));
    await waitFor(
      async () => mailsTo("earlier-kim@example.com"),
      (mails) => mails.length >= 1,
      20_000,
    );
    // The reminder was queued for two hours from now; the event moves to just over an hour away.
    const movedTo = new Date(Date.now() + 3_600_000 + 3000);
    const patched = await ctx.client.request("PATCH", `/admin/events/${eventId}`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      body: { startsAt: movedTo.toISOString() },
    });
    expect(patched.status).toBe(200);
    const mails = await waitFor(
      async () => mailsTo("earlier-kim@example.com"),
      (list) => list.length >= 2,
      30_000,
    );
    expect(mails.map((m) => m.subject)).toEqual(["Your tickets: Earlier Show", "Reminder: Earlier Show"]);
    // The job queued for the old time is still there; when it runs it finds the reminder sent.
    expect(await reminderJobs(booking.id)).toHaveLength(1);
    expect(await notifier().notify({ bookingId: booking.id, kind: "reminder_60m" })).toBe("already");
    await settled(booking.id);
    expect(mailsTo("earlier-kim@example.com")).toHaveLength(2);
  });

  it("a cancelled booking gets no confirmation and no reminder, even if a reminder job runs", async () => {
    const startsAt = new Date(Date.now() + 3_600_000 + 2000).toISOString();
    const eventId = await ctx.client.eventId({ name: "Cancelled Show", startsAt });
    const booking = await book(eventId, "cancel-carol");
    expect((await ctx.client.cancel(booking.id, booking.token)).status).toBe(200);
    await waitFor(
      async () =>
        (await ctx.running.pool.query("SELECT status FROM bookings WHERE id = $1", [booking.id])).rows[0]?.status,
      (status) => status === "cancelled",
    );
    // The send-time check: a reminder job for it (as if queued before the cancel) sends nothing.
    expect(await notifier().notify({ bookingId: booking.id, kind: "reminder_60m" })).toBe("skipped");
    await settled(booking.id);
    expect(mailsTo("cancel-carol@example.com")).toHaveLength(0);
    expect(await notifications(booking.id)).toEqual([
      { kind: "reminder_60m", status: "skipped", recipient: "cancel-carol@example.com" },
    ]);
  });

  it("a booking served from the line gets a 'your turn' email with its payment link and deadline", async () => {
    const eventId = await ctx.client.eventId({ name: "Line Gig", capacity: 1 });
    await book(eventId, "line-first");
    const second = await book(eventId, "line-dave");
    expect(second.status).toBe("waiting");
    // The first hold ends after 2 s; the sweep serves dave from the line.
    const [mail] = await waitFor(
      async () => mailsTo("line-dave@example.com"),
      (mails) => mails.length >= 1,
      20_000,
    );
    expect(mail!.subject).toBe("Your turn: pay for Line Gig");
    expect(mail!.text).toContain(`/pay/${second.id}?token=${encodeURIComponent(second.token)}`);
    expect(mail!.text).toMatch(/Pay by .*\(Europe\/Paris\)/);
    expect(mailsTo("line-first@example.com")).toHaveLength(0);
  });

  it("a booking given no address gets no mail job at all; one given an address gets one confirmation", async () => {
    const eventId = await ctx.client.eventId({ name: "Quiet Night" });
    const withAddress = await book(eventId, "quiet-ann");
    const answer = await ctx.client.request("POST", "/bookings", {
      body: { eventId, userId: "quiet-bob", quantity: 1 },
    });
    expect(answer.status).toBe(201);
    const withoutAddress = { id: answer.body.id as string, eventId };
    for (const booking of [withAddress, withoutAddress])
      expect((await ctx.client.webhook(completedEvent(booking, 5000))).status).toBe(200);
    await waitFor(
      async () =>
        (await ctx.running.pool.query("SELECT id FROM bookings WHERE event_id = $1 AND status = 'paid'", [eventId]))
          .rows,
      (rows) => rows.length === 2,
      20_000,
    );
    await settled(withAddress.id);
    const schema = ctx.running.config.postgres.bossSchema;
    const jobs = async (bookingId: string) =>
      (
        await ctx.running.pool.query<{ kind: string }>(
          `SELECT data->>'kind' AS kind FROM ${schema}.job WHERE name = 'notify' AND data->>'bookingId' = $1 ORDER BY 1`,
          [bookingId],
        )
      ).rows.map((row) => row.kind);
    expect(await jobs(withAddress.id)).toEqual(["confirmation", "reminder_60m"]);
    expect(await jobs(withoutAddress.id)).toEqual([]);
    expect(await notifications(withoutAddress.id)).toEqual([]);
    expect(mailsTo("quiet-ann@example.com")).toHaveLength(1);
  });

  it("a late payment with no stock left is refunded and the person is told", async () => {
    const eventId = await ctx.client.eventId({ name: "Refund Fest", capacity: 1 });
    const late = await book(eventId, "late-erin");
    await sleep(2500);
    const other = await book(eventId, "quick-frank");
    expect(other.status).toBe("held");
    await ctx.client.webhook(completedEvent(late, 5000));
    const [mail] = await waitFor(
      async () => mailsTo("late-erin@example.com"),
      (mails) => mails.length >= 1,
      20_000,
    );
    expect(mail!.subject).toBe("Refund: Refund Fest");
    expect(mail!.text).toContain("€50.00");
    const rows = await waitFor(
      () => notifications(late.id),
      (list) => list.every((n) => n.status !== "sending"),
    );
    expect(rows.map((n) => `${n.kind}:${n.status}`)).toEqual(["refund:sent"]);
  });

  it("an email the SMTP server refuses is marked failed and sent by the retry, once", async () => {
    const accepted: string[] = [];
    let refusals = 1;
    const flaky = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onData(stream, session, callback) {
        stream.resume();
        stream.on("end", () => {
          if (refusals-- > 0) return callback(Object.assign(new Error("try again later"), { responseCode: 451 }));
          accepted.push(session.envelope.rcptTo[0]!.address);
          callback();
        });
      },
    });
    await new Promise<void>((done) => flaky.listen(0, "127.0.0.1", () => done()));
    const flakyUrl = `smtp://127.0.0.1:${(flaky.server.address() as { port: number }).port}`;
    try {
      // Starts just past 5 min from now, so the reminder_5m below is due (not early).
      const eventId = await ctx.client.eventId({
        name: "Flaky Mail",
        startsAt: new Date(Date.now() + 5 * 60_000 + 10_000).toISOString(),
      });
      const booking = await book(eventId, "flaky-gina");
      await ctx.client.webhook(completedEvent(booking, 5000));
      await waitFor(
        async () =>
          (await ctx.running.pool.query("SELECT status FROM bookings WHERE id = $1", [booking.id])).rows[0]?.status,
        (status) => status === "paid",
      );
      // A kind no queued job sends, so only these calls touch its row.
      const job = { bookingId: booking.id, kind: "reminder_5m" as const };
      const flakyMailer = new Mailer(flakyUrl, "t@example.com");
      const through = new Notifier(
        ctx.running.pool,
        ctx.running.engine,
        flakyMailer,
        ctx.running.config,
        createLogger("silent", "notify-test"),
      );
      await expect(through.notify(job)).rejects.toThrow(/try again later/);
      expect((await notifications(booking.id)).find((n) => n.kind === "reminder_5m")?.status).toBe("failed");
      expect(await through.notify(job)).toBe("sent");
      expect(await through.notify(job)).toBe("already");
      expect(accepted).toEqual(["flaky-gina@example.com"]);
      flakyMailer.close();
    } finally {
      await new Promise<void>((done) => flaky.close(() => done()));
    }
  });

  it("an email refused on its last attempt goes to the dead-letter queue and is marked given up", async () => {
    const eventId = await ctx.client.eventId({
      name: "Dead Letter",
      startsAt: new Date(Date.now() + 9 * 60_000 + 10_000).toISOString(),
    });
    const booking = await book(eventId, "dead-lee");
    await ctx.client.webhook(completedEvent(booking, 5000));
    await waitFor(
      async () => mailsTo("dead-lee@example.com"),
      (mails) => mails.length >= 1,
      20_000,
    );
    refused.add("dead-lee@example.com");
    // A kind no queued job sends, with no retries left, so its first failure is its last.
    await ctx.running.boss.send("notify", { bookingId: booking.id, kind: "reminder_9m" }, { retryLimit: 0 });
    const rows = await waitFor(
      () => notifications(booking.id),
      (list) => list.some((n) => n.kind === "reminder_9m" && n.status === "given_up"),
      20_000,
    );
    expect(rows.map((n) => `${n.kind}:${n.status}`)).toEqual(["confirmation:sent", "reminder_9m:given_up"]);
    const metrics = (await ctx.client.request("GET", "/metrics")).body as string;
    expect(metrics).toMatch(/onsale_emails_total\{kind="reminder",result="given_up"\} [1-9]/);
  });

  it("copies of one job running at once (a slow job expired and retried) send one email", async () => {
    const eventId = await ctx.client.eventId({
      name: "Racing Mail",
      startsAt: new Date(Date.now() + 7 * 60_000 + 10_000).toISOString(),
    });
    const booking = await book(eventId, "race-hana");
    await ctx.client.webhook(completedEvent(booking, 5000));
    await waitFor(
      async () =>
        (await ctx.running.pool.query("SELECT status FROM bookings WHERE id = $1", [booking.id])).rows[0]?.status,
      (status) => status === "paid",
    );
    const job = { bookingId: booking.id, kind: "reminder_7m" as const };
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => notifier().notify(job)));
    expect(outcomes.filter((o) => o === "sent")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "already")).toHaveLength(19);
    await waitFor(
      async () => mailsTo("race-hana@example.com"),
      (mails) => mails.some((m) => m.subject === "Reminder: Racing Mail"),
    );
    await settled(booking.id);
    expect(mailsTo("race-hana@example.com").filter((m) => m.subject === "Reminder: Racing Mail")).toHaveLength(1);
  });

  it("exports email and queue metrics", async () => {
    // The queue gauges are read on a timer: wait for a pass after the jobs above.
    const metrics = await waitFor(
      async () => (await ctx.client.request("GET", "/metrics")).body as string,
      (text) => /onsale_queue_depth\{queue="notify"\} [1-9]/.test(text),
      20_000,
    );
    expect(metrics).toMatch(/onsale_emails_total\{kind="confirmation",result="sent"\} [1-9]/);
    expect(metrics).toMatch(/onsale_emails_total\{kind="reminder",result="skipped"\} [1-9]/);
    expect(metrics).toMatch(/onsale_queue_depth\{queue="notify"\} [1-9]/); // the 1 h reminders of far-off events
    expect(metrics).toMatch(/onsale_queue_active\{queue="notify"\} \d+/);
    expect(metrics).toMatch(/onsale_queue_depth\{queue="notify-dead"\} \d+/);
  });
});
