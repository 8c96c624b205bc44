package host_test

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/host"
	"github.com/fidelis-loyalty/fidelis/services/internal/pii"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/members"
)

// A member's whole life in the vault, over gRPC: enrolled with a card and
// a birth date, points earned, its profile filled in (name, e-mail, phone),
// found by each identifier, its card replaced (the old one stops
// resolving), then erased. After the erasure no column of any table and no
// log line holds any of its personal data, in any form; its points are
// still counted.
func TestEraseMemberLeavesNoPersonalData(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := start(t, db, nil)
		pos := s.conn(t, s.key(t, "till", []string{"pos"}))
		cs := ledgerv1.NewMemberServiceClient(s.conn(t, s.key(t, "help-desk", []string{"customer_service"})))
		ledger := ledgerv1.NewLedgerServiceClient(pos)
		const (
			card, newCard = "4970-1234-5678-9012", "4970-5555-6666-7777"
			name          = "Zoé Marchetti-Quignard"
			email         = " Zoe.Marchetti@Example.COM"
			phone         = "+33 6 12 34 56 78"
		)
		enrolled, err := ledger.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: "enrol", ProgrammeId: "test", ExternalRef: card,
			BirthDate: &date.Date{Year: 1984, Month: 6, Day: 23}})
		if err != nil {
			t.Fatal(err)
		}
		m := enrolled.GetMember()
		if m.GetExternalRef() != card || m.GetBirthDate().GetYear() != 1984 {
			t.Fatalf("enrolled %v: want the card and the birth date in the reply", m)
		}
		id := m.GetMemberId()
		if _, err := ledger.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: "earn", MemberId: id, Channel: typev1.Channel_CHANNEL_POS,
			Basis: &ledgerv1.EarnRequest_Points{Points: 120}}); err != nil {
			t.Fatal(err)
		}
		up, err := cs.UpdateMember(ctx(t), &ledgerv1.UpdateMemberRequest{IdempotencyKey: "profile", MemberId: id,
			Profile:    &ledgerv1.Profile{Name: name, Emails: []string{strings.TrimSpace(email)}, Phones: []string{phone}, Language: "fr"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name", "emails", "phones", "language"}}})
		if err != nil {
			t.Fatal(err)
		}
		if p := up.GetMember().GetProfile(); p.GetName() != name || p.GetBirthDate().GetDay() != 23 || up.GetMember().GetVersion() != 2 {
			t.Fatalf("updated profile %v: want the name set and the birth date kept", up.GetMember())
		}
		for kind, v := range map[ledgerv1.IdentifierKind]string{
			ledgerv1.IdentifierKind_IDENTIFIER_KIND_EMAIL: email, ledgerv1.IdentifierKind_IDENTIFIER_KIND_PHONE: "+33612345678",
			ledgerv1.IdentifierKind_IDENTIFIER_KIND_CARD: card,
		} {
			got, err := cs.FindMember(ctx(t), &ledgerv1.MemberServiceFindMemberRequest{ProgrammeId: "test", Kind: kind, Value: v})
			if err != nil || got.GetMember().GetMemberId() != id {
				t.Fatalf("find by %v: %v %v", kind, got, err)
			}
		}
		if _, err := ledgerv1.NewMemberServiceClient(pos).ReplaceCard(ctx(t), &ledgerv1.ReplaceCardRequest{IdempotencyKey: "lost", MemberId: id,
			OldCard: card, NewCard: newCard}); err != nil {
			t.Fatal(err)
		}
		if _, err := ledger.FindMember(ctx(t), &ledgerv1.FindMemberRequest{ProgrammeId: "test", ExternalRef: card}); status.Code(err) != codes.NotFound {
			t.Fatalf("find by the replaced card: %v, want NOT_FOUND", err)
		}
		if got, err := ledger.FindMember(ctx(t), &ledgerv1.FindMemberRequest{ProgrammeId: "test", ExternalRef: newCard}); err != nil ||
			got.GetMember().GetMemberId() != id || got.GetMember().GetExternalRef() != newCard {
			t.Fatalf("find by the new card: %v %v", got, err)
		}
		if _, err := cs.EraseMember(ctx(t), &ledgerv1.EraseMemberRequest{IdempotencyKey: "erase", MemberId: id}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("customer service erases: %v, want PERMISSION_DENIED", err)
		}
		ops := ledgerv1.NewMemberServiceClient(s.conn(t, s.admin))
		if _, err := ops.EraseMember(ctx(t), &ledgerv1.EraseMemberRequest{IdempotencyKey: "erase", MemberId: id}); err != nil {
			t.Fatal(err)
		}

		if _, err := cs.FindMember(ctx(t), &ledgerv1.MemberServiceFindMemberRequest{ProgrammeId: "test",
			Kind: ledgerv1.IdentifierKind_IDENTIFIER_KIND_EMAIL, Value: email}); status.Code(err) != codes.NotFound {
			t.Fatalf("find an erased member: %v, want NOT_FOUND", err)
		}
		got, err := ledger.GetMember(ctx(t), &ledgerv1.GetMemberRequest{MemberId: id})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetMember().GetExternalRef() != "" || got.GetMember().GetBirthDate() != nil {
			t.Fatalf("erased member %v: want no card or birth date", got.GetMember())
		}
		if b, err := ledger.GetBalance(ctx(t), &ledgerv1.GetBalanceRequest{MemberId: id}); err != nil || b.GetBalance().GetAvailable() != 120 {
			t.Fatalf("erased member's balance %v %v: want the 120 points kept", b, err)
		}
		if _, err := ops.UpdateMember(ctx(t), &ledgerv1.UpdateMemberRequest{IdempotencyKey: "again", MemberId: id,
			Profile: &ledgerv1.Profile{Name: name}}); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("update an erased member: %v, want FAILED_PRECONDITION", err)
		}

		needles := []string{card, newCard, strings.ReplaceAll(card, "-", ""), strings.ReplaceAll(newCard, "-", ""), name, "Marchetti",
			strings.TrimSpace(email), strings.ToLower(strings.TrimSpace(email)), phone, "33612345678", "612345678", "1984-06-23", "--06-23"}
		if recs := s.audit(t); len(recs) < 7 { // the writes, each audited
			t.Fatalf("%d audit records: the scan would miss the calls' audit", len(recs))
		}
		// The lookup hashes and the ledger's pseudonym are personal data
		// too: gone with the rest.
		keys, err := pii.LoadKeyring(s.masterKeysFile)
		if err != nil {
			t.Fatal(err)
		}
		hashes := map[string]string{members.KindCard: card, members.KindEmail: email, members.KindPhone: phone}
		for kind, v := range hashes {
			needles = append(needles, string(keys.Lookup(kind, v)))
		}
		needles = append(needles, string(keys.Lookup(members.KindCard, newCard)),
			members.RefPrefix+base64.RawURLEncoding.EncodeToString(keys.Lookup(members.KindCard, card)))
		for _, hit := range scanAll(t, db, needles) {
			t.Errorf("after erasure: %s", hit)
		}
		for _, hit := range sqliteFiles(t, db, needles) {
			t.Errorf("after erasure: %s", hit)
		}
		logs := bytes.ToLower(s.logs.Bytes())
		for _, n := range needles {
			if bytes.Contains(logs, []byte(strings.ToLower(n))) {
				t.Errorf("after erasure, the log holds %q", n)
			}
		}
	})
}

