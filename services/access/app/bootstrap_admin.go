package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// AdminID is the principal of the first operator key: an operator bound to
// every programme.
const AdminID = "admin"

// bootstrapper is who the bootstrap acts as.
func bootstrapper() principal.Principal { return principal.System("bootstrap") }

func adminPrincipal() principal.Principal {
	roles := []principal.Role{principal.Operator}
	return principal.Principal{ID: AdminID, Roles: roles, Programmes: []string{principal.AllProgrammes}, Limits: domain.DefaultLimits(roles)}
}

// ErrKeyMismatch is a key handed in whose id is registered with another
// secret.
var ErrKeyMismatch = errors.New("the key's id is registered with another secret")

// ImportAdminKey registers an operator key handed in from outside (a file
// made on first start, or a Kubernetes Secret) for the admin principal (see
// ImportKey).
func (s *Service) ImportAdminKey(ctx context.Context, key string) (bool, error) {
	return s.ImportKey(ctx, key, adminPrincipal())
}

// ImportKey registers a key handed in from outside (a Kubernetes Secret
// that a deployment mounts, made with `fidelis keys generate`) for a
// principal, made if it does not exist, unless the key is registered
// already. Whoever mounts the file already holds the database's
// credentials, so this gives nothing away. Replicas starting at once with
// the same key register it once: the key id is the table's primary key. A
// key that was revoked or has expired stays so. It tells whether the key
// works.
func (s *Service) ImportKey(ctx context.Context, key string, p principal.Principal) (bool, error) {
	id, secret, ok := domain.ParseKey(key)
	if !ok {
		return false, errors.New("malformed API key: want <key id>.<secret>")
	}
	var usable bool
	for attempt := 1; ; attempt++ {
		err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
			k, err := tx.Key(ctx, id)
			if err != nil {
				return err
			}
			if k != nil {
				if !k.Matches(secret) {
					return fmt.Errorf("key %s: %w", id, ErrKeyMismatch)
				}
				usable = k.State(s.now()) == domain.Active
				return nil
			}
			if err := s.ensurePrincipal(ctx, tx, p); err != nil {
				return err
			}
			now := s.clock()
			usable = true
			return tx.InsertKey(ctx, &domain.Key{ID: id, PrincipalID: p.ID, Hash: domain.HashSecret(secret), CreatedAt: now, CreatedBy: bootstrapper().ID})
		})
		if !errors.Is(err, ErrConflict) || attempt == 5 {
			return usable, err
		}
	}
}

// CreateFirstAdminKey makes the admin principal's first key, unless it has
// one already (made by another replica starting at the same time, or an
// earlier start): then it returns "" and false. Transactions are
// serializable, so of replicas starting at once exactly one makes it.
func (s *Service) CreateFirstAdminKey(ctx context.Context) (string, bool, error) {
	var made *KeyResult
	for attempt := 1; ; attempt++ {
		made = nil
		err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
			if err := s.ensurePrincipal(ctx, tx, adminPrincipal()); err != nil {
				return err
			}
			keys, err := tx.Keys(ctx, AdminID, nil, 1)
			if err != nil || len(keys) > 0 {
				return err
			}
			made, err = s.insertKey(ctx, tx, bootstrapper(), AdminID, 0)
			return err
		})
		if errors.Is(err, ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return "", false, err
		}
		if made == nil {
			return "", false, nil
		}
		return made.Secret, true, nil
	}
}

// RevokeAdminKey undoes CreateFirstAdminKey when its key could not be kept.
func (s *Service) RevokeAdminKey(ctx context.Context, key string) error {
	id, _, ok := domain.ParseKey(key)
	if !ok {
		return errors.New("malformed API key")
	}
	_, err := s.RevokeKey(ctx, bootstrapper(), "revoke-unsaved-admin-key-"+id, id)
	return err
}

func (s *Service) ensurePrincipal(ctx context.Context, tx Principals, p principal.Principal) error {
	old, err := tx.Principal(ctx, p.ID)
	if err != nil || old != nil {
		return err
	}
	_, err = s.insertPrincipal(ctx, tx, bootstrapper(), p)
	return err
}
