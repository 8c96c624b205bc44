package host_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	accessv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/access/v1"
	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	accessdomain "github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/host"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// Rate limits: a principal past its rate gets RESOURCE_EXHAUSTED with the
// delay to retry after, unless its own limit is higher; so does an address
// past its rate; a principal has a bounded number of event streams; an
// address that keeps failing to authenticate is refused before its keys
// are looked up.
func TestRateLimits(t *testing.T) {
	s := start(t, sqldbtest.Open(t, sqldb.SQLite), func(c *host.Config) {
		c.Limits = host.Limits{PerPrincipal: 5, PerAddress: 50, StreamsPerPrincipal: 1, FailuresPerAddress: 1}
	})
	// One event stream a principal (before the address's limit is spent).
	// An event to stream: a stream that has received it is open.
	ops := ledgerv1.NewLedgerServiceClient(s.conn(t, s.key(t, "ops", []string{"pos"})))
	m, err := ops.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: "e", ProgrammeId: "test", ExternalRef: "CARD-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: "earn", MemberId: m.GetMember().GetMemberId(),
		Channel: typev1.Channel_CHANNEL_POS, Basis: &ledgerv1.EarnRequest_Points{Points: 5}}); err != nil {
		t.Fatal(err)
	}
	watch := ledgerv1.NewStatusServiceClient(s.conn(t, s.key(t, "crm", []string{"marketing"})))
	stream := func(c context.Context) error {
		st, err := watch.WatchEvents(c, &ledgerv1.WatchEventsRequest{ProgrammeId: "test",
			Start: &ledgerv1.WatchEventsRequest_Now{Now: &emptypb.Empty{}}})
		if err == nil {
			_, err = st.Recv()
		}
		return err
	}
	first, stopFirst := context.WithCancel(ctx(t))
	st, err := watch.WatchEvents(first, &ledgerv1.WatchEventsRequest{ProgrammeId: "test",
		Start: &ledgerv1.WatchEventsRequest_Now{Now: &emptypb.Empty{}}})
	if err == nil {
		_, err = st.Recv() // the event: the stream is open on the server
	}
	if err != nil {
		t.Fatalf("the first stream: %v", err)
	}
	if err := stream(ctx(t)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a second stream: %v, want ResourceExhausted", err)
	}
	stopFirst()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := stream(ctx(t))
		if err == nil {
			break // the first has closed: another opens
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("a stream after the first closed: %v", err)
		}
	}

	get := &ledgerv1.GetProgrammeRequest{ProgrammeId: "test"}
	burst := func(key string, n int) (ok, limited int, retry time.Duration) {
		c := ledgerv1.NewLedgerServiceClient(s.conn(t, key))
		for range n {
			_, err := c.GetProgramme(ctx(t), get)
			switch status.Code(err) {
			case codes.OK:
				ok++
			case codes.ResourceExhausted:
				limited++
				for _, d := range status.Convert(err).Details() {
					if ri, isRetry := d.(*errdetails.RetryInfo); isRetry {
						retry = ri.GetRetryDelay().AsDuration()
					}
				}
			default:
				t.Fatalf("call: %v", err)
			}
		}
		return ok, limited, retry
	}
	ok, limited, retry := burst(s.key(t, "pos-a", []string{"pos"}), 20)
	// The burst, and what refills while the calls are made (5 a second).
	if ok < 10 || ok >= 20 || limited == 0 || retry <= 0 || retry > time.Second {
		t.Fatalf("5/s with bursts of 10: %d passed, %d limited, retry after %s", ok, limited, retry)
	}
	// Its own limit, set when made.
	rate := int64(1000)
	fast, _, _, err := s.h.Keys().CreateKey(ctx(t), host.NewKey{Principal: "pos-fast", Roles: []string{"pos"}, Programmes: []string{"*"},
		RatePerSecond: &rate})
	if err != nil {
		t.Fatal(err)
	}
	if ok, limited, _ := burst(fast, 40); ok != 40 || limited != 0 {
		t.Fatalf("a principal's own limit: %d passed, %d limited", ok, limited)
	}
	// The address: 50/s, bursts of 100, over every principal but services.
	if ok, limited, _ := burst(fast, 120); limited == 0 || ok == 120 {
		t.Fatalf("the address's limit: %d passed, %d limited", ok, limited)
	}

	// Failed authentications: bursts of 100, then refused outright, the
	// refusals counted too.
	bad := ledgerv1.NewLedgerServiceClient(s.conn(t, "fk_nosuchkey.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
	codesSeen := map[codes.Code]int{}
	for range 130 {
		_, err := bad.GetProgramme(ctx(t), get)
		codesSeen[status.Code(err)]++
	}
	if codesSeen[codes.Unauthenticated] < 100 || codesSeen[codes.ResourceExhausted] == 0 {
		t.Fatalf("130 bad keys: %v", codesSeen)
	}
	if got := s.failures(t); got != 130 {
		t.Fatalf("%d failed authentications counted, want 130", got)
	}
}

// No secret handed out (the admin key, keys made, rotated and replayed
// over the API and by the command line, partners' keys) is in the
// database's bytes, on either engine, nor in the logs; replays return no
// secret.
func TestNoSecretAtRest(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := start(t, db, nil)
		c := ctx(t)
		secrets := []string{s.admin}
		access := accessv1.NewAccessServiceClient(s.conn(t, s.admin))
		if _, err := access.CreatePrincipal(c, &accessv1.CreatePrincipalRequest{IdempotencyKey: "p", Principal: &accessv1.Principal{
			PrincipalId: "pos-1", Roles: []accessv1.Role{accessv1.Role_ROLE_POS}, Programmes: []string{"test"}}}); err != nil {
			t.Fatal(err)
		}
		create := &accessv1.CreateApiKeyRequest{IdempotencyKey: "k", PrincipalId: "pos-1"}
		made, err := access.CreateApiKey(c, create)
		if err != nil || made.GetSecretKey() == "" {
			t.Fatalf("create: %v %v", made, err)
		}
		secrets = append(secrets, made.GetSecretKey())
		replay, err := access.CreateApiKey(c, create)
		if err != nil || replay.GetSecretKey() != "" || replay.GetKey().GetKeyId() != made.GetKey().GetKeyId() {
			t.Fatalf("replayed create: %v %v", replay, err)
		}
		rotate := &accessv1.RotateApiKeyRequest{IdempotencyKey: "rot", KeyId: made.GetKey().GetKeyId()}
		rotated, err := access.RotateApiKey(c, rotate)
		if err != nil || rotated.GetSecretKey() == "" {
			t.Fatalf("rotate: %v %v", rotated, err)
		}
		secrets = append(secrets, rotated.GetSecretKey())
		if again, err := access.RotateApiKey(c, rotate); err != nil || again.GetSecretKey() != "" {
			t.Fatalf("replayed rotate: %v %v", again, err)
		}
		admin := partnersv1.NewPartnerAdminServiceClient(s.conn(t, s.admin))
		newPartner := &partnersv1.CreatePartnerRequest{IdempotencyKey: "partner", Name: "Air", ProgrammeId: "test",
			EarnUnit: partnersv1.EarnUnit_EARN_UNIT_CURRENCY, EarnCurrencyCode: "EUR",
			EarnRate: "1", Rounding: partnersv1.Rounding_ROUNDING_FLOOR, PricePerPoint: &typev1.Money{Amount: "0.01", CurrencyCode: "EUR"},
			ValuePerPoint: &typev1.Money{Amount: "0.01", CurrencyCode: "EUR"}}
		p, err := admin.CreatePartner(c, newPartner)
		if err != nil || p.GetApiKey() == "" {
			t.Fatalf("create partner: %v %v", p, err)
		}
		secrets = append(secrets, p.GetApiKey())
		if again, err := admin.CreatePartner(c, newPartner); err != nil || again.GetApiKey() != "" || again.GetKeyId() != p.GetKeyId() ||
			again.GetPartner().GetPartnerId() != p.GetPartner().GetPartnerId() {
			t.Fatalf("replayed create partner: %v %v", again, err)
		}
		rotatePartner := &partnersv1.RotatePartnerKeyRequest{IdempotencyKey: "prot", PartnerId: p.GetPartner().GetPartnerId()}
		pr, err := admin.RotatePartnerKey(c, rotatePartner)
		if err != nil || pr.GetApiKey() == "" {
			t.Fatalf("rotate partner key: %v %v", pr, err)
		}
		secrets = append(secrets, pr.GetApiKey())
		if again, err := admin.RotatePartnerKey(c, rotatePartner); err != nil || again.GetApiKey() != "" {
			t.Fatalf("replayed partner rotation: %v %v", again, err)
		}
		cli, _, _, err := s.h.Keys().CreateKey(c, host.NewKey{Principal: "bi-1", Roles: []string{"bi"}, Programmes: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, cli)
		// Each key used, and tried with a wrong secret.
		for _, k := range secrets {
			_, _ = ledgerv1.NewLedgerServiceClient(s.conn(t, k)).GetProgramme(c, &ledgerv1.GetProgrammeRequest{ProgrammeId: "test"})
			_, _ = ledgerv1.NewLedgerServiceClient(s.conn(t, k[:len(k)-2]+"xx")).GetProgramme(c, &ledgerv1.GetProgrammeRequest{ProgrammeId: "test"})
		}
		s.audit(t)

		var stored []byte
		if db.Dialect == sqldb.SQLite {
			path := strings.TrimPrefix(db.DSN, "sqlite:")
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				b, err := os.ReadFile(f)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				stored = append(stored, b...)
			}
			if len(stored) < 100_000 {
				t.Fatalf("only %d bytes read from the database files", len(stored))
			}
		} else {
			stored = dumpTables(t, db)
		}
		// What was read holds the keys (their public ids)...
		if !bytes.Contains(stored, []byte(made.GetKey().GetKeyId())) || !bytes.Contains(stored, []byte(p.GetKeyId())) {
			t.Fatal("the key ids are not in what was read: the scan misses the keys table")
		}
		// ... and none of their secrets.
		logs := s.logs.Bytes()
		for _, key := range secrets {
			_, secret, ok := strings.Cut(key, ".")
			if !ok || len(secret) < 40 {
				t.Fatalf("not a key: %q", key)
			}
			for _, form := range []string{secret, hex.EncodeToString([]byte(secret))} {
				if bytes.Contains(stored, []byte(form)) {
					t.Errorf("a secret is in the database: %q", form)
				}
				if bytes.Contains(logs, []byte(form)) {
					t.Errorf("a secret is in the logs: %q", form)
				}
			}
		}
	})
}

