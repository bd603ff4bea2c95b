// SQL of the notify job (issue 4): what a notification is about, and its claim row.

export const notificationSql = {
  eventStart: `SELECT starts_at FROM events WHERE id = $1`,

  // Whose reminders move with the event.
  paidBookingsOfEvent: `SELECT id FROM bookings WHERE event_id = $1 AND status = 'paid'`,

  // The booking as it now stands in PostgreSQL, with its event and where to write.
  bookingForMail: `
    SELECT b.id AS booking_id, b.status, b.quantity, b.amount, b.currency, b.expires_at, b.reason,
           COALESCE(u.email, '') AS recipient, e.id AS event_id, e.name AS event_name, e.venue,
           e.starts_at, e.time_zone
    FROM bookings b JOIN users u ON u.id = b.user_id JOIN events e ON e.id = b.event_id
    WHERE b.id = $1`,

  // The claim: a new row, or a row whose last attempt the SMTP server refused. A row that is
  // sent, or sending (an attempt that died in the crash window), is never claimed again.
  claim: `
    INSERT INTO notifications (booking_id, kind, recipient, status, attempts, updated_at)
    VALUES ($1, $2, $3, 'sending', 1, now())
    ON CONFLICT (booking_id, kind) DO UPDATE
      SET status = 'sending', recipient = EXCLUDED.recipient, attempts = notifications.attempts + 1,
          error = '', updated_at = now()
      WHERE notifications.status = 'failed'
    RETURNING id`,

  markSent: `
    UPDATE notifications SET status = 'sent', sent_at = now(), message_id = $3, updated_at = now()
    WHERE booking_id = $1 AND kind = $2 AND status = 'sending'`,

  markFailed: `
    UPDATE notifications SET status = 'failed', error = $3, updated_at = now()
    WHERE booking_id = $1 AND kind = $2 AND status = 'sending'`,

  // Not sent, and never to be: the booking moved on, or nobody to write to. Recorded so an
  // operator sees why; never overwrites a sent row.
  markSkipped: `
    INSERT INTO notifications (booking_id, kind, recipient, status, error, updated_at)
    VALUES ($1, $2, $3, 'skipped', $4, now())
    ON CONFLICT (booking_id, kind) DO UPDATE SET status = 'skipped', error = EXCLUDED.error, updated_at = now()
      WHERE notifications.status IN ('failed')`,

  // Retries spent: the row stays failed with the reason, for an operator.
  markGivenUp: `
    UPDATE notifications SET status = 'given_up', error = $3, updated_at = now()
    WHERE booking_id = $1 AND kind = $2 AND status IN ('failed', 'sending')`,
} as const;
