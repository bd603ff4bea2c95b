import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { connectRedis } from "../engine/redis.js";
import type { Config } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { isUuid } from "../engine/ids.js";
import type { Logger } from "../engine/logger.js";
import { Operations } from "../application/operations.js";
import { formatMoney } from "../engine/money.js";
import { DeadLetters } from "../application/deadLetters.js";
import { startBoss } from "../jobs/queues.js";
import { progressBar } from "./progress.js";
import { COMMANDS, type CommandLine, UsageError, wholeNumber } from "./commandLine.js";
import { createPool } from "../sql/db.js";
import { migrate } from "../sql/migrate.js";
import {
  OPERATOR_PAYMENTS_MAX,
  operatorStatuses,
  OPERATOR_PAYMENT_STATUSES,
  paymentsForOperators,
} from "../sql/payments.js";

// The operator subcommands of bin/onsale.ts:
//   cache warm <eventId | --on-sale>   load inventory and display fields from PostgreSQL
//   cache flush <eventId>              drop cached display fields (never inventory)
//   reconcile [--repair] [eventId]     report (and repair) drift between Redis and PostgreSQL
//   mail                               list the messages the local SMTP sink stored
//   payments [--status s,…] [--limit N]  list unmatched, mismatched and refunded payments, newest first
//   relay list | relay replay [id]     log entries the relay set aside; write them again

export const OPS_COMMANDS = ["cache", "reconcile", "mail", "payments", "relay"];

const usage = (command: string) => new UsageError(`usage: onsale ${COMMANDS[command]!.usage}`);

function eventArg(line: CommandLine, id: string | undefined): string {
  if (id === undefined || !isUuid(id))
    throw new UsageError(`usage: onsale ${COMMANDS[line.command]!.usage} (an event id is a UUID)`);
  return id;
}

function listMail(config: Config): string {
  const dir = resolve(config.mail.dir);
  const files = (() => {
    try {
      return readdirSync(dir)
        .filter((f) => f.endsWith(".eml"))
        .sort();
    } catch {
      return [];
    }
  })();
  if (files.length === 0)
    return `No messages in ${dir} (the local SMTP sink stores them there when SMTP_URL is not set).\n`;
  return `${files.length} message(s) in ${dir}:\n${files.map((f) => `  ${join(dir, f)}  ${statSync(join(dir, f)).size} bytes`).join("\n")}\n`;
}

/** One line per payment an operator looks at: when, status, which fact, how much, for what, refund. */
async function listPayments(config: Config, line: CommandLine): Promise<string> {
  const status = line.values.status;
  const statuses = operatorStatuses(typeof status === "string" ? status : null);
  const limit = wholeNumber(line, "limit", 100, 1, OPERATOR_PAYMENTS_MAX);
  if (statuses === null) {
    throw new UsageError(
      `usage: onsale payments [--status ${OPERATOR_PAYMENT_STATUSES.join(",")}] [--limit 1..${OPERATOR_PAYMENTS_MAX}]`,
    );
  }
  const pool = createPool(config.postgres.url, 1);
  try {
    await migrate(pool);
    const payments = await paymentsForOperators(pool, statuses, limit);
    if (payments.length === 0) return `No payments with status ${statuses.join(", ")}.\n`;
    return payments
      .map((p) => {
        const refund = p.refundRef ?? (p.refundError === "" ? "-" : `error: ${p.refundError}`);
        const amount = /^[a-z]{3}$/i.test(p.currency)
          ? formatMoney(p.amountMinor, p.currency)
          : `${p.amountMinor} (no currency)`;
        return `${p.createdAt.toISOString()} ${p.status} ${p.provider}/${p.providerEventId} ${p.type} ${amount} booking ${p.bookingId ?? "-"} event ${p.eventId ?? "-"} refund ${refund}\n`;
      })
      .join("");
  } finally {
    await pool.end();
  }
}

