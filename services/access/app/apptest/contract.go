// Package apptest states what any implementation of the access service's
// store (app.Store) must do (Contract), through the interface only.
package apptest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/access/app"
	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/storetest"
)

// Contract states what any app.Store must do. open returns an empty store
// of its own for each subtest.
func Contract(t *testing.T, open func(t *testing.T) app.Store) {
	t.Run("Principals", func(t *testing.T) { principals(t, open(t)) })
	t.Run("Keys", func(t *testing.T) { keys(t, open(t)) })
	t.Run("Idempotency", func(t *testing.T) { storetest.Idem[app.Tx](t, open(t), app.ErrConflict) })
	t.Run("PurgeIdem", func(t *testing.T) {
		s := open(t)
		storetest.PurgeIdem[app.Tx](t, s, s.PurgeIdem)
	})
	t.Run("Audit", func(t *testing.T) { auditLog(t, open(t)) })
	t.Run("Failures", func(t *testing.T) { failures(t, open(t)) })
}

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

func view(t testing.TB, s app.Store, fn func(ctx context.Context, tx app.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func update(t testing.TB, s app.Store, fn func(ctx context.Context, tx app.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// conflict runs op in a transaction and fails the test unless op and the
// transaction fail with app.ErrConflict.
func conflict(t testing.TB, s app.Store, what string, op func(ctx context.Context, tx app.Tx) error) {
	t.Helper()
	var opErr error
	err := s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
		opErr = op(ctx, tx)
		return opErr
	})
	if !errors.Is(opErr, app.ErrConflict) || !errors.Is(err, app.ErrConflict) {
		t.Errorf("%s: %v, transaction: %v; want app.ErrConflict from both", what, opErr, err)
	}
}

func newPrincipal(id string, roles []principal.Role, programmes []string, partner string, created time.Time) *domain.Principal {
	return &domain.Principal{
		Principal: principal.Principal{ID: id, Roles: roles, Programmes: programmes, PartnerID: partner,
			Limits: principal.Limits{MaxEarnPoints: int64(len(id)) * 1000, MaxAdjustPoints: 7, RatePerSecond: 50}},
		CreatedAt: created, CreatedBy: "ops", UpdatedAt: created,
	}
}

// Principals read back as inserted and updated (only what an update
// changes), are listed in id order, and an id is taken once.
func principals(t *testing.T, s app.Store) {
	pos := newPrincipal("pos-1", []principal.Role{principal.Ecommerce, principal.POS}, []string{"p", "q"}, "", day(0))
	acme := newPrincipal("partner:acme", []principal.Role{principal.Partner}, []string{"p"}, "acme", day(1))
	svc := newPrincipal("svc-rewards", []principal.Role{principal.Service}, []string{principal.AllProgrammes}, "", day(2))
	bi := newPrincipal("bi-1", []principal.Role{principal.BI}, []string{"q"}, "", day(3))
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := tx.Principal(ctx, "pos-1")
		storetest.Check(t, "Principal of an empty store", got, (*domain.Principal)(nil))
		return err
	})
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, p := range []*domain.Principal{pos, acme, svc} {
			if err := tx.InsertPrincipal(ctx, p); err != nil {
				return err
			}
		}
		got, err := tx.Principal(ctx, "pos-1")
		storetest.Check(t, "Principal in its transaction", got, pos)
		return err
	})
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertPrincipal(ctx, bi) })
	taken := newPrincipal("pos-1", []principal.Role{principal.Operator}, []string{"r"}, "", day(9))
	conflict(t, s, "InsertPrincipal of an id taken", func(ctx context.Context, tx app.Tx) error { return tx.InsertPrincipal(ctx, taken) })

	all := []*domain.Principal{bi, acme, pos, svc} // id order
	check := func(what string) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			for _, p := range all {
				got, err := tx.Principal(ctx, p.ID)
				if err != nil {
					return err
				}
				storetest.Check(t, what+": Principal "+p.ID, got, p)
			}
			for _, c := range []struct {
				after string
				limit int
				want  []*domain.Principal
			}{
				{"", 10, all},
				{"", 2, all[:2]},
				{"partner:acme", 10, all[2:]},
				{"svc-rewards", 10, nil},
			} {
				got, err := tx.Principals(ctx, c.after, c.limit)
				if err != nil {
					return err
				}
				storetest.Check(t, fmt.Sprintf("%s: Principals(%q, %d)", what, c.after, c.limit), got, c.want)
			}
			return nil
		})
	}
	check("inserted")

	upd := *pos
	upd.Principal = principal.Principal{ID: "pos-1", Roles: []principal.Role{principal.Operator}, Programmes: []string{"r"},
		Limits: principal.Limits{MaxEarnPoints: 1, MaxAdjustPoints: 2, RatePerSecond: 3}}
	upd.UpdatedAt = day(5)
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.UpdatePrincipal(ctx, &upd) })
	all[2] = &upd
	check("updated")
}

