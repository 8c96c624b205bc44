// Package principal is who calls a Fidelis service: the identity an API
// key or a client certificate proves, its roles, the programmes it is bound
// to and its limits. It is pure (no I/O, no gRPC): the services' app layers
// take a Principal to scope idempotency keys and to refuse work on another
// programme's members, and the access interceptor (services/internal/authz)
// builds one for every authenticated call.
package principal

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// Role is what a principal may do; the access rules table
// (services/internal/authz) gives each RPC the roles that may call it.
type Role string

// The roles.
const (
	// POS is a fleet of point-of-sale terminals; Ecommerce an online shop's
	// back end. Both enrol members, earn on purchases, burn, hold, reverse,
	// read balances, redeem and use vouchers.
	POS       Role = "pos"
	Ecommerce Role = "ecommerce"
	// Operator is the back office: adjustments, tier floors, expiry,
	// rebuilds, the reward catalogue, partners, keys and the audit log.
	Operator Role = "operator"
	// BI reads KPIs; Marketing reads segments, churn risk and the event
	// stream.
	BI        Role = "bi"
	Marketing Role = "marketing"
	// Service is a Fidelis service calling another (rewards, partners and
	// eligibility calling the ledger), possibly on behalf of a principal.
	Service Role = "service"
	// Partner is a partner company on PartnerService; it is bound to its
	// partner and its programme.
	Partner Role = "partner"
	// Import moves an existing programme in: it enrols members and earns
	// points dated as far back as the programme's import window, where
	// the till's channels may backdate a few days only.
	Import Role = "import"
	// CustomerService finds members and reads and corrects their profiles.
	CustomerService Role = "customer_service"
)

// Roles are every role, in a stable order.
func Roles() []Role {
	return []Role{POS, Ecommerce, Operator, BI, Marketing, Service, Partner, Import, CustomerService}
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(Roles(), r) {
		return "", fmt.Errorf("unknown role %q (want one of %s)", s, joinRoles(Roles()))
	}
	return r, nil
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// AllProgrammes, as a principal's only programme, binds it to every
// programme, present and future.
const AllProgrammes = "*"

// Limits guard against fraud and abuse by one principal.
type Limits struct {
	// MaxEarnPoints is the largest Earn of explicit points (not priced
	// from a purchase) the principal may make; 0 forbids them.
	MaxEarnPoints int64
	// MaxAdjustPoints is the largest Adjust, credit or debit; 0 forbids
	// adjustments.
	MaxAdjustPoints int64
	// RatePerSecond is the principal's request rate limit on each replica;
	// 0 is the server's default.
	RatePerSecond int64
}

// Principal is an authenticated caller.
type Principal struct {
	ID         string
	Roles      []Role
	Programmes []string
	// PartnerID is the partner a Partner principal is.
	PartnerID string
	Limits    Limits
	// OnBehalfOf is the principal a Service principal is acting for (its
	// programmes have narrowed Programmes); empty when it acts for itself.
	OnBehalfOf string
}

// idPattern is what principal ids look like: they appear in audit rows,
// idempotency scopes and certificates' common names.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._:@-]{0,127}$`)

// ValidID checks a principal id.
func ValidID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("principal id %q: want 1-128 of a-z 0-9 . _ : @ -, starting with a letter or digit", id)
	}
	return nil
}

// Validate checks a principal's fields.
func (p Principal) Validate() error {
	if err := ValidID(p.ID); err != nil {
		return err
	}
	if len(p.Roles) == 0 {
		return fmt.Errorf("principal %s: at least one role is required", p.ID)
	}
	for _, r := range p.Roles {
		if _, err := ParseRole(string(r)); err != nil {
			return fmt.Errorf("principal %s: %w", p.ID, err)
		}
	}
	if len(p.Programmes) == 0 {
		return fmt.Errorf("principal %s: at least one programme (or %q for all) is required", p.ID, AllProgrammes)
	}
	for _, prog := range p.Programmes {
		if prog == "" || (prog == AllProgrammes && len(p.Programmes) > 1) {
			return fmt.Errorf("principal %s: programmes %q: want programme ids, or %q alone", p.ID, p.Programmes, AllProgrammes)
		}
	}
	if p.Has(Partner) != (p.PartnerID != "") {
		return fmt.Errorf("principal %s: a partner id goes with the partner role, and only with it", p.ID)
	}
	if p.Limits.MaxEarnPoints < 0 || p.Limits.MaxAdjustPoints < 0 || p.Limits.RatePerSecond < 0 {
		return fmt.Errorf("principal %s: limits may not be negative", p.ID)
	}
	return nil
}

