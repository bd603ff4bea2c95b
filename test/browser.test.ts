import { join } from "node:path";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { PHONE, useChromium } from "./chromium.js";
import { checkInvariant, useTestEngine } from "./helpers.js";

// The whole flow in a real browser (Debian's chromium): two people compete for the last
// ticket of a proof-of-work protected event. The first holds it, her card is declined, and
// she releases it; the second, waiting in line, sees her place and then her turn live, pays on the mock
// gateway's page, and sees the confirmation once the webhook has landed.

const ARTIFACTS = join(process.cwd(), "test-artifacts", "browser");
const ctx = useTestEngine();
const chromium = useChromium(ARTIFACTS);

let step = 0;
const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `${String(++step).padStart(2, "0")}-${name}.png`), fullPage: true });

describe("booking page in chromium", () => {
  it("two people compete for the last ticket: hold, line, live turn, checkout, confirmation", async () => {
    const base = `http://127.0.0.1:${ctx.running.http!.port}`;
    const eventId = await ctx.client.eventId({ name: "Last Ticket Live", capacity: 1, maxPerUser: 2, powBits: 14 });
    const ana = await (await chromium.browser.newContext(PHONE)).newPage();
    const ben = await (await chromium.browser.newContext(PHONE)).newPage();

    await ana.goto(`${base}/e/${eventId}`);
    await expect(ana.title()).resolves.toBe("Last Ticket Live");
    await shot(ana, "ana-event-page");
    await ana.getByLabel("Email").fill("ana@example.com");
    await ana.getByLabel("Number of tickets").selectOption("1");
    await ana.getByRole("button", { name: "Get tickets" }).click();
    await ana.locator("#held").waitFor({ state: "visible" });
    expect(await ana.locator("#countdown").textContent()).toMatch(/^[45]:\d\d$/);
    const powMs = Number(await ana.locator("#app").getAttribute("data-pow-ms"));
    const powTries = Number(await ana.locator("#app").getAttribute("data-pow-tries"));
    await shot(ana, "ana-held-countdown");

    await ben.goto(`${base}/e/${eventId}`);
    await ben.getByLabel("Email").fill("ben@example.com");
    await ben.getByRole("button", { name: "Get tickets" }).click();
    await ben.locator("#waiting").waitFor({ state: "visible" });
    await expect(ben.locator("#position").textContent()).resolves.toBe("1");
    await shot(ben, "ben-waiting-room");

    // Ana goes to checkout and her card is declined: her ticket stays held, and she may try again.
    await ana.getByRole("link", { name: "Pay now" }).click();
    await ana.locator("#decline").waitFor();
    await shot(ana, "ana-checkout");
    await ana.locator("#decline").click();
    await ana.waitForURL(/\/pay\/.+\/return/);
    await ana.locator('#status[data-status="declined"]').waitFor({ timeout: 15_000 });
    await ana.getByRole("link", { name: "Try again" }).waitFor();
    await shot(ana, "ana-declined");
    // She gives up instead, and releases her ticket on the event page.
    await ana.goto(`${base}/e/${eventId}`);
    await ana.locator("#held").waitFor({ state: "visible" });
    await ana.locator("#cancel").click();
    await ana.locator('#app[data-final="cancelled"]').waitFor();

    // Ben's page turns to "held" by itself, over the WebSocket.
    await ben.locator("#held").waitFor({ state: "visible", timeout: 10_000 });
    await shot(ben, "ben-your-turn");
    // The turn takes the focus, so a screen reader announces it.
    expect(await ben.evaluate(() => document.activeElement?.id)).toBe("held-title");
    await ben.getByRole("link", { name: "Pay now" }).click();
    await ben.locator("#pay").waitFor();
    await shot(ben, "ben-checkout");
    await ben.locator("#pay").click();
    await ben.waitForURL(/\/pay\/.+\/return/);
    await ben.locator('#status[data-status="paid"]').waitFor({ timeout: 15_000 });
    await shot(ben, "ben-confirmed");

    // Back on the event page, Ben's booking reads as paid and the event as sold out.
    await ben.goto(`${base}/e/${eventId}`);
    await ben.locator('#app[data-final="paid"]').waitFor();
    await shot(ben, "ben-event-page-after");
    console.log(
      `proof-of-work in chromium: 14 bits, ${powTries} digests in ${powMs} ms (${Math.round(powTries / Math.max(1, powMs))} per ms)`,
    );
    const tally = await checkInvariant(ctx.running.engine, eventId);
    expect(tally).toMatchObject({ paid: 1, held: 0, instock: 0 });
  });

  it("a second tab resumes the open booking; another browser is told plainly that one is open", async () => {
    const base = `http://127.0.0.1:${ctx.running.http!.port}`;
    const eventId = await ctx.client.eventId({ name: "Two Tabs", capacity: 5, maxPerUser: 2 });
    const context = await chromium.browser.newContext(PHONE);
    const first = await context.newPage();
    await first.goto(`${base}/e/${eventId}`);
    await first.getByLabel("Email").fill("cleo@example.com");
    await first.getByRole("button", { name: "Get tickets" }).click();
    await first.locator("#held").waitFor({ state: "visible" });
    const saved = await first.evaluate((key) => JSON.parse(localStorage.getItem(key) ?? "null"), `booking:${eventId}`);

    // A second tab of the same browser opens on the booking itself.
    const second = await context.newPage();
    await second.goto(`${base}/e/${eventId}`);
    await second.locator("#held").waitFor({ state: "visible" });

    // Another browser typing the same email learns that a booking is open, not its id.
    const other = await (await chromium.browser.newContext(PHONE)).newPage();
    await other.goto(`${base}/e/${eventId}`);
    await other.getByLabel("Email").fill("cleo@example.com");
    await other.getByRole("button", { name: "Get tickets" }).click();
    await other.locator("#message", { hasText: "already has a booking open for this event" }).waitFor();
    expect(await other.locator("#message").textContent()).not.toContain(saved.id);
    expect(await other.locator("#resume").isHidden()).toBe(true);

    // A verified identity's 409 names the booking (the server does so only for a signed
    // identity): a tab of this browser that knows it offers to open it.
    await second.route("**/bookings", (route) =>
      route.fulfill({
        status: 409,
        contentType: "application/problem+json",
        body: JSON.stringify({ type: "/problems/open-booking-exists", bookingId: saved.id }),
      }),
    );
    await second.evaluate(() => (document.getElementById("again") as HTMLButtonElement).click());
    await second.evaluate(
      ([key, value]) => localStorage.setItem(key!, value!),
      [`booking:${eventId}`, JSON.stringify(saved)],
    );
    await second.getByLabel("Email").fill("cleo@example.com");
    await second.getByRole("button", { name: "Get tickets" }).click();
    await second.getByRole("button", { name: "Open my booking" }).click();
    await second.locator("#held").waitFor({ state: "visible" });
    await shot(second, "second-tab-resumed");
    await context.close();
  });
});
