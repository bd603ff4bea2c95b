import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Events } from "../../application/events.js";
import type { EventRecord, LiveEvent } from "../../engine/engine.js";
import { isUuid } from "../../engine/ids.js";
import { formatMoney } from "../../engine/money.js";
import { BOOKING_STATES } from "../../engine/schema.js";
import type { Reply, RouteSpec } from "../exchange.js";
import { escapeHtml, page } from "../pages.js";
import type { HttpDeps } from "../deps.js";

// The booking page a person uses: GET /e/:id shows the event, takes a quantity, and (with
// http/static/site.js) books, waits in line with a live position, counts the hold down and
// links to checkout. The page works at phone width and with a screen reader.

const STATIC_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "static");
const STATIC_FILES: Record<string, string> = {
  "site.js": "text/javascript; charset=utf-8",
  "site.css": "text/css; charset=utf-8",
};

/** The booking page's body: the event, the form, and the sections site.js shows in turn. */
function eventPage(event: EventRecord, live: LiveEvent): string {
  const when = new Intl.DateTimeFormat("en-GB", {
    dateStyle: "full",
    timeStyle: "short",
    timeZone: event.timeZone,
  }).format(event.startsAt);
  const maxPerUser = Number(live.fields.max_per_user ?? event.maxPerUser);
  const powBits = Number(live.fields.pow_bits ?? 0);
  const options = Array.from({ length: maxPerUser }, (_, i) => `<option value="${i + 1}">${i + 1}</option>`).join("");
  const opens =
    event.saleStartsAt && event.saleStartsAt.getTime() > Date.now()
      ? `<p>Sale opens ${escapeHtml(new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "medium", timeZone: event.timeZone }).format(event.saleStartsAt))}. Join the line now: people are served in the order they arrive.</p>`
      : "";
  return `<link rel="stylesheet" href="/static/site.css">
<main id="app" data-event-id="${event.id}" data-pow-bits="${powBits}" data-states="${BOOKING_STATES.join(" ")}">
<p class="meta">${escapeHtml(event.venue)} · ${escapeHtml(when)}</p>
<p>${escapeHtml(formatMoney(event.price, event.currency))} per ticket · <span id="instock">${live.instock}</span> available now</p>
${opens}
<section id="choose" aria-labelledby="choose-title">
<h2 id="choose-title" tabindex="-1">Choose your tickets</h2>
<form id="book-form">
<label for="email">Email (your confirmation goes here)</label>
<input id="email" name="email" type="email" required autocomplete="email" maxlength="128">
<label for="quantity">Number of tickets</label>
<select id="quantity" name="quantity">${options}</select>
<button class="primary" type="submit" id="book">Get tickets</button>
</form>
<p><button id="resume" type="button" hidden>Open my booking</button></p>
</section>
<section id="waiting" hidden aria-labelledby="waiting-title">
<h2 id="waiting-title" tabindex="-1">You are in line</h2>
<p aria-live="polite" aria-atomic="true">Your place in line: <strong id="position">…</strong></p>
<p id="estimate" aria-live="polite"></p>
<p>Keep this page open: when it is your turn your tickets are held for you here.</p>
</section>
<section id="held" hidden aria-labelledby="held-title">
<h2 id="held-title" tabindex="-1">Your tickets are held</h2>
<p>Pay within <strong id="countdown" role="timer">5:00</strong> or they go to the next person in line.</p>
<p><a id="pay" class="button primary" href="#">Pay now</a></p>
<p><button id="cancel" type="button">Release my tickets</button></p>
</section>
<section id="ended" hidden aria-labelledby="ended-title">
<h2 id="ended-title" tabindex="-1">Your booking</h2>
<p id="ended-text"></p>
<p><button id="again" type="button">Start again</button></p>
</section>
<p id="message" role="status" aria-live="polite"></p>
</main>
<script src="/static/site.js" defer></script>`;
}

export function siteRoutes(deps: HttpDeps): RouteSpec[] {
  const events = new Events(deps);
  // Read once at start: the files are part of the release, like the Lua scripts.
  const files = new Map(
    Object.entries(STATIC_FILES).map(([name, type]) => [
      name,
      { text: readFileSync(join(STATIC_DIR, name), "utf8"), type },
    ]),
  );
  const notFound: Reply = { status: 404, html: page("Event not found", "<p>There is no event at this address.</p>") };

  return [
    {
      method: "get",
      pattern: "/static/:file",
      name: "site.static",
      auth: "none",
      handler({ params }): Reply {
        const file = files.get(params[0] ?? "");
        if (file === undefined) return { status: 404, text: "not found" };
        return {
          status: 200,
          text: file.text,
          contentType: file.type,
          headers: { "Cache-Control": "public, max-age=300" },
        };
      },
    },
    {
      method: "get",
      pattern: "/e/:id",
      name: "site.event",
      auth: "none",
      async handler({ params }): Promise<Reply> {
        const eventId = params[0] ?? "";
        if (!isUuid(eventId)) return notFound;
        const onSale = await events.onSale(eventId);
        if (onSale === null) return notFound;
        const { event, live } = onSale;
        return {
          status: 200,
          html: page(event.name, eventPage(event, live)),
          headers: { "Cache-Control": "no-store" },
        };
      },
    },
  ];
}
