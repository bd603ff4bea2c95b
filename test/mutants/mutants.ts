// Named mutations of the scripts (and of the few TypeScript lines a guarantee rests on), each
// with the test that names the guarantee it breaks. test/mutants/run.ts applies each one alone
// to a copy of the repository and fails when that test still passes: a guarantee whose test
// cannot fail is not proven. A mutation whose text is no longer found fails too, so the list
// follows the code it mutates.

export interface Mutant {
  name: string;
  /** What the mutant breaks, in the words of the guarantee. */
  breaks: string;
  file: string;
  /** Found exactly once in `file`, and replaced by `to`. */
  from: string;
  to: string;
  /** The test file and the name (a regular expression, vitest -t) of the test that must fail. */
  killedBy: { file: string; test: string };
}

const RANDOM_ONSALES = { file: "test/concurrency.test.ts", test: "never oversells, and grants holds in arrival order" };

export const MUTANTS: readonly Mutant[] = [
  {
    name: "moveStock never checks the invariant",
    breaks: "instock + held + paid == capacity is checked before any write",
    file: "lua/includes/context.lua",
    from: "if instock < 0 or held < 0 or paid < 0 or instock + held + paid ~= ev.capacity then",
    to: "if false then",
    killedBy: { file: "test/concurrency.test.ts", test: "a hold on an event whose counters do not add up fails" },
  },
  {
    name: "admission holds when anything is in stock",
    breaks: "a hold takes only tickets that are in stock",
    file: "lua/includes/admission.lua",
    from: "lineLength == 0 and ev.instock >= quantity",
    to: "lineLength == 0 and ev.instock > 0",
    killedBy: RANDOM_ONSALES,
  },
  {
    name: "newcomers jump a blocked line",
    breaks: "first come, first served: no hold while someone earlier waits",
    file: "lua/includes/admission.lua",
    from: "saleOpen(ev, nowMs) and lineLength == 0 and ev.instock >= quantity",
    to: "saleOpen(ev, nowMs) and ev.instock >= quantity",
    killedBy: RANDOM_ONSALES,
  },
  {
    name: "Idempotency-Key not scoped per user",
    breaks: "a replay answers only the person who made the booking",
    file: "lua/includes/admission.lua",
    from: "return ctx.idemPrefix .. req.user .. ':' .. req.idemKey",
    to: "return ctx.idemPrefix .. req.idemKey",
    killedBy: { file: "test/flows.test.ts", test: "scopes an Idempotency-Key to its user" },
  },
  {
    name: "releaseHold never gives back the tally",
    breaks: "the per-person limit counts tickets held and paid, nothing else",
    file: "lua/includes/booking.lua",
    from: "  updatePerson(ctx, b, -b.qty, true)\n",
    to: "  updatePerson(ctx, b, 0, true)\n",
    killedBy: RANDOM_ONSALES,
  },
  {
    name: "releaseHold leaves the open booking",
    breaks: "one open booking per person, and a person whose hold ended may book again",
    file: "lua/includes/booking.lua",
    from: "  updatePerson(ctx, b, -b.qty, true)\n",
    to: "  updatePerson(ctx, b, -b.qty, false)\n",
    killedBy: RANDOM_ONSALES,
  },
  {
    name: "hold index scored later than the hold ends",
    breaks: "a hold ends when its booking says (the sweep finds it by its score)",
    file: "lua/includes/booking.lua",
    from: "redis.call('ZADD', ctx.holds, b.exp, b.id)",
    to: "redis.call('ZADD', ctx.holds, b.exp + 1, b.id)",
    killedBy: RANDOM_ONSALES,
  },
  {
    name: "the reclaim bound ignores new holds",
    breaks: "a hold ends when its booking says, however long the holds granted before it last",
    file: "lua/includes/booking.lua",
    from: "  if ev.holdsDueAtMs > b.exp then",
    to: "  if false then",
    killedBy: {
      file: "test/holdShortcuts.test.ts",
      test: "reclaims a hold that ends before the holds granted ahead of it",
    },
  },
  {
    name: "queueing leaves the line marked empty",
    breaks: "first come, first served: no hold while someone earlier waits",
    file: "lua/includes/admission.lua",
    from: "EVENT.nextSeq, b.seq, EVENT.lineEmpty, 0)",
    to: "EVENT.nextSeq, b.seq)",
    killedBy: RANDOM_ONSALES,
  },
  {
    name: "sold out answered after the gate",
    breaks: "a sold-out answer changes nothing, so it spends no client's budget",
    file: "lua/hold.lua",
    from: "if soldOut then return soldOut end",
    to: "",
    killedBy: { file: "test/holdShortcuts.test.ts", test: "refuses a sold-out request without charging" },
  },
  {
    name: "sold out answered before the Idempotency-Key",
    breaks: "a request repeating an Idempotency-Key is answered for the booking it made",
    file: "lua/includes/admission.lua",
    from: "  if req.idemKey ~= '' and redis.call('EXISTS', idempotencyKeyOf(ctx, req)) == 1 then return nil end\n",
    to: "",
    killedBy: { file: "test/holdShortcuts.test.ts", test: "refuses a sold-out request without charging" },
  },
  {
    name: "relay offset read without a lock",
    breaks: "each booking change is persisted, and its side effects queued, exactly once however many relays run",
    file: "sql/relay.ts",
    from: " AND active FOR UPDATE SKIP LOCKED`",
    to: " AND active`",
    killedBy: { file: "test/relay.test.ts", test: "writes every booking exactly once while three relays compete" },
  },
  {
    name: "any userId accepted",
    breaks: "POST /bookings takes only userIds of letters, digits and . _ @ + | -",
    file: "http/userTokens.ts",
    from: "export const USER_ID = /^[A-Za-z0-9._@+|-]+$/;",
    to: "export const USER_ID = /[\\s\\S]*/;",
    killedBy: { file: "test/badInputProperties.test.ts", test: "userId outside letters, digits" },
  },
];
