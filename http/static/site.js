// The booking page: book (solving the event's proof-of-work if it asks for one), then follow
// the booking live over WebSocket (/live), falling back to polling GET /bookings/:id. The
// booking (id and token) is kept in localStorage, so another tab of this browser resumes it.

const app = document.getElementById("app");
const eventId = app.dataset.eventId;
const storeKey = `booking:${eventId}`;
const $ = (id) => document.getElementById(id);
const POLL_MS = 3000;
/** Booking states by name, as the server's schema (engine/schema.ts) lists them in data-states. */
const STATE = Object.freeze(Object.fromEntries(app.dataset.states.split(" ").map((name) => [name, name])));
/** Digests started together while solving; WebCrypto is asynchronous, so batches keep it busy. */
const POW_BATCH = 256;

let countdownTimer = 0;
let pollTimer = 0;
let socket = null;

function show(section) {
  const changed = $(section).hidden;
  for (const id of ["choose", "waiting", "held", "ended"]) $(id).hidden = id !== section;
  // A new step takes the focus, so screen readers announce it (the turn, the end).
  if (changed) $(`${section}-title`).focus();
}

function say(text) {
  $("message").textContent = text;
}

function leadingZeroBits(bytes) {
  let bits = 0;
  for (const byte of bytes) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

// Hashcash: find n such that SHA-256("<challenge>:<n>") starts with difficultyBits zero bits.
async function proofOfWork() {
  const answer = await fetch(`/events/${eventId}/challenge`, { cache: "no-store" });
  if (!answer.ok) throw new Error("Could not get a challenge; try again.");
  const { challenge, difficultyBits } = await answer.json();
  if (difficultyBits === 0) return {};
  say("Checking you are not a robot…");
  const encoder = new TextEncoder();
  const startedMs = performance.now();
  for (let base = 0; ; base += POW_BATCH) {
    const digests = [];
    for (let n = base; n < base + POW_BATCH; n++)
      digests.push(crypto.subtle.digest("SHA-256", encoder.encode(`${challenge}:${n}`)));
    const results = await Promise.all(digests);
    const found = results.findIndex((digest) => leadingZeroBits(new Uint8Array(digest)) >= difficultyBits);
    if (found >= 0) {
      app.dataset.powMs = String(Math.round(performance.now() - startedMs));
      app.dataset.powTries = String(base + found + 1);
      say("");
      return { powChallenge: challenge, powSolution: String(base + found) };
    }
  }
}

async function book(event) {
  event.preventDefault();
  const button = $("book");
  button.disabled = true;
  say("");
  try {
    const email = $("email").value.trim();
    const proof = await proofOfWork();
    const answer = await fetch("/bookings", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({ eventId, userId: email, email, quantity: Number($("quantity").value), ...proof }),
    });
    const body = await answer.json();
    if (!answer.ok) {
      if (body.type === "/problems/open-booking-exists") return openBookingExists(body.bookingId);
      const retry = answer.headers.get("Retry-After");
      say(body.detail + (retry ? ` Try again in ${retry} s.` : ""));
      return;
    }
    localStorage.setItem(storeKey, JSON.stringify({ id: body.id, token: body.token }));
    $("resume").hidden = true;
    render(body);
    follow(body.id, body.token);
  } catch (error) {
    say(error.message || "Something went wrong; try again.");
  } finally {
    button.disabled = false;
  }
}

function savedBooking() {
  return JSON.parse(localStorage.getItem(storeKey) || "null");
}

// The server names the open booking only to a request that proved who it is; this browser
// can open it when it made it (another tab). Otherwise it is somewhere else: say so plainly.
function openBookingExists(bookingId) {
  const saved = savedBooking();
  if (bookingId && saved !== null && saved.id === bookingId) {
    say("You already have a booking for this event.");
    $("resume").hidden = false;
    $("resume").focus();
    return;
  }
  say(
    bookingId
      ? "You already have a booking open for this event, made in another browser or device. Finish or release it there, or use the link in its email."
      : "This person already has a booking open for this event. Finish or release it where it was made before booking again.",
  );
}

function resume(id, token) {
  $("resume").hidden = true;
  poll(id, token);
  follow(id, token);
}

function render(view) {
  clearInterval(countdownTimer);
  if (view.status === STATE.waiting) {
    show("waiting");
    $("position").textContent = String(view.position);
    const wait = view.estimatedWaitSeconds;
    $("estimate").textContent =
      wait == null
        ? "Estimating your wait…"
        : `Estimated wait: about ${wait < 90 ? `${wait} seconds` : `${Math.round(wait / 60)} minutes`}.`;
  } else if (view.status === STATE.held) {
    show("held");
    $("pay").href = view.paymentUrl;
    const endsAtMs = Date.parse(view.expiresAt);
    const tick = () => {
      const leftS = Math.max(0, Math.ceil((endsAtMs - Date.now()) / 1000));
      $("countdown").textContent = `${Math.floor(leftS / 60)}:${String(leftS % 60).padStart(2, "0")}`;
      if (leftS === 0) clearInterval(countdownTimer);
    };
    tick();
    countdownTimer = setInterval(tick, 250);
  } else {
    show("ended");
    const words = {
      [STATE.paid]: "Paid: your tickets are confirmed. A confirmation email is on its way.",
      [STATE.expired]:
        view.reason === "sold_out" ? "Sold out: no tickets are left." : "Your hold ended before payment.",
      [STATE.cancelled]: "Your booking was released.",
      [STATE.refunded]: "Your payment was refunded.",
    };
    $("ended-text").textContent = words[view.status] || `Your booking is ${view.status}.`;
    app.dataset.final = view.status;
    stopFollowing();
  }
  app.dataset.status = view.status;
}

function follow(id, token) {
  stopFollowing();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/live?booking=${id}&token=${encodeURIComponent(token)}`);
  socket.onmessage = (message) => render(JSON.parse(message.data));
  // The socket is the fast path; polling keeps the page right when it cannot connect.
  socket.onclose = () => {
    if (socket !== null) pollTimer = setInterval(() => poll(id, token), POLL_MS);
  };
}

async function poll(id, token) {
  const answer = await fetch(`/bookings/${id}`, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
  if (answer.ok) render(await answer.json());
}

function stopFollowing() {
  clearInterval(pollTimer);
  if (socket !== null) {
    const old = socket;
    socket = null;
    old.close();
  }
}

async function cancel() {
  const saved = savedBooking();
  if (saved === null) return;
  const answer = await fetch(`/bookings/${saved.id}`, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${saved.token}` },
  });
  if (!answer.ok) say((await answer.json()).detail);
}

function startAgain() {
  stopFollowing();
  localStorage.removeItem(storeKey);
  delete app.dataset.final;
  show("choose");
  $("email").focus();
}

$("book-form").addEventListener("submit", book);
$("cancel").addEventListener("click", cancel);
$("again").addEventListener("click", startAgain);
$("resume").addEventListener("click", () => {
  say("");
  const saved = savedBooking();
  if (saved !== null) resume(saved.id, saved.token);
});

// Coming back to the page (a reload, another tab, or back from checkout) picks the booking up again.
const saved = savedBooking();
if (saved !== null) resume(saved.id, saved.token);
