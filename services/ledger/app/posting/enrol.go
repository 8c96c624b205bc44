package posting

import (
	"context"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Enrolment is a request to enrol a member.
type Enrolment struct {
	ProgrammeID    string
	MemberID       string
	ExternalRef    string
	BirthDate      string
	PartnerConsent bool
	EnrolledAt     time.Time
	// Pseudonymous says ExternalRef is a pseudonym (a lookup hash, see
	// app/members) and BirthDate at most the month and day ("--04-17"):
	// the reply then holds neither, for the stored reply to hold no
	// personal data; the caller knows them. Digest is a keyed hash of the
	// personal data of the request, part of its idempotency fingerprint
	// in their stead.
	Pseudonymous bool
	Digest       string
}

// Enrol opens a member's accounts.
func (s *Service) Enrol(ctx context.Context, who principal.Principal, key string, r Enrolment) (*domain.Member, error) {
	r.EnrolledAt = domain.Micro(r.EnrolledAt)
	id := r.MemberID
	if id == "" {
		id = s.newID()
	}
	return submit(ctx, s, call{method: "Enrol", who: who, key: key, form: enrolForm(r), member: id}, func(ctx context.Context, u *uow) (*domain.Member, error) {
		if err := who.CheckProgramme(r.ProgrammeID); err != nil {
			return nil, err
		}
		prog, ok := s.cfg.Programme(r.ProgrammeID)
		if !ok {
			return nil, fault.NotFound(fault.ProgrammeNotFound, "programme %q not found", r.ProgrammeID)
		}
		if _, exists := u.books[id]; exists {
			return nil, fault.Exists(fault.MemberAlreadyEnrolled, "member %s already exists", id).About(MemberResource, id)
		}
		other, taken := u.refs[r.ProgrammeID+"\x00"+r.ExternalRef]
		if !taken {
			var err error
			if other, taken, err = u.tx.MemberIDByRef(ctx, r.ProgrammeID, r.ExternalRef); err != nil {
				return nil, err
			}
		}
		if taken {
			return nil, fault.Exists(fault.MemberAlreadyEnrolled, "the external ref is already enrolled as member %s", other).
				About(MemberResource, other)
		}
		if err := CheckBirthDate(r.BirthDate, u.now); err != nil {
			return nil, err
		}
		enrolled := r.EnrolledAt
		if enrolled.IsZero() {
			enrolled = u.now
		}
		if err := prog.CheckBackdate("enrolled_at", enrolled, u.now, who.Has(principal.Import)); err != nil {
			return nil, err
		}
		m := domain.Member{
			ID: id, ProgrammeID: r.ProgrammeID, ExternalRef: r.ExternalRef, BirthDate: r.BirthDate,
			PartnerConsent: r.PartnerConsent, EnrolledAt: enrolled, UpdatedAt: u.now,
		}
		b := domain.NewBook(m, prog, s.newID)
		b.LoadLots(nil, nil) // a new member has none
		b.New = true
		u.create(b)
		if r.Pseudonymous {
			reply := m
			reply.ExternalRef, reply.BirthDate = "", ""
			return &reply, nil
		}
		return &m, nil
	})
}

// MemberResource is the type of a member in a refusal's ResourceInfo.
const MemberResource = "fidelis.ledger.v1.Member"

// CheckBirthDate refuses a birth date ("" for none) that is not a real
// date (2024-13-45) or that is after today. A month and day alone
// ("--04-17", what a pseudonymous enrolment stores) must be a real one.
func CheckBirthDate(d string, now time.Time) error {
	if d == "" {
		return nil
	}
	if md, ok := strings.CutPrefix(d, "--"); ok {
		if _, err := time.Parse("2006-01-02", "2000-"+md); err != nil || len(md) != 5 {
			return fault.Invalid("birth_date", "%q is not a real month and day", d)
		}
		return nil
	}
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return fault.Invalid("birth_date", "%q is not a real date", d)
	}
	if t.After(now.UTC()) {
		return fault.Invalid("birth_date", "%s is in the future", d)
	}
	return nil
}
