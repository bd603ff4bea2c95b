import type { LogEntry } from "../engine/eventLog.js";
import { lineKey } from "../engine/keys.js";
import type { RedisClient } from "../engine/redis.js";
import { STATE } from "../engine/schema.js";

// One event's waiting line as an HTTP process keeps it: the arrival sequence numbers of the
// bookings waiting (line:{E}'s scores), so a follower's place in line is a rank computed here
// rather than a ZRANK in Redis per socket each time the line moves.

/** Words the bitset starts with (1,024 arrivals); it doubles as arrivals grow. */
const INITIAL_WORDS = 32;

/** Set bits of a 32-bit word. */
function popcount(word: number): number {
  let v = word - ((word >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/**
 * A set of positive integers (arrival sequences) with rank queries: a bitset, one bit per
 * sequence, and a Fenwick tree over the set bits of each 32-bit word. Adding, removing and
 * ranking cost O(log(largest sequence / 32)); memory is about one bit per arrival plus 4 bytes
 * per 32 arrivals, whatever the number of followers.
 */
export class SeqRanks {
  private words = new Uint32Array(INITIAL_WORDS);
  /** Fenwick tree over the words' bit counts, 1-based: tree[i] sums words (i - lowbit(i), i]. */
  private tree = new Int32Array(INITIAL_WORDS + 1);
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(seq: number): boolean {
    checkSeq(seq);
    const word = seq >>> 5;
    return word < this.words.length && (this.words[word]! & (1 << (seq & 31))) !== 0;
  }

  /** Adds seq; false when it was there already (a log entry applied twice changes nothing). */
  add(seq: number): boolean {
    if (this.has(seq)) return false;
    const word = seq >>> 5;
    if (word >= this.words.length) this.grow(word);
    this.words[word] = (this.words[word]! | (1 << (seq & 31))) >>> 0;
    this.bump(word, 1);
    this.count += 1;
    return true;
  }

  /** Removes seq; false when it was not there. */
  delete(seq: number): boolean {
    if (!this.has(seq)) return false;
    const word = seq >>> 5;
    this.words[word] = (this.words[word]! & ~(1 << (seq & 31))) >>> 0;
    this.bump(word, -1);
    this.count -= 1;
    return true;
  }

  /** How many members are ≤ seq: a waiting booking's 1-based place in line. */
  rankOf(seq: number): number {
    checkSeq(seq);
    const word = seq >>> 5;
    if (word >= this.words.length) return this.count;
    let rank = 0;
    for (let i = word; i > 0; i -= i & -i) rank += this.tree[i]!;
    const bit = seq & 31;
    const mask = bit === 31 ? 0xffffffff : (1 << (bit + 1)) - 1;
    return rank + popcount((this.words[word]! & mask) >>> 0);
  }

  private bump(word: number, delta: number): void {
    for (let i = word + 1; i < this.tree.length; i += i & -i) this.tree[i]! += delta;
  }

  /** Doubles the bitset until word fits, rebuilding the tree in O(words). */
  private grow(word: number): void {
    let length = this.words.length;
    while (length <= word) length *= 2;
    const words = new Uint32Array(length);
    words.set(this.words);
    const tree = new Int32Array(length + 1);
    for (let i = 1; i <= length; i++) {
      tree[i]! += popcount(words[i - 1]!);
      const parent = i + (i & -i);
      if (parent <= length) tree[parent]! += tree[i]!;
    }
    this.words = words;
    this.tree = tree;
  }
}

/** Largest arrival sequence kept: the bitset for it is 2^31 / 8 = 256 MiB, far past any line. */
const SEQ_MAX = 2 ** 31 - 1;

function checkSeq(seq: number): void {
  if (!Number.isInteger(seq) || seq < 1 || seq > SEQ_MAX)
    throw new Error(`invariant: arrival sequence ${seq} out of range`);
}

/**
 * Applies one log entry to the line: a waiting booking is in it, any other state is not.
 * True when the entry took someone out of the line (the people behind moved up).
 */
export function applyToLine(line: SeqRanks, entry: Pick<LogEntry, "status" | "arrivalSeq">): boolean {
  if (entry.status === STATE.waiting) {
    line.add(entry.arrivalSeq);
    return false;
  }
  return line.delete(entry.arrivalSeq);
}

/** Members read per ZRANGE while loading a line. */
const LOAD_CHUNK = 10_000;

/**
 * The sequences waiting in line:{E} now, read in chunks by score (a chunk starts past the last
 * score read, so bookings leaving meanwhile shift nothing). The chunks are not one snapshot:
 * the caller reads the log's end before loading and applies every entry after it, and since
 * an entry names the booking's state as it then stands, the last one for each sequence wins.
 */
export async function loadLine(redis: RedisClient, eventId: string, chunkSize = LOAD_CHUNK): Promise<SeqRanks> {
  const line = new SeqRanks();
  let from = "-inf";
  for (;;) {
    const chunk = (await redis.call(
      "ZRANGE",
      lineKey(eventId),
      from,
      "+inf",
      "BYSCORE",
      "LIMIT",
      0,
      chunkSize,
      "WITHSCORES",
    )) as string[];
    for (let i = 1; i < chunk.length; i += 2) line.add(Number(chunk[i]));
    if (chunk.length < 2 * chunkSize) return line;
    from = `(${chunk[chunk.length - 1]}`;
  }
}
