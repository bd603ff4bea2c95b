// A hold refused SOLD_OUT for q tickets means the script saw instock + held < q: not even
// every hold ending would free q tickets. Only a capacity raise (the event loaded again) or a
// recovery gives stock back, so for SOLD_OUT_MEMO_MS this process refuses q or more tickets of
// that event itself, without a Redis call. What it knows is at most that old when another
// process changed the event; a change made through this process drops it at once.

interface SoldOut {
  /** The fewest tickets refused: any request for this many or more is refused. */
  fromQuantity: number;
  untilMs: number;
}

/** Events remembered at most; past it the memo starts empty again (it only saves Redis calls). */
const SOLD_OUT_EVENTS_MAX = 10_000;

export class SoldOutMemo {
  private readonly events = new Map<string, SoldOut>();
  /** Counts changes: a SOLD_OUT asked before a change and answered after it is not remembered. */
  private changes = 0;

  constructor(private readonly memoMs: number) {}

  /** Whether a request for `quantity` tickets of the event is known to be refused sold-out at nowMs. */
  refuses(eventId: string, quantity: number, nowMs: number): boolean {
    const soldOut = this.events.get(eventId);
    return soldOut !== undefined && quantity >= soldOut.fromQuantity && nowMs < soldOut.untilMs;
  }

  /** Taken when a hold is sent, handed back to `remember` with its SOLD_OUT answer. */
  mark(): number {
    return this.changes;
  }

  /** Redis refused `quantity` tickets sold-out to a hold sent at sentAtMs (its clock, so the memo never outlives what it saw). */
  remember(eventId: string, quantity: number, sentAtMs: number, mark: number): void {
    if (this.memoMs === 0 || mark !== this.changes) return;
    const known = this.events.get(eventId);
    // A known refusal of fewer tickets, still in force, already says more.
    if (known !== undefined && known.fromQuantity < quantity && sentAtMs < known.untilMs) return;
    if (known === undefined && this.events.size >= SOLD_OUT_EVENTS_MAX) this.events.clear();
    this.events.set(eventId, { fromQuantity: quantity, untilMs: sentAtMs + this.memoMs });
  }

  /** The event's stock may have come back: ask Redis again, and drop answers to holds already sent. */
  forget(eventId: string): void {
    this.changes += 1;
    this.events.delete(eventId);
  }
}