func newKey(id, principalID string, created time.Time) *domain.Key {
	hash := make([]byte, 32)
	for i := range hash {
		hash[i] = byte(len(id)*31 + i)
	}
	return &domain.Key{ID: id, PrincipalID: principalID, Hash: hash, CreatedAt: created, CreatedBy: "ops"}
}

// Keys read back as inserted; EndKey changes a key's expiry, revocation
// and successor only; Keys lists a principal's keys (everyone's for "")
// newest first, after a key, at most limit; an id is taken once.
func keys(t *testing.T, s app.Store) {
	k1, k2, k3, k4, k5 := newKey("fk_1", "pos-1", day(1)), newKey("fk_2", "pos-1", day(2)), newKey("fk_3", "bi-1", day(2)),
		newKey("fk_4", "pos-1", day(3)), newKey("fk_5", "pos-1", day(2))
	k2.ExpiresAt = day(100)
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, k := range []*domain.Key{k3, k1, k5, k2, k4} {
			if err := tx.InsertKey(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	conflict(t, s, "InsertKey of an id taken", func(ctx context.Context, tx app.Tx) error { return tx.InsertKey(ctx, newKey("fk_1", "bi-1", day(9))) })
	ended := *k1
	ended.ExpiresAt, ended.RevokedAt, ended.ReplacedBy = day(4), day(3), "fk_4"
	mangled := ended
	mangled.PrincipalID, mangled.Hash, mangled.CreatedAt, mangled.CreatedBy = "mallory", []byte("x"), day(9), "mallory"
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.EndKey(ctx, &mangled) })
	k1 = &ended

	view(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, k := range []*domain.Key{k1, k2, k3, k4, k5} {
			got, err := tx.Key(ctx, k.ID)
			if err != nil {
				return err
			}
			storetest.Check(t, "Key "+k.ID, got, k)
		}
		got, err := tx.Key(ctx, "fk_none")
		storetest.Check(t, "Key(none)", got, (*domain.Key)(nil))
		if err != nil {
			return err
		}
		for _, c := range []struct {
			principal string
			after     *domain.Key
			limit     int
			want      []*domain.Key
		}{
			{"pos-1", nil, 10, []*domain.Key{k4, k5, k2, k1}},
			{"", nil, 10, []*domain.Key{k4, k5, k3, k2, k1}},
			{"pos-1", k5, 2, []*domain.Key{k2, k1}},
			{"", k3, 10, []*domain.Key{k2, k1}},
			{"pos-1", nil, 1, []*domain.Key{k4}},
			{"bi-1", k3, 10, nil},
			{"nobody", nil, 10, nil},
		} {
			after := ""
			if c.after != nil {
				after = c.after.ID
			}
			got, err := tx.Keys(ctx, c.principal, c.after, c.limit)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("Keys(%q, %q, %d)", c.principal, after, c.limit), got, c.want)
		}
		return nil
	})
}

// Audit lists the records appended newest (greatest id) first, before an
// id, at most limit, of a principal (its own calls and those made on its
// behalf), of a method, a service or a package, at or after a time and
// before another.
func auditLog(t *testing.T, s app.Store) {
	rec := func(id, method, who, onBehalfOf string, decision audit.Decision, code string, n int64) audit.Record {
		return audit.Record{ID: id, At: t0.Add(time.Duration(id[2]-'0') * time.Second), Method: method, Principal: who,
			OnBehalfOf: onBehalfOf, Decision: decision, Code: code, Source: "10.0.0." + id[len(id)-1:], Count: n}
	}
	r1 := rec("a01", "fidelis.ledger.v1.LedgerService/Earn", "pos-1", "", audit.Allowed, "OK", 3)
	r2 := rec("a02", "fidelis.ledger.v1.LedgerService/Burn", "svc-rewards", "pos-1", audit.Refused, "FailedPrecondition", 1)
	r3 := rec("a03", "fidelis.ledger.v1.StatusService/GetStatus", "ops", "", audit.Denied, "PermissionDenied", 2)
	r4 := rec("a04", "fidelis.rewards.v1.RewardService/Redeem", "pos-2", "", audit.Failed, "Internal", 1)
	r5 := rec("a05", "fidelis.ledger.v1.LedgerServiceX/Earn", "pos-1", "", audit.Allowed, "OK", 1)
	r6 := rec("a06", "fidelis.ledger_v1.Foo/Bar", "ops", "", audit.Allowed, "OK", 1)
	r7 := rec("a07", "fidelis.ledgerXv1.Foo/Bar", "ops", "", audit.Allowed, "OK", 1)
	r8 := rec("a08", "fidelis.ledger.v1.ledgerService/Earn", "ops", "", audit.Allowed, "OK", 1) // names are case-sensitive
	ctx := context.Background()
	for _, recs := range [][]audit.Record{{r3, r1, r2}, nil, {r4, r5, r8, r7, r6}} {
		if err := s.AppendAudit(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, c := range []struct {
			f      app.AuditFilter
			before string
			limit  int
			want   []audit.Record
		}{
			{app.AuditFilter{}, "", 10, []audit.Record{r8, r7, r6, r5, r4, r3, r2, r1}},
			{app.AuditFilter{}, "", 2, []audit.Record{r8, r7}},
			{app.AuditFilter{}, "a03", 10, []audit.Record{r2, r1}},
			{app.AuditFilter{Principal: "pos-1"}, "", 10, []audit.Record{r5, r2, r1}},
			{app.AuditFilter{Principal: "svc-rewards"}, "", 10, []audit.Record{r2}},
			{app.AuditFilter{Method: "fidelis.ledger.v1.LedgerService/Earn"}, "", 10, []audit.Record{r1}},
			{app.AuditFilter{Method: "fidelis.ledger.v1.LedgerService"}, "", 10, []audit.Record{r2, r1}},
			{app.AuditFilter{Method: "fidelis.ledger.v1."}, "", 10, []audit.Record{r8, r5, r3, r2, r1}},
			{app.AuditFilter{Method: "fidelis.ledger.v1.ledgerService"}, "", 10, []audit.Record{r8}},
			{app.AuditFilter{Method: "Fidelis.Ledger.V1."}, "", 10, nil},
			{app.AuditFilter{Method: "fidelis.ledger_v1."}, "", 10, []audit.Record{r6}},
			{app.AuditFilter{Principal: "pos-1", Method: "fidelis.ledger.v1.LedgerService"}, "a02", 10, []audit.Record{r1}},
			{app.AuditFilter{Principal: "nobody"}, "", 10, nil},
			{app.AuditFilter{Since: t0.Add(3 * time.Second)}, "", 10, []audit.Record{r8, r7, r6, r5, r4, r3}},
			{app.AuditFilter{Until: t0.Add(3 * time.Second)}, "", 10, []audit.Record{r2, r1}},
			{app.AuditFilter{Since: t0.Add(3 * time.Second), Until: t0.Add(6 * time.Second)}, "a05", 10, []audit.Record{r4, r3}},
			{app.AuditFilter{Principal: "pos-1", Since: t0.Add(2 * time.Second), Until: t0.Add(5 * time.Second)}, "", 10, []audit.Record{r2}},
		} {
			got, err := tx.Audit(ctx, c.f, c.before, c.limit)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("Audit(%+v, %q, %d)", c.f, c.before, c.limit), got, c.want)
		}
		return nil
	})
}

