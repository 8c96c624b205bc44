package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/consent"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Consent is the consent and contact pressure store (consent.Store).
type Consent struct{ db *sqldb.DB }

var _ consent.Store = Consent{}

// NewConsent wraps a database.
func NewConsent(db *sqldb.DB) Consent { return Consent{db} }

// Update implements consent.Store.
func (s Consent) Update(ctx context.Context, fn func(ctx context.Context, tx consent.Tx) error) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, s.open(tx)) })
}

// UpdateLocked implements consent.Store.
func (s Consent) UpdateLocked(ctx context.Context, fn func(ctx context.Context, tx consent.Tx) error) error {
	return s.db.UpdateSnapshot(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, s.open(tx)) })
}

// View implements consent.Store.
func (s Consent) View(ctx context.Context, fn func(ctx context.Context, tx consent.Tx) error) error {
	return s.db.View(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, s.open(tx)) })
}

func (s Consent) open(tx *sql.Tx) consent.Tx {
	return consentTxn{ledgerIdem: ledgerIdem{tx: tx, conflict: consent.ErrConflict}, t: &txn{tx: tx, db: s.db}}
}

type consentTxn struct {
	ledgerIdem
	t *txn
}

const (
	consentChangeCols  = `change_id, member_id, programme_id, purpose, channel, granted, source, text_version, actor, occurred_at, recorded_at`
	consentCurrentCols = `member_id, purpose, channel, granted, change_id, changed_at`
)

// enrolmentConsentID is the id of the partner consent change an enrolment
// records (and migration 00017 recorded for members enrolled before it).
func enrolmentConsentID(memberID string) string { return "enrolment-" + memberID }

// exec runs a script's statements in the transaction; a unique key taken
// concurrently is a conflict, for the request to run again.
func (x consentTxn) exec(ctx context.Context, s script) error {
	err := x.t.db.ExecScript(ctx, x.t.tx, s.stmts)
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", consent.ErrConflict, err)
	}
	return err
}

// Programmes implements consent.Tx.
func (x consentTxn) Programmes(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	err := inChunks(ids, func(ids []string) error {
		return x.t.query(ctx, `SELECT member_id, programme_id FROM ledger_members WHERE member_id IN (`+sqldb.Placeholders(1, len(ids))+`)`,
			anys(ids), func(r *sql.Rows) error {
				var id, p string
				err := r.Scan(&id, &p)
				out[id] = p
				return err
			})
	})
	return out, err
}

// AddConsent implements consent.Tx.
func (x consentTxn) AddConsent(ctx context.Context, c domain.ConsentChange) error {
	var s script
	s.insert("consent_changes", consentChangeCols, "", 1, func(int) []any {
		return []any{c.ID, c.MemberID, c.ProgrammeID, c.Purpose, c.Channel, c.Granted, c.Source, c.TextVersion, c.Actor,
			sqldb.Micros(c.OccurredAt), sqldb.Micros(c.RecordedAt)}
	})
	s.insert("consent_current", consentCurrentCols, ` ON CONFLICT (member_id, purpose, channel) DO UPDATE
		SET granted = excluded.granted, change_id = excluded.change_id, changed_at = excluded.changed_at`, 1, func(int) []any {
		return []any{c.MemberID, c.Purpose, c.Channel, c.Granted, c.ID, sqldb.Micros(c.RecordedAt)}
	})
	if c.Purpose == domain.PurposePartnerMarketing {
		// The member's partner consent is the current partner marketing
		// consent: partner offers read it (GetMember) when they are used.
		s.stmts = append(s.stmts, sqldb.Stmt{SQL: `UPDATE ledger_members SET partner_consent = $1 WHERE member_id = $2`, Args: []any{c.Granted, c.MemberID}})
	}
	return x.exec(ctx, s)
}

// Consents implements consent.Tx.
func (x consentTxn) Consents(ctx context.Context, memberID string) (map[domain.ConsentKey]consent.Current, error) {
	out := map[domain.ConsentKey]consent.Current{}
	err := x.t.query(ctx, `SELECT purpose, channel, granted, change_id, changed_at FROM consent_current WHERE member_id = $1`, []any{memberID},
		func(r *sql.Rows) error {
			var k domain.ConsentKey
			var c consent.Current
			var at int64
			err := r.Scan(&k.Purpose, &k.Channel, &c.Granted, &c.ChangeID, &at)
			c.ChangedAt = sqldb.FromMicros(at)
			out[k] = c
			return err
		})
	return out, err
}

// ConsentHistory implements consent.Tx.
func (x consentTxn) ConsentHistory(ctx context.Context, memberID string, afterAt time.Time, afterID string, limit int) ([]domain.ConsentChange, error) {
	var out []domain.ConsentChange
	at := sqldb.Micros(afterAt)
	err := x.t.query(ctx, `SELECT `+consentChangeCols+` FROM consent_changes
		WHERE member_id = $1 AND (recorded_at > $2 OR (recorded_at = $2 AND change_id > $3))
		ORDER BY recorded_at, change_id LIMIT $4`, []any{memberID, at, afterID, limit}, func(r *sql.Rows) error {
		var c domain.ConsentChange
		var occurred, recorded int64
		err := r.Scan(&c.ID, &c.MemberID, &c.ProgrammeID, &c.Purpose, &c.Channel, &c.Granted, &c.Source, &c.TextVersion, &c.Actor,
			&occurred, &recorded)
		c.OccurredAt, c.RecordedAt = sqldb.FromMicros(occurred), sqldb.FromMicros(recorded)
		out = append(out, c)
		return err
	})
	return out, err
}