// sqliteFiles is where any needle occurs (case-insensitively) in the
// files of an SQLite database, checkpointed first; nothing on other
// engines.
func sqliteFiles(t *testing.T, db *sqldb.DB, needles []string) []string {
	t.Helper()
	if db.Dialect != sqldb.SQLite {
		return nil
	}
	if _, err := db.ExecContext(ctx(t), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	var hits []string
	path := strings.TrimPrefix(db.DSN, "sqlite:")
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(n))) {
				hits = append(hits, fmt.Sprintf("%s holds %q", f, n))
			}
		}
	}
	return hits
}

// scanAll is where any needle occurs (case-insensitively) in any column of
// any row of any table.
func scanAll(t *testing.T, db *sqldb.DB, needles []string) []string {
	t.Helper()
	var hits []string
	tables := tableNames(t, db)
	if !slices.Contains(tables, "access_audit") || !slices.Contains(tables, "member_identifiers") {
		t.Fatalf("the scan misses tables: %v", tables)
	}
	for _, table := range tables {
		rows, err := db.QueryContext(ctx(t), "SELECT * FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var text string
				switch v := v.(type) {
				case []byte:
					text = string(v)
				case nil:
				default:
					text = fmt.Sprint(v)
				}
				for _, n := range needles {
					if strings.Contains(strings.ToLower(text), strings.ToLower(n)) {
						hits = append(hits, fmt.Sprintf("%s.%s holds %q", table, cols[i], n))
					}
				}
			}
		}
		if err := rows.Err(); err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		rows.Close()
	}
	return hits
}

