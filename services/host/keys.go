package host

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	accessapp "github.com/fidelis-loyalty/fidelis/services/access/app"
	accessdomain "github.com/fidelis-loyalty/fidelis/services/access/domain"
	accessstore "github.com/fidelis-loyalty/fidelis/services/access/store"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

// KeyAdmin manages principals and their API keys on the database directly,
// as `fidelis keys` does: whoever can reach the database administers its
// keys (the way to make the first ones on a server database).
type KeyAdmin struct {
	db  *sqldb.DB
	app *accessapp.Service
	by  principal.Principal
}

// OpenKeyAdmin opens the database, bringing the access tables up to date.
func OpenKeyAdmin(ctx context.Context, dsn string, log *slog.Logger) (*KeyAdmin, error) {
	db, err := sqldb.Open(ctx, dsn, sqldb.Options{MaxConns: 2})
	if err != nil {
		return nil, err
	}
	if err := accessstore.Migrate(ctx, db, log); err != nil {
		db.Close()
		return nil, err
	}
	return &KeyAdmin{db: db, app: accessapp.New(accessstore.New(db), accessapp.Options{Logger: log}), by: principal.System("cli")}, nil
}

// LocalKey is a key for a principal that exists in this process only (never
// in the database), bound to every programme and not rate limited: for a
// command that drives the services it started, like `fidelis bench`.
func (h *Host) LocalKey(id string, roles []string) (string, error) {
	p := principal.Principal{ID: id, Programmes: []string{principal.AllProgrammes}}
	for _, r := range roles {
		role, err := principal.ParseRole(r)
		if err != nil {
			return "", err
		}
		p.Roles = append(p.Roles, role)
	}
	p.Limits = accessdomain.DefaultLimits(p.Roles)
	p.Limits.RatePerSecond = 1_000_000
	return h.Access.InternalKey(p)
}

// Keys manages the keys of the running host's database.
func (h *Host) Keys() *KeyAdmin { return &KeyAdmin{app: h.Access, by: principal.System("cli")} }

// Close closes the database it opened.
func (k *KeyAdmin) Close() {
	if k.db != nil {
		k.db.Close()
	}
}

// NewKey asks for a key; with Roles, its principal is made if it does not
// exist (bound to Programmes, "*" for every one).
type NewKey struct {
	Principal  string
	Roles      []string
	Programmes []string
	TTL        time.Duration
	// Limits, if set, replace the roles' defaults of a new principal.
	MaxEarnPoints, MaxAdjustPoints, RatePerSecond *int64
}

// KeyInfo is a key as listed, with its principal's roles and programmes.
type KeyInfo struct {
	ID, Principal, State, ReplacedBy string
	Roles, Programmes                []string
	Created, Expires, Revoked        time.Time
}

// CreateKey makes a key (and its principal, see NewKey) and returns it,
// the only time its secret is shown.
func (k *KeyAdmin) CreateKey(ctx context.Context, n NewKey) (secret string, info KeyInfo, madePrincipal bool, err error) {
	if _, err := k.app.Principal(ctx, n.Principal); err != nil {
		if f, ok := fault.As(err); !ok || f.Kind != fault.KindNotFound {
			return "", info, false, err
		}
		if len(n.Roles) == 0 {
			return "", info, false, fmt.Errorf("principal %s does not exist: give --roles (and --programmes) to make it", n.Principal)
		}
		np := accessapp.NewPrincipal{ID: n.Principal, Programmes: n.Programmes}
		for _, r := range n.Roles {
			role, err := principal.ParseRole(r)
			if err != nil {
				return "", info, false, err
			}
			np.Roles = append(np.Roles, role)
		}
		if n.MaxEarnPoints != nil || n.MaxAdjustPoints != nil || n.RatePerSecond != nil {
			l := accessdomain.DefaultLimits(np.Roles)
			setIf(&l.MaxEarnPoints, n.MaxEarnPoints)
			setIf(&l.MaxAdjustPoints, n.MaxAdjustPoints)
			setIf(&l.RatePerSecond, n.RatePerSecond)
			np.Limits = &l
		}
		if _, err := k.app.CreatePrincipal(ctx, k.by, uuid.NewString(), np); err != nil {
			return "", info, false, err
		}
		madePrincipal = true
	} else if len(n.Roles) > 0 || len(n.Programmes) > 0 {
		return "", info, false, fmt.Errorf("principal %s exists: leave out --roles and --programmes to add a key to it", n.Principal)
	}
	r, err := k.app.CreateKey(ctx, k.by, uuid.NewString(), n.Principal, n.TTL)
	if err != nil {
		return "", info, madePrincipal, err
	}
	info, err = k.info(ctx, r.Key)
	return r.Secret, info, madePrincipal, err
}

func setIf(dst *int64, v *int64) {
	if v != nil {
		*dst = *v
	}
}

// Keys lists the keys, of one principal unless principalID is empty,
// newest first.
func (k *KeyAdmin) Keys(ctx context.Context, principalID string) ([]KeyInfo, error) {
	var out []KeyInfo
	token := ""
	for {
		keys, next, err := k.app.Keys(ctx, principalID, token, 500)
		if err != nil {
			return nil, err
		}
		for _, key := range keys {
			info, err := k.info(ctx, key)
			if err != nil {
				return nil, err
			}
			out = append(out, info)
		}
		if token = next; token == "" {
			return out, nil
		}
	}
}

// RotateKey makes a new key for the principal of keyID; the old one works
// for overlap more.
func (k *KeyAdmin) RotateKey(ctx context.Context, keyID string, overlap, ttl time.Duration) (string, KeyInfo, KeyInfo, error) {
	r, err := k.app.RotateKey(ctx, k.by, uuid.NewString(), keyID, overlap, ttl)
	if err != nil {
		return "", KeyInfo{}, KeyInfo{}, err
	}
	made, err := k.info(ctx, r.Key)
	if err != nil {
		return "", made, KeyInfo{}, err
	}
	old, err := k.info(ctx, r.Previous)
	return r.Secret, made, old, err
}

// RevokeKey stops a key.
func (k *KeyAdmin) RevokeKey(ctx context.Context, keyID string) (KeyInfo, error) {
	key, err := k.app.RevokeKey(ctx, k.by, uuid.NewString(), keyID)
	if err != nil {
		return KeyInfo{}, err
	}
	return k.info(ctx, key)
}

func (k *KeyAdmin) info(ctx context.Context, key *accessdomain.Key) (KeyInfo, error) {
	info := KeyInfo{ID: key.ID, Principal: key.PrincipalID, ReplacedBy: key.ReplacedBy, Created: key.CreatedAt,
		Expires: key.ExpiresAt, Revoked: key.RevokedAt}
	info.State = map[accessdomain.State]string{accessdomain.Active: "active", accessdomain.Expired: "expired",
		accessdomain.Revoked: "revoked"}[k.app.KeyState(key)]
	p, err := k.app.Principal(ctx, key.PrincipalID)
	if f, ok := fault.As(err); ok && f.Kind == fault.KindNotFound {
		return info, nil
	}
	if err != nil {
		return info, err
	}
	for _, r := range p.Roles {
		info.Roles = append(info.Roles, string(r))
	}
	info.Programmes = slices.Clone(p.Programmes)
	return info, nil
}

// RoleNames are the roles' names, for help texts.
func RoleNames() string {
	var s []string
	for _, r := range principal.Roles() {
		s = append(s, string(r))
	}
	return strings.Join(s, ", ")
}
