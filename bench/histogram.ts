// Latency histogram with logarithmic buckets (2% wide), small enough to send between
// threads and merge: each load worker fills one, the parent adds them up.

const GROWTH = 1.02;
const MIN_MS = 0.01;
/** Buckets cover 0.01 ms .. ~60 s; slower answers land in the last one. */
const BUCKETS = Math.ceil(Math.log(60_000 / MIN_MS) / Math.log(GROWTH)) + 1;

export class LatencyHistogram {
  readonly counts: number[];
  total = 0;

  constructor(counts?: number[]) {
    this.counts = counts ?? new Array<number>(BUCKETS).fill(0);
    for (const count of this.counts) this.total += count;
  }

  record(ms: number): void {
    const index = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / Math.log(GROWTH)));
    this.counts[index]! += 1;
    this.total += 1;
  }

  add(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
  }

  /** Upper edge of the bucket holding the given quantile (0..1), in ms; 0 when empty. */
  quantileMs(quantile: number): number {
    if (this.total === 0) return 0;
    const rank = Math.ceil(quantile * this.total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return bucketUpperMs(i);
    }
    return bucketUpperMs(BUCKETS - 1);
  }

  /** Non-empty buckets as [upperMs, count], for plots. */
  nonEmpty(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) out.push([bucketUpperMs(i), this.counts[i]!]);
    return out;
  }
}

function bucketUpperMs(index: number): number {
  return Math.round(MIN_MS * GROWTH ** index * 1000) / 1000;
}
