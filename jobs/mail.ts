import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import nodemailer from "nodemailer";
import { SMTPServer } from "smtp-server";
import type { MailConfig } from "../engine/config.js";
import type { Logger } from "../engine/logger.js";
import type { MailContent } from "./messages.js";

// SMTP through nodemailer. Without SMTP_URL the work role runs a local SMTP sink that keeps
// each message as a .eml file, so a newcomer can read what the engine sent.

/** Largest message the local sink accepts. */
const SINK_MESSAGE_BYTES = 5 * 1024 * 1024;

/** SMTP connections one process keeps open at most. */
const SMTP_CONNECTIONS = 5;

export interface Outgoing extends MailContent {
  to: string;
  /** Stable per booking and kind, so a mail client shows a re-sent copy as the same message. */
  messageId: string;
}

export class Mailer {
  private readonly transport: nodemailer.Transporter;

  constructor(
    smtpUrl: string,
    private readonly from: string,
  ) {
    // Pooled: a batch of notify jobs shares a few connections instead of one each.
    this.transport = nodemailer.createTransport({ url: smtpUrl, pool: true, maxConnections: SMTP_CONNECTIONS });
  }

  /** Resolves once the SMTP server has accepted the message; throws if it refused it. */
  async send(mail: Outgoing): Promise<string> {
    const info = await this.transport.sendMail({ from: this.from, ...mail });
    return info.messageId;
  }

  close(): void {
    this.transport.close();
  }
}

export interface MailSink {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

/** A local SMTP server writing each message it receives to `dir` as <time>-<n>.eml. */
async function startMailSink(dir: string, log: Logger): Promise<MailSink> {
  const absolute = resolve(dir);
  mkdirSync(absolute, { recursive: true });
  let count = readdirSync(absolute).length;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    size: SINK_MESSAGE_BYTES,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        count += 1;
        const file = join(absolute, `${new Date().toISOString().replace(/[:.]/g, "-")}-${count}.eml`);
        writeFileSync(file, Buffer.concat(chunks));
        log.info({ file, to: session.envelope.rcptTo.map((r) => r.address) }, "mail stored by the local sink");
        callback();
      });
    },
  });
  const port = await new Promise<number>((done, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => done((server.server.address() as { port: number }).port));
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    dir: absolute,
    stop: () => new Promise((done) => server.close(() => done())),
  };
}

/** The SMTP URL to send through: the configured one, or a local sink's. */
export async function mailTransport(
  config: MailConfig,
  log: Logger,
): Promise<{ mailer: Mailer; sink: MailSink | null }> {
  if (config.smtpUrl !== "") return { mailer: new Mailer(config.smtpUrl, config.from), sink: null };
  const sink = await startMailSink(config.dir, log);
  log.info(
    { dir: sink.dir },
    `SMTP_URL is not set: emails are stored as .eml files in ${sink.dir} (list them with: onsale mail)`,
  );
  return { mailer: new Mailer(sink.url, config.from), sink };
}