// The personal data earlier versions kept in clear — the card number as
// external ref and the birth date in ledger_members, both in the stored
// replies of EnrolMember — moves to the vault: the member is still found
// by its card, its profile holds its birth date, and no column of any
// table holds either any more (nor, on SQLite, the database file: secure
// delete zeroes what was overwritten).
func TestPlaintextOfEarlierVersionsMovesToTheVault(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := start(t, db, nil)
		pos := s.conn(t, s.key(t, "till", []string{"pos"}))
		ledger := ledgerv1.NewLedgerServiceClient(pos)
		id := enrolWithPoints(t, ledger, "NEW-CARD-1", 10)
		const card, born = "OLD-CARD-4242", "1975-02-11"
		// What an earlier version left: the plain card and birth date, no
		// vault rows, a stored reply and a stored refusal quoting them.
		for _, q := range []string{
			`DELETE FROM member_keys WHERE member_id = $1`, `DELETE FROM member_profiles WHERE member_id = $1`,
			`DELETE FROM member_identifiers WHERE member_id = $1`,
		} {
			if _, err := db.ExecContext(ctx(t), q, id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.ExecContext(ctx(t), `UPDATE ledger_members SET external_ref = $1, birth_date = $2 WHERE member_id = $3`, card, born, id); err != nil {
			t.Fatal(err)
		}
		reply := fmt.Sprintf(`{"Result":{"ID":%q,"ProgrammeID":"test","ExternalRef":%q,"BirthDate":%q}}`, id, card, born)
		if _, err := db.ExecContext(ctx(t), `UPDATE ledger_idempotency SET response = $1 WHERE method = 'Enrol'`, []byte(reply)); err != nil {
			t.Fatal(err)
		}
		refusal, err := json.Marshal(map[string]any{"Kind": 6, "Reason": "MEMBER_ALREADY_ENROLLED",
			"Msg": fmt.Sprintf("external ref %q is already enrolled as member %s", card, id)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx(t), `INSERT INTO ledger_idempotency (caller, idem_key, method, request_hash, hash_version, response, created_at)
			VALUES ('till', 'enrol-again', 'Enrol', $1, 1, $2, 1)`, []byte("hash"), refusal); err != nil {
			t.Fatal(err)
		}
		// The plaintext in the database file itself, as an earlier version
		// left it.
		if db.Dialect == sqldb.SQLite && len(sqliteFiles(t, db, []string{card})) == 0 {
			t.Fatal("the plaintext to migrate is not in the database file")
		}
		if hits := scanAll(t, db, []string{card, born}); len(hits) < 3 {
			t.Fatalf("the plaintext to migrate is not where the scan finds it: %v", hits)
		}

		n, replies, err := s.h.Ledger.Members.MigratePlaintext(ctx(t))
		if err != nil || n != 1 || replies != 2 {
			t.Fatalf("migrated %d members, %d replies (%v): want 1 and 2", n, replies, err)
		}
		found, err := ledger.FindMember(ctx(t), &ledgerv1.FindMemberRequest{ProgrammeId: "test", ExternalRef: card})
		if err != nil || found.GetMember().GetMemberId() != id || found.GetMember().GetExternalRef() != card ||
			found.GetMember().GetBirthDate().GetYear() != 1975 {
			t.Fatalf("find by the migrated card: %v %v", found, err)
		}
		for _, hit := range scanAll(t, db, []string{card, born}) {
			t.Errorf("after the migration: %s", hit)
		}
		if again, _, err := s.h.Ledger.Members.MigratePlaintext(ctx(t)); err != nil || again != 0 {
			t.Fatalf("a second run migrated %d (%v), want none", again, err)
		}
		for _, hit := range sqliteFiles(t, db, []string{card, born}) {
			t.Errorf("after the migration: %s", hit)
		}
	})
}

// Rotating the master key: a new key first in the keyring, `fidelis keys
// rewrap` (host.RewrapMemberKeys) rewraps every member key with it, and
// then a keyring without the old key still opens every member's data.
func TestRewrapAfterRotation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := start(t, db, nil)
		ledger := ledgerv1.NewLedgerServiceClient(s.conn(t, s.key(t, "till", []string{"pos"})))
		ids := []string{enrolWithPoints(t, ledger, "CARD-R1", 5), enrolWithPoints(t, ledger, "CARD-R2", 5)}

		old, err := os.ReadFile(s.masterKeysFile)
		if err != nil {
			t.Fatal(err)
		}
		text, err := host.NewMasterKeyring("k2")
		if err != nil {
			t.Fatal(err)
		}
		var k2 string
		for line := range strings.Lines(text) {
			if strings.HasPrefix(line, "k2 ") {
				k2 = line
			}
		}
		dir := t.TempDir()
		rotated, retired := filepath.Join(dir, "rotated"), filepath.Join(dir, "retired")
		if err := os.WriteFile(rotated, []byte(k2+string(old)), 0o600); err != nil {
			t.Fatal(err)
		}
		var lookup string
		for line := range strings.Lines(string(old)) {
			if strings.HasPrefix(line, "lookup ") {
				lookup = line
			}
		}
		if err := os.WriteFile(retired, []byte(k2+lookup), 0o600); err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		if n, err := host.RewrapMemberKeys(ctx(t), db.DSN, rotated, log); err != nil || n != 2 {
			t.Fatalf("rewrapped %d (%v), want 2", n, err)
		}
		if n, err := host.RewrapMemberKeys(ctx(t), db.DSN, rotated, log); err != nil || n != 0 {
			t.Fatalf("rewrapped again %d (%v), want 0", n, err)
		}
		// A server with only the new master key reads every member.
		s2 := start(t, db, func(c *host.Config) { c.MasterKeysFile, c.AdminKeyFile = retired, s.adminKeyFile })
		cs := ledgerv1.NewMemberServiceClient(s2.conn(t, s2.key(t, "help-desk", []string{"customer_service"})))
		for i, id := range ids {
			got, err := cs.GetMemberProfile(ctx(t), &ledgerv1.GetMemberProfileRequest{MemberId: id})
			if err != nil || len(got.GetMember().GetIdentifiers()) != 1 || got.GetMember().GetIdentifiers()[0].GetValue() != fmt.Sprintf("CARD-R%d", i+1) {
				t.Fatalf("member %d with the new key only: %v %v", i, got, err)
			}
		}
	})
}

