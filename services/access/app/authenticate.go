package app

import (
	"context"
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// keyEntry is a key as last read, with its principal; nil fields are
// "not registered" (cached too, so that a flood of made-up keys does not
// reach the database).
type keyEntry struct {
	key       *domain.Key
	principal *domain.Principal
	loaded    time.Time
}

type certEntry struct {
	principal *domain.Principal
	loaded    time.Time
}

// maxCached bounds each cache; past it, the stale entries go, then any.
const maxCached = 100_000

func fail(reason, format string, args ...any) error {
	return &principal.AuthFailure{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// Authenticate checks an API key ("<key id>.<secret>") and returns its
// principal. A failure is a *principal.AuthFailure; any other error means
// the keys could not be read (the database is down).
func (s *Service) Authenticate(ctx context.Context, key string) (principal.Principal, error) {
	id, secret, ok := domain.ParseKey(key)
	if !ok {
		return principal.Principal{}, fail(domain.FailMalformed, "malformed API key: want <key id>.<secret>")
	}
	e, err := s.keyEntry(ctx, id)
	if err != nil {
		return principal.Principal{}, err
	}
	// The same answer for an unknown key and a wrong secret: key ids are
	// not secret, and this must not tell which exist.
	switch {
	case e.key == nil:
		return principal.Principal{}, fail(domain.FailUnknownKey, "invalid API key")
	case !e.key.Matches(secret):
		return principal.Principal{}, fail(domain.FailWrongSecret, "invalid API key")
	}
	switch e.key.State(s.now()) {
	case domain.Revoked:
		return principal.Principal{}, fail(domain.FailRevoked, "API key %s was revoked", id)
	case domain.Expired:
		return principal.Principal{}, fail(domain.FailExpired, "API key %s has expired", id)
	}
	if e.principal == nil {
		return principal.Principal{}, fail(domain.FailNoPrincipal, "API key %s belongs to no principal", id)
	}
	return e.principal.Principal, nil
}

// Certificate returns the principal a verified client certificate names
// (its subject common name).
func (s *Service) Certificate(ctx context.Context, commonName string) (principal.Principal, error) {
	now := s.now()
	s.mu.Lock()
	e, ok := s.certs[commonName]
	s.mu.Unlock()
	if !ok || now.Sub(e.loaded) >= s.cacheTTL {
		v, err, _ := s.loads.Do("cert\x00"+commonName, func() (any, error) {
			var p *domain.Principal
			err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
				var err error
				p, err = tx.Principal(ctx, commonName)
				return err
			})
			if err != nil {
				return nil, err
			}
			e := certEntry{principal: p, loaded: now}
			s.mu.Lock()
			trim(s.certs, now, s.cacheTTL, func(e certEntry) time.Time { return e.loaded })
			s.certs[commonName] = e
			s.mu.Unlock()
			return e, nil
		})
		if err != nil {
			return principal.Principal{}, fmt.Errorf("read principal: %w", err)
		}
		e = v.(certEntry)
	}
	if e.principal == nil {
		return principal.Principal{}, fail(domain.FailUnknownCert, "client certificate %q names no principal", commonName)
	}
	return e.principal.Principal, nil
}

func (s *Service) keyEntry(ctx context.Context, id string) (keyEntry, error) {
	now := s.now()
	s.mu.Lock()
	e, ok := s.static[id]
	if !ok {
		e, ok = s.keys[id]
		ok = ok && now.Sub(e.loaded) < s.cacheTTL
	}
	s.mu.Unlock()
	if ok {
		return e, nil
	}
	// Concurrent calls with one key read it once.
	v, err, _ := s.loads.Do("key\x00"+id, func() (any, error) {
		e := keyEntry{loaded: now}
		err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
			var err error
			if e.key, err = tx.Key(ctx, id); err != nil || e.key == nil {
				return err
			}
			e.principal, err = tx.Principal(ctx, e.key.PrincipalID)
			return err
		})
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		trim(s.keys, now, s.cacheTTL, func(e keyEntry) time.Time { return e.loaded })
		s.keys[id] = e
		s.mu.Unlock()
		return e, nil
	})
	if err != nil {
		return keyEntry{}, fmt.Errorf("read API key: %w", err)
	}
	return v.(keyEntry), nil
}

// trim makes room in a full cache: stale entries go first, then any.
func trim[E any](m map[string]E, now time.Time, ttl time.Duration, loaded func(E) time.Time) {
	if len(m) < maxCached {
		return
	}
	for k, e := range m {
		if now.Sub(loaded(e)) >= ttl {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < maxCached*9/10 {
			return
		}
		delete(m, k)
	}
}

// forget drops what this replica cached of a key, or of every key and
// certificate of a principal, so that a change made here applies here at
// once.
func (s *Service) forget(keyID, principalID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, keyID)
	if principalID == "" {
		return
	}
	delete(s.certs, principalID)
	for id, e := range s.keys {
		if e.key != nil && e.key.PrincipalID == principalID {
			delete(s.keys, id)
		}
	}
}

// InternalKey makes a key for a principal that lives in this process only
// (never in the database): the credential with which the services of one
// process call each other.
func (s *Service) InternalKey(p principal.Principal) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	id, key, hash, err := domain.NewKey()
	if err != nil {
		return "", err
	}
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.static[id] = keyEntry{
		key:       &domain.Key{ID: id, PrincipalID: p.ID, Hash: hash, CreatedAt: now, CreatedBy: "internal"},
		principal: &domain.Principal{Principal: p, CreatedAt: now, CreatedBy: "internal", UpdatedAt: now},
		loaded:    now,
	}
	return key, nil
}