/** `relay list` and `relay replay [id]`: replayed entries queue their mails like the relay's. */
async function runRelay(line: CommandLine, config: Config, log: Logger): Promise<void> {
  const [sub, id] = line.positionals;
  if ((sub !== "list" && sub !== "replay") || (id !== undefined && (sub === "list" || !/^[1-9]\d{0,15}$/.test(id))))
    throw usage("relay");
  const pool = createPool(config.postgres.url, 2);
  const redis = connectRedis(config.redis, { log });
  await migrate(pool);
  const boss = await startBoss(config.postgres, log, { maintain: false });
  try {
    const deadLetters = new DeadLetters({ pool, redis, config, boss, log });
    if (sub === "list") {
      const open = await deadLetters.open();
      for (const d of open)
        process.stdout.write(
          `${d.id}  event ${d.eventId}  entry ${d.streamId}  booking ${JSON.stringify(d.bookingId)}  ${d.createdAt.toISOString()}\n    ${d.error}\n`,
        );
      process.stdout.write(`${open.length} dead letter(s) not replayed.\n`);
    } else {
      const result = await deadLetters.replay(id === undefined ? null : Number(id));
      process.stdout.write(
        `${result.replayed} replayed, ${result.superseded} superseded by a later state, ${result.failed} refused again (kept).\n`,
      );
      if (result.failed > 0) process.exitCode = 2;
    }
  } finally {
    await boss.stop({ graceful: true, wait: true });
    redis.disconnect();
    await pool.end();
  }
}

export async function runOps(line: CommandLine, config: Config, log: Logger): Promise<void> {
  const { command } = line;
  if (command === "mail") {
    process.stdout.write(listMail(config));
    return;
  }
  if (command === "payments") {
    process.stdout.write(await listPayments(config, line));
    return;
  }
  if (command === "relay") return runRelay(line, config, log);
  const [sub, target] = command === "cache" ? line.positionals : ["reconcile", line.positionals[0]];
  if (command === "cache" && sub !== "warm" && sub !== "flush") throw usage("cache");
  const pool = createPool(config.postgres.url, 2);
  const redis = connectRedis(config.redis, { log });
  try {
    await migrate(pool);
    const ops = new Operations(pool, new Engine(redis, config), log);
    if (sub === "flush") {
      const eventId = eventArg(line, target);
      await ops.targets(eventId);
      await ops.flush(eventId);
      process.stdout.write(`Display fields of ${eventId} flushed; inventory untouched.\n`);
    } else if (sub === "warm") {
      const ids = await ops.targets(line.values["on-sale"] === true ? null : eventArg(line, target));
      const progress = progressBar("cache warm");
      const results = await ops.warmAll(ids, progress.progress).finally(() => progress.stop());
      for (const r of results) {
        const { relayBehind, restored, unrestored } = r.recover;
        const note = relayBehind
          ? " (relay behind: PostgreSQL counts not applied, run again)"
          : restored + unrestored.length > 0
            ? ` (${restored} paid booking(s) restored from payments, ${unrestored.length} payment(s) sent back)`
            : "";
        process.stdout.write(
          `${r.eventId}: instock ${r.instock}, held ${r.held}, paid ${r.paid}, capacity ${r.capacity}${note}\n`,
        );
      }
    } else if (sub === "reconcile") {
      const repair = line.values.repair === true;
      const ids = await ops.targets(target === undefined ? null : eventArg(line, target));
      const progress = progressBar(repair ? "reconcile --repair" : "reconcile");
      const results = await ops.reconcileAll(ids, repair, progress.progress).finally(() => progress.stop());
      const drifted = results.filter((r) => r.drift.length > 0);
      for (const r of drifted) {
        for (const d of r.drift)
          process.stdout.write(`${r.eventId}: ${d.kind}: redis ${d.redis} | postgres ${d.postgres}\n`);
        if (repair) process.stdout.write(`${r.eventId}: ${r.repaired ? "repaired" : "NOT repaired"}\n`);
      }
      process.stdout.write(
        `${results.length} event(s) checked, ${drifted.length} with drift${repair ? `, ${drifted.filter((r) => r.repaired).length} repaired` : ""}.\n`,
      );
      if (drifted.some((r) => !r.repaired)) process.exitCode = 2;
    }
  } finally {
    redis.disconnect();
    await pool.end();
  }
}