// Without --master-keys: on an SQLite file the first start makes the
// keyring next to the database (0600) and warns, the next start reads the
// same; PostgreSQL refuses to start.
func TestMasterKeysDefault(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		var logs lockedBuffer
		h, err := host.Start(ctx(t), host.Config{DB: db.DSN, Migrate: true, Services: []string{"ledger"}, AdminKeyFile: filepath.Join(t.TempDir(), "admin")},
			slog.New(slog.NewTextHandler(&logs, nil)))
		if db.Dialect != sqldb.SQLite {
			if err == nil {
				h.Close()
				t.Fatal("started on PostgreSQL without master keys")
			}
			if !strings.Contains(err.Error(), "--master-keys") {
				t.Fatalf("error %q does not say what to give", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
		path := strings.TrimPrefix(db.DSN, "sqlite:") + ".master-keys"
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("keyring file %v %v: want it made, mode 0600", fi, err)
		}
		if !bytes.Contains(logs.Bytes(), []byte("not for production")) {
			t.Fatalf("no warning logged:\n%s", logs.Bytes())
		}
		if _, err := pii.LoadKeyring(path); err != nil {
			t.Fatal(err)
		}
	})
}

// Profiles over gRPC: an update replays under its key and a different
// one under the same key is refused; an e-mail address is one member's
// only; one removed from the profile no longer finds the member; an
// enrolment's replay still answers with the card and the birth date.
func TestMemberProfiles(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := start(t, db, nil)
		pos := s.conn(t, s.key(t, "till", []string{"pos"}))
		ledger, ms := ledgerv1.NewLedgerServiceClient(pos), ledgerv1.NewMemberServiceClient(pos)
		enrol := &ledgerv1.EnrolMemberRequest{IdempotencyKey: "enrol-a", ProgrammeId: "test", ExternalRef: "CARD-A",
			BirthDate: &date.Date{Year: 1990, Month: 2, Day: 28}}
		first, err := ledger.EnrolMember(ctx(t), enrol)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ledger.EnrolMember(ctx(t), enrol)
		if err != nil || again.GetMember().GetMemberId() != first.GetMember().GetMemberId() || again.GetMember().GetExternalRef() != "CARD-A" ||
			again.GetMember().GetBirthDate().GetDay() != 28 {
			t.Fatalf("replayed enrolment %v %v", again, err)
		}
		if _, err := ledger.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: "enrol-a2", ProgrammeId: "test", ExternalRef: "CARD-A"}); status.Code(err) != codes.AlreadyExists {
			t.Fatalf("the same card enrolled again: %v, want ALREADY_EXISTS", err)
		}
		a := first.GetMember().GetMemberId()
		b := enrolWithPoints(t, ledger, "CARD-B", 1)
		// A card given in place of a lost one is taken too.
		if _, err := ms.ReplaceCard(ctx(t), &ledgerv1.ReplaceCardRequest{IdempotencyKey: "r", MemberId: b, OldCard: "CARD-B", NewCard: "CARD-C"}); err != nil {
			t.Fatal(err)
		}
		if _, err := ledger.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: "enrol-c", ProgrammeId: "test", ExternalRef: "CARD-C"}); status.Code(err) != codes.AlreadyExists {
			t.Fatalf("a replacement card enrolled: %v, want ALREADY_EXISTS", err)
		}
		if _, err := ledger.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: "enrol-b", ProgrammeId: "test", ExternalRef: "CARD-B"}); status.Code(err) != codes.AlreadyExists {
			t.Fatalf("a lost card enrolled again: %v, want ALREADY_EXISTS", err)
		}

		update := &ledgerv1.UpdateMemberRequest{IdempotencyKey: "u1", MemberId: a, Profile: &ledgerv1.Profile{Emails: []string{"a@example.com"}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"emails"}}}
		for range 2 {
			got, err := ms.UpdateMember(ctx(t), update)
			if err != nil || got.GetMember().GetVersion() != 2 {
				t.Fatalf("update (and its replay): %v %v", got, err)
			}
		}
		update.Profile.Emails = []string{"other@example.com"}
		if _, err := ms.UpdateMember(ctx(t), update); status.Code(err) != codes.AlreadyExists {
			t.Fatalf("another update under the key: %v, want ALREADY_EXISTS", err)
		}
		if _, err := ms.UpdateMember(ctx(t), &ledgerv1.UpdateMemberRequest{IdempotencyKey: "u2", MemberId: b,
			Profile: &ledgerv1.Profile{Emails: []string{"A@Example.com"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"emails"}}}); status.Code(err) != codes.AlreadyExists ||
			!strings.Contains(fmt.Sprint(status.Convert(err).Details()), "IDENTIFIER_TAKEN") {
			t.Fatalf("another member's e-mail: %v, want IDENTIFIER_TAKEN", err)
		}
		if _, err := ms.UpdateMember(ctx(t), &ledgerv1.UpdateMemberRequest{IdempotencyKey: "u3", MemberId: a,
			Profile: &ledgerv1.Profile{Emails: []string{"new@example.com"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"emails", "no_such"}}}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("a mask naming no field: %v, want INVALID_ARGUMENT", err)
		}
		if _, err := ms.UpdateMember(ctx(t), &ledgerv1.UpdateMemberRequest{IdempotencyKey: "u4", MemberId: a,
			Profile: &ledgerv1.Profile{Emails: []string{"new@example.com"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"emails"}}}); err != nil {
			t.Fatal(err)
		}
		find := func(v string) error {
			_, err := ms.FindMember(ctx(t), &ledgerv1.MemberServiceFindMemberRequest{ProgrammeId: "test", Kind: ledgerv1.IdentifierKind_IDENTIFIER_KIND_EMAIL, Value: v})
			return err
		}
		if err := find("a@example.com"); status.Code(err) != codes.NotFound {
			t.Fatalf("the removed e-mail: %v, want NOT_FOUND", err)
		}
		if err := find("NEW@example.com"); err != nil {
			t.Fatalf("the new e-mail: %v", err)
		}
	})
}
