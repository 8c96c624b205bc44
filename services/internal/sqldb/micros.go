package sqldb

import "time"

// Micros is how Fidelis stores a time on every engine: microseconds since
// the Unix epoch in a BIGINT, the zero time as 0.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicros reads a time stored by Micros, in UTC; 0 is the zero time.
func FromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