// Has tells whether the principal holds a role.
func (p Principal) Has(r Role) bool { return slices.Contains(p.Roles, r) }

// HasAny tells whether the principal holds one of the roles.
func (p Principal) HasAny(rs []Role) bool {
	return slices.ContainsFunc(rs, p.Has)
}

// Everywhere tells whether the principal is bound to every programme.
func (p Principal) Everywhere() bool {
	return len(p.Programmes) == 1 && p.Programmes[0] == AllProgrammes
}

// Allows tells whether the principal may touch a programme's data.
func (p Principal) Allows(programmeID string) bool {
	return p.Everywhere() || slices.Contains(p.Programmes, programmeID)
}

// CheckProgramme refuses, as PermissionDenied, data of a programme the
// principal is not bound to.
func (p Principal) CheckProgramme(programmeID string) error {
	if p.Allows(programmeID) {
		return nil
	}
	return fault.Denied(fault.ProgrammeNotAllowed, "principal %s may not act on programme %s", p.Actor(), programmeID)
}

// CheckEverywhere refuses, as PermissionDenied, work over every programme
// to a principal bound to some only.
func (p Principal) CheckEverywhere() error {
	if p.Everywhere() {
		return nil
	}
	return fault.Denied(fault.ProgrammeRequired, "principal %s is bound to programmes %s: name one of them", p.Actor(), strings.Join(p.Programmes, ", "))
}

// Actor is who the work is for: the principal a service acts on behalf
// of, else the principal itself. Ledger entries name it as their operator.
func (p Principal) Actor() string {
	if p.OnBehalfOf != "" {
		return p.OnBehalfOf
	}
	return p.ID
}

// Delegated is a service principal acting for another: it keeps its own
// id (idempotency keys stay in the service's key space), roles and limits,
// is narrowed to the programmes of the principal it acts for, and takes
// that principal's partner.
func (p Principal) Delegated(d Delegation) Principal {
	out := p
	out.OnBehalfOf = d.ID
	out.PartnerID = d.PartnerID
	switch {
	case slices.Contains(d.Programmes, AllProgrammes):
	case p.Everywhere():
		out.Programmes = slices.Clone(d.Programmes)
	default:
		out.Programmes = nil
		for _, prog := range d.Programmes {
			if slices.Contains(p.Programmes, prog) {
				out.Programmes = append(out.Programmes, prog)
			}
		}
	}
	return out
}

// Delegation is what a service passes on when it calls another service
// for a principal: who, and which programmes and partner bind it.
type Delegation struct {
	ID         string   `json:"id"`
	Programmes []string `json:"programmes"`
	PartnerID  string   `json:"partner,omitempty"`
}

// Delegation is what to pass on when calling another service for p.
func (p Principal) Delegation() Delegation {
	return Delegation{ID: p.Actor(), Programmes: p.Programmes, PartnerID: p.PartnerID}
}

type ctxKey struct{}

// NewContext carries p in ctx: the access interceptor puts the caller
// there, and the clients of other services pass it on as a delegation.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext is the principal ctx carries.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// System is a service's own principal (its calls to the services of its
// process, scheduled jobs, recovery): every programme, the largest amounts
// the API takes, a rate no caller reaches.
func System(id string) Principal {
	return Principal{ID: id, Roles: []Role{Service}, Programmes: []string{AllProgrammes},
		Limits: Limits{MaxEarnPoints: 1_000_000_000, MaxAdjustPoints: 1_000_000_000, RatePerSecond: 1_000_000}}
}

// AuthFailure is a credential that does not authenticate: Reason is
// counted per client address (never a row per attempt), Msg is what the
// caller is told.
type AuthFailure struct {
	Reason string
	Msg    string
}

func (e *AuthFailure) Error() string { return e.Msg }

// Of is the principal ctx carries; without one, the zero Principal, which
// holds no role and no programme, so every check refuses it.
func Of(ctx context.Context) Principal {
	p, _ := FromContext(ctx)
	return p
}
