// Queries the benchmarks run: checking an on-sale against PostgreSQL after the relay drained,
// and filling the search benchmark's catalogue.

export const benchSql = {
  relayOffset: `SELECT stream_id FROM relay_offsets WHERE event_id = $1`,

  paidBookings: `SELECT id, user_id FROM bookings WHERE event_id = $1 AND status = 'paid'`,

  // FCFS: ordered by when holds were granted, arrival order must never go back.
  fcfsViolations: `
    SELECT count(*)::int AS violations FROM (
      SELECT arrival_seq, lag(arrival_seq) OVER (ORDER BY hold_seq) AS previous
      FROM bookings WHERE event_id = $1 AND hold_seq IS NOT NULL
    ) ordered
    WHERE arrival_seq < previous`,

  eventCount: `SELECT count(*)::int AS n FROM events`,

  // Fresh planner statistics after a bulk generate, so the searches measured use the indexes.
  analyzeEvents: `ANALYZE events`,

  statusCounts: `SELECT status::text, count(*)::int AS bookings, sum(quantity)::int AS tickets FROM bookings WHERE event_id = $1 GROUP BY status`,
} as const;