// dumpTables is every row of every table of the schema, as text.
func dumpTables(t testing.TB, db *sqldb.DB) []byte {
	t.Helper()
	var out bytes.Buffer
	for table := range rowCounts(t, db) {
		rows, err := db.QueryContext(ctx(t), "SELECT CAST(t AS TEXT) FROM "+table+" t")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out.WriteString(s + "\n")
		}
		rows.Close()
	}
	if out.Len() < 5_000 {
		t.Fatalf("only %d bytes dumped", out.Len())
	}
	return out.Bytes()
}

// The first operator key, with several replicas starting at once on one
// database: without a key file, exactly one of them makes the key (and its
// file); with the same key file on each (a Kubernetes Secret), it is
// registered once. Either way the key works on every replica.
func TestFirstAdminKeyWithReplicas(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		if err := host.Migrate(ctx(t), db.DSN, nil, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		const replicas = 4
		keyring := masterKeys(t, t.TempDir())
		starts := func(files []string) []*host.Host {
			hosts := make([]*host.Host, replicas)
			var wg sync.WaitGroup
			for i := range replicas {
				wg.Go(func() {
					h, err := host.Start(ctx(t), host.Config{DB: db.DSN, Migrate: true, AdminKeyFile: files[i], Services: []string{"ledger"},
						MasterKeysFile: keyring},
						slog.New(slog.DiscardHandler))
					if err != nil {
						t.Errorf("replica %d: %v", i, err)
						return
					}
					hosts[i] = h
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			t.Cleanup(func() {
				for _, h := range hosts {
					h.Stop(time.Second)
					h.Close()
				}
			})
			return hosts
		}
		adminKeys := func(h *host.Host) []host.KeyInfo {
			keys, err := h.Keys().Keys(ctx(t), "admin")
			if err != nil {
				t.Fatal(err)
			}
			return keys
		}

		var files []string
		for range replicas {
			files = append(files, filepath.Join(t.TempDir(), "admin-key"))
		}
		hosts := starts(files)
		var written []string
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				written = append(written, strings.TrimSpace(string(b)))
			}
		}
		if len(written) != 1 || len(adminKeys(hosts[0])) != 1 {
			t.Fatalf("%d key files written, %d admin keys: want 1 and 1", len(written), len(adminKeys(hosts[0])))
		}
		for i, h := range hosts {
			if _, err := h.Access.Authenticate(ctx(t), written[0]); err != nil {
				t.Errorf("replica %d refuses the admin key: %v", i, err)
			}
		}

		// A key from a Secret, on a fresh database.
		db2 := sqldbtest.Open(t, db.Dialect)
		if err := host.Migrate(ctx(t), db2.DSN, nil, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		_, secret, _, err := accessdomain.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		secretFile := filepath.Join(t.TempDir(), "admin-key")
		if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		db = db2
		hosts = starts([]string{secretFile, secretFile, secretFile, secretFile})
		if keys := adminKeys(hosts[0]); len(keys) != 1 || !strings.HasPrefix(secret, keys[0].ID+".") {
			t.Fatalf("admin keys from the Secret: %+v", keys)
		}
		for i, h := range hosts {
			if _, err := h.Access.Authenticate(ctx(t), secret); err != nil {
				t.Errorf("replica %d refuses the Secret's key: %v", i, err)
			}
		}
	})
}