// LockContacts implements consent.Tx: one upsert of the members' contact
// state rows, in member id order, which creates or row-locks each of them
// until the transaction ends (SQLite locks the whole database for a write
// transaction anyway).
func (x consentTxn) LockContacts(ctx context.Context, programmeID string, ids []string, at time.Time) error {
	var s script
	s.insert("contact_state", "member_id, programme_id, claimed_at", ` ON CONFLICT (member_id) DO UPDATE SET claimed_at = excluded.claimed_at`,
		len(ids), func(i int) []any { return []any{ids[i], programmeID, sqldb.Micros(at)} })
	return x.exec(ctx, s)
}

// ContactStates implements consent.Tx: four set-based reads over the
// members, whatever their number.
func (x consentTxn) ContactStates(ctx context.Context, ids []string, c domain.ContactClaim, now, since time.Time, withPurchases bool) (map[string]*domain.ContactState, error) {
	out := make(map[string]*domain.ContactState, len(ids))
	for _, id := range ids {
		out[id] = &domain.ContactState{}
	}
	err := inChunks(ids, func(ids []string) error {
		in := sqldb.Placeholders(3, len(ids))
		args := append([]any{domain.PurposeMarketing, c.Channel}, anys(ids)...)
		if err := x.t.query(ctx, `SELECT member_id FROM consent_current WHERE purpose = $1 AND channel = $2 AND granted AND member_id IN (`+in+`)`,
			args, func(r *sql.Rows) error {
				var id string
				err := r.Scan(&id)
				out[id].Consent = true
				return err
			}); err != nil {
			return err
		}
		in2 := sqldb.Placeholders(2, len(ids))
		args = append([]any{sqldb.Micros(now)}, anys(ids)...)
		if err := x.t.query(ctx, `SELECT member_id, reason FROM contact_exclusions WHERE (ends_at = 0 OR ends_at > $1) AND member_id IN (`+in2+`)
			ORDER BY member_id, reason`, args, func(r *sql.Rows) error {
			var id, reason string
			err := r.Scan(&id, &reason)
			out[id].Exclusions = append(out[id].Exclusions, reason)
			return err
		}); err != nil {
			return err
		}
		if withPurchases {
			args = append([]any{string(domain.EntryEarn)}, anys(ids)...)
			if err := x.t.query(ctx, `SELECT member_id, MAX(occurred_at) FROM ledger_entries
				WHERE kind = $1 AND purchase_amount IS NOT NULL AND member_id IN (`+in2+`) GROUP BY member_id`, args, func(r *sql.Rows) error {
				var id string
				var at int64
				err := r.Scan(&id, &at)
				out[id].LastPurchase = sqldb.FromMicros(at)
				return err
			}); err != nil {
				return err
			}
		}
		in4 := sqldb.Placeholders(4, len(ids))
		args = append([]any{sqldb.Micros(since), c.CampaignID, c.Channel}, anys(ids)...)
		return x.t.query(ctx, `SELECT contact_id, member_id, channel, scenario, campaign_id, contacted_at FROM marketing_contacts
			WHERE (contacted_at > $1 OR (campaign_id = $2 AND channel = $3)) AND member_id IN (`+in4+`)`, args, func(r *sql.Rows) error {
			var k domain.Contact
			var at int64
			err := r.Scan(&k.ID, &k.MemberID, &k.Channel, &k.Scenario, &k.CampaignID, &at)
			k.At = sqldb.FromMicros(at)
			out[k.MemberID].Contacts = append(out[k.MemberID].Contacts, k)
			return err
		})
	})
	return out, err
}

// AddContacts implements consent.Tx.
func (x consentTxn) AddContacts(ctx context.Context, cs []domain.Contact, actor string) error {
	var s script
	s.insert("marketing_contacts", "contact_id, member_id, programme_id, channel, scenario, campaign_id, actor, contacted_at", "", len(cs),
		func(i int) []any {
			k := cs[i]
			return []any{k.ID, k.MemberID, k.ProgrammeID, k.Channel, k.Scenario, k.CampaignID, actor, sqldb.Micros(k.At)}
		})
	return x.exec(ctx, s)
}

// SetExclusion implements consent.Tx.
func (x consentTxn) SetExclusion(ctx context.Context, e consent.Exclusion, at time.Time, actor string) error {
	var s script
	s.insert("contact_exclusions", "member_id, reason, ends_at, set_at, actor", ` ON CONFLICT (member_id, reason) DO UPDATE
		SET ends_at = excluded.ends_at, set_at = excluded.set_at, actor = excluded.actor`, 1, func(int) []any {
		return []any{e.MemberID, e.Reason, sqldb.Micros(e.EndsAt), sqldb.Micros(at), actor}
	})
	return x.exec(ctx, s)
}

// ClearExclusion implements consent.Tx.
func (x consentTxn) ClearExclusion(ctx context.Context, memberID, reason string) (bool, error) {
	res, err := x.t.tx.ExecContext(ctx, `DELETE FROM contact_exclusions WHERE member_id = $1 AND reason = $2`, memberID, reason)
	if err != nil {
		return false, fmt.Errorf("clear exclusion: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