// AddFailures adds to the count of a minute, source and reason, also
// when replicas add at once; Failures lists the counts newest minute
// first, then by source and reason, after a count, at most limit, of the
// minutes at or after a time and before another.
func failures(t *testing.T, s app.Store) {
	m1, m2 := t0.Truncate(time.Minute), t0.Truncate(time.Minute).Add(time.Minute)
	fc := func(minute time.Time, source, reason string, n int64) audit.FailureCount {
		return audit.FailureCount{Minute: minute, Source: source, Reason: reason, Count: n}
	}
	ctx := context.Background()
	for _, counts := range [][]audit.FailureCount{
		{fc(m1, "10.0.0.1", domain.FailUnknownKey, 2), fc(m1, "10.0.0.1", domain.FailWrongSecret, 1), fc(m2, "10.0.0.2", domain.FailUnknownKey, 5)},
		{fc(m1, "10.0.0.1", domain.FailUnknownKey, 3), fc(m1, "10.0.0.1", domain.FailUnknownKey, 1)},
		nil,
		{fc(m1, "10.0.0.0", domain.FailMissing, 1)},
	} {
		if err := s.AddFailures(ctx, counts); err != nil {
			t.Fatal(err)
		}
	}
	// Two replicas adding to one count at once.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range 5 {
				if err := s.AddFailures(ctx, []audit.FailureCount{fc(m2, "10.0.0.2", domain.FailUnknownKey, 1)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	all := []audit.FailureCount{
		fc(m2, "10.0.0.2", domain.FailUnknownKey, 15),
		fc(m1, "10.0.0.0", domain.FailMissing, 1),
		fc(m1, "10.0.0.1", domain.FailUnknownKey, 6),
		fc(m1, "10.0.0.1", domain.FailWrongSecret, 1),
	}
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, c := range []struct {
			f     app.FailureFilter
			after *audit.FailureCount
			limit int
			want  []audit.FailureCount
		}{
			{app.FailureFilter{}, nil, 10, all},
			{app.FailureFilter{}, nil, 2, all[:2]},
			{app.FailureFilter{}, &all[0], 10, all[1:]},
			{app.FailureFilter{}, &all[1], 1, all[2:3]},
			{app.FailureFilter{}, &all[2], 10, all[3:]},
			{app.FailureFilter{}, &all[3], 10, nil},
			{app.FailureFilter{Since: m2}, nil, 10, all[:1]},
			{app.FailureFilter{Until: m2}, nil, 10, all[1:]},
			{app.FailureFilter{Since: m1, Until: m2}, &all[1], 1, all[2:3]},
			{app.FailureFilter{Since: m2.Add(time.Minute)}, nil, 10, nil},
		} {
			got, err := tx.Failures(ctx, c.f, c.after, c.limit)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("Failures(%+v, %s, %d)", c.f, storetest.Show(c.after), c.limit), got, c.want)
		}
		return nil
	})
}
