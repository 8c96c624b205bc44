package consent

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// ConsentInput is a consent change as asked for.
type ConsentInput struct {
	MemberID    string
	Purpose     string
	Channel     string
	Granted     bool
	Source      string
	TextVersion string
	// OccurredAt is when the member gave it; zero for now.
	OccurredAt time.Time
}

// setConsentV1 is SetConsent's request form at hash version 1.
type setConsentV1 struct {
	MemberID    string    `json:"member_id"`
	Purpose     string    `json:"purpose"`
	Channel     string    `json:"channel"`
	Granted     bool      `json:"granted"`
	Source      string    `json:"source"`
	TextVersion string    `json:"text_version"`
	OccurredAt  time.Time `json:"occurred_at"`
}

// SetConsent records a consent change, once per idempotency key.
func (s *Service) SetConsent(ctx context.Context, who principal.Principal, key string, in ConsentInput) (*ConsentChange, error) {
	in.OccurredAt = in.OccurredAt.UTC().Truncate(time.Microsecond)
	req, err := idem.NewRequest("SetConsent", 1, func(int) any { return setConsentV1(in) })
	if err != nil {
		return nil, err
	}
	c := newChange(in)
	if err := c.Validate(); err != nil {
		return nil, fault.Invalid("channel", "%v", err)
	}
	check := func(context.Context) error {
		if in.OccurredAt.After(s.clock()) {
			return fault.Invalid("occurred_time", "is in the future")
		}
		return nil
	}
	return idem.Run(ctx, s.flow, idem.Key{Caller: who.ID, Key: key}, req, check, func(ctx context.Context, tx Tx) (*ConsentChange, error) {
		p, err := programmeOf(ctx, tx, who, in.MemberID)
		if err != nil {
			return nil, err
		}
		c := newChange(in)
		c.ID, c.ProgrammeID, c.Actor, c.RecordedAt = s.newID(), p, who.Actor(), s.clock()
		if c.OccurredAt.IsZero() {
			c.OccurredAt = c.RecordedAt
		}
		if err := tx.AddConsent(ctx, c.ConsentChange); err != nil {
			return nil, err
		}
		return c, nil
	})
}
