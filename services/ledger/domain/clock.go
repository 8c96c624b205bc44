package domain

import (
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// Micro is t in UTC to the microsecond the stores keep; the zero time
// stays zero.
func Micro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// AsOf is the time a job or report asks for: now when zero; a time after
// now is refused.
func AsOf(t, now time.Time) (time.Time, error) {
	if t.IsZero() {
		return now, nil
	}
	if t = Micro(t); t.After(now) {
		return t, fault.Invalid("as_of", "is in the future")
	}
	return t, nil
}

// Find returns a programme's configuration, NotFound when there is none.
func (c *Config) Find(id string) (*Programme, error) {
	p, ok := c.Programme(id)
	if !ok {
		return nil, fault.NotFound(fault.ProgrammeNotFound, "programme %q not found", id)
	}
	return p, nil
}
