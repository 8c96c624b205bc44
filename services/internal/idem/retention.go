package idem

import "time"

// How long keys are kept, and how far back recovery may re-send work.
const (
	// MinRetention is the shortest time any service keeps a key: a day,
	// the window callers are told they may retry in.
	MinRetention = 24 * time.Hour
	// RecoveryWindow bounds what recovery sends again to another service
	// under its key: the partners' pending transactions and the rewards'
	// unfinished redemptions are re-sent only while they have been
	// unfinished for less than this. Every service keeps its keys longer
	// (Retention), so a request the other service already carried out is
	// replayed there, never carried out twice. Older unfinished work is
	// logged for review and not re-sent. Half of MinRetention leaves room
	// for clocks that disagree and for recovery's own runs.
	RecoveryWindow = 12 * time.Hour
)

// Retention is how long a service keeps its idempotency keys before the
// purge may delete them: max(MinRetention, twice the longest hold TTL the
// service grants or relies on, RecoveryWindow). The ledger passes the
// longest hold TTL of its programmes (the rewards service re-sends a
// redemption's hold, capture and release keys while recovering it after
// twice its hold TTL); a service without holds passes 0.
func Retention(longestHoldTTL time.Duration) time.Duration {
	return max(MinRetention, 2*longestHoldTTL, RecoveryWindow)
}
