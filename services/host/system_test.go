package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	accessapp "github.com/fidelis-loyalty/fidelis/services/access/app"
	"github.com/fidelis-loyalty/fidelis/services/host"
	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
	"github.com/fidelis-loyalty/fidelis/services/internal/authz"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// system is every Fidelis service in one process (host.Start) on a test
// database, served on a loopback port, with the programmes of ledgertest.
type system struct {
	h     *host.Host
	db    *sqldb.DB
	addr  string
	admin string
	logs  *lockedBuffer
	keys  map[string]string
	// programmes is the programme configuration file; adminKeyFile the
	// first operator's key.
	programmes, adminKeyFile string
	// masterKeysFile is the keyring of the members' personal data.
	masterKeysFile string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.b.Bytes())
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func start(t *testing.T, db *sqldb.DB, tune func(*host.Config)) *system {
	t.Helper()
	dir := t.TempDir()
	programmes := filepath.Join(dir, "programmes.yaml")
	if err := os.WriteFile(programmes, []byte(ledgertest.Config), 0o600); err != nil {
		t.Fatal(err)
	}
	c := host.Config{DB: db.DSN, Migrate: true, ProgrammeConfig: programmes, AdminKeyFile: filepath.Join(dir, "admin-key"),
		KeyCacheTTL: time.Second, MaxConns: 8, MasterKeysFile: masterKeys(t, dir)}
	if tune != nil {
		tune(&c)
	}
	logs := &lockedBuffer{}
	h, err := host.Start(ctx(t), c, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.GRPC.Serve(lis) }()
	t.Cleanup(func() { h.Stop(5 * time.Second); h.Close() })
	admin, err := os.ReadFile(c.AdminKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &system{h: h, db: db, addr: lis.Addr().String(), admin: strings.TrimSpace(string(admin)), logs: logs, keys: map[string]string{},
		programmes: programmes, adminKeyFile: c.AdminKeyFile, masterKeysFile: c.MasterKeysFile}
}

// masterKeys writes a new keyring of master keys in dir and returns its
// path.
func masterKeys(t testing.TB, dir string) string {
	t.Helper()
	text, err := host.NewMasterKeyring("test")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "master-keys")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// key is a key of a principal with the roles, bound to the programmes
// (every one when none), made once per id.
func (s *system) key(t testing.TB, id string, roles []string, programmes ...string) string {
	t.Helper()
	if k, ok := s.keys[id]; ok {
		return k
	}
	if len(programmes) == 0 {
		programmes = []string{"*"}
	}
	k, _, _, err := s.h.Keys().CreateKey(ctx(t), host.NewKey{Principal: id, Roles: roles, Programmes: programmes})
	if err != nil {
		t.Fatalf("key of %s: %v", id, err)
	}
	s.keys[id] = k
	return k
}

// conn connects with a key ("" for none).
func (s *system) conn(t testing.TB, key string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(authz.KeyCredentials(key, false)))
	}
	c, err := grpc.NewClient(s.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// partner registers a partner of a programme and returns its id and key.
func (s *system) partner(t testing.TB, programme string) (string, string) {
	t.Helper()
	r, err := partnersv1.NewPartnerAdminServiceClient(s.conn(t, s.admin)).CreatePartner(ctx(t), &partnersv1.CreatePartnerRequest{
		IdempotencyKey: "partner-" + programme, Name: "Partner of " + programme, ProgrammeId: programme,
		EarnUnit: partnersv1.EarnUnit_EARN_UNIT_CURRENCY, EarnCurrencyCode: "EUR", EarnRate: "1",
		Rounding: partnersv1.Rounding_ROUNDING_FLOOR, PricePerPoint: &typev1.Money{Amount: "0.01", CurrencyCode: "EUR"},
		ValuePerPoint: &typev1.Money{Amount: "0.005", CurrencyCode: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetPartner().GetPartnerId(), r.GetApiKey()
}

// audit is every audit record written so far.
func (s *system) audit(t testing.TB) []audit.Record {
	t.Helper()
	if err := s.h.Access.FlushAudit(ctx(t)); err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	for tok := ""; ; {
		recs, next, err := s.h.Access.AuditRecords(ctx(t), accessapp.AuditFilter{}, tok, 500)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
		if tok = next; tok == "" {
			return out
		}
	}
}

// failures sums the failed authentications counted.
func (s *system) failures(t testing.TB) int64 {
	t.Helper()
	if err := s.h.Access.FlushAudit(ctx(t)); err != nil {
		t.Fatal(err)
	}
	fs, _, err := s.h.Access.Failures(ctx(t), accessapp.FailureFilter{}, "", 500)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range fs {
		n += f.Count
	}
	return n
}

// settle projects what is queued, so that the projector writes nothing
// while a test counts rows.
func (s *system) settle(t testing.TB) {
	t.Helper()
	for {
		n, err := s.h.Ledger.Status.Project(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// rowCounts counts the rows of every table but the audit's and the
// leases', which the replica's scheduled jobs take whatever calls come.
func rowCounts(t testing.TB, db *sqldb.DB) map[string]int {
	t.Helper()
	var tables []string
	for _, name := range tableNames(t, db) {
		if name != "access_audit" && name != "access_auth_failures" && name != "fidelis_leases" {
			tables = append(tables, name)
		}
	}
	if len(tables) < 20 {
		t.Fatalf("only tables %v", tables)
	}
	out := map[string]int{}
	for _, table := range tables {
		var n int
		if err := db.QueryRowContext(ctx(t), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// tableNames are the names of every table of the database.
func tableNames(t testing.TB, db *sqldb.DB) []string {
	t.Helper()
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	if db.Dialect == sqldb.SQLite {
		q = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	}
	rows, err := db.QueryContext(ctx(t), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

func sameRows(t testing.TB, before, after map[string]int) {
	t.Helper()
	sameRowsButRefusals(t, before, after, nil, nil)
}

// sameRowsButRefusals is sameRows but for the idempotency records of
// refusals, which a refused request writes (see idem.Storable): the rows
// added to each table are the refusals added to it.
func sameRowsButRefusals(t testing.TB, before, after, refusedBefore, refusedAfter map[string]int) {
	t.Helper()
	for table, n := range before {
		if want := n + refusedAfter[table] - refusedBefore[table]; after[table] != want {
			t.Errorf("%s: %d rows before, %d after, want %d", table, n, after[table], want)
		}
	}
}

// refusalsStored counts the refusals stored in each service's idempotency
// table.
func refusalsStored(t testing.TB, db *sqldb.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"access_idempotency", "ledger_idempotency", "rewards_idempotency", "partners_idempotency"} {
		rows, err := db.QueryContext(ctx(t), "SELECT response FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				t.Fatal(err)
			}
			if len(b) == 0 {
				continue // a claim in progress
			}
			if _, err := idem.DecodeReply[json.RawMessage](b); err != nil {
				if _, refusal := fault.As(err); !refusal {
					t.Fatalf("%s: %v", table, err)
				}
				out[table]++
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// method is a registered RPC.
type method struct {
	full string
	desc protoreflect.MethodDescriptor
}

// methods are every RPC the system serves, found by their descriptors.
func (s *system) methods(t testing.TB) []method {
	t.Helper()
	var out []method
	registered := map[string]bool{}
	for name := range s.h.GRPC.GetServiceInfo() {
		registered[name] = true
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sd := d.(protoreflect.ServiceDescriptor)
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			out = append(out, method{"/" + name + "/" + string(md.Name()), md})
		}
	}
	// Every Fidelis service there is runs here.
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(string(fd.Package()), "fidelis.") {
			for i := range fd.Services().Len() {
				if name := string(fd.Services().Get(i).FullName()); !registered[name] {
					t.Errorf("%s is not served by the all-in-one host", name)
				}
			}
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].full < out[j].full })
	return out
}

// invoke calls an RPC with a request (an empty one when nil), unary or
// streaming, and returns how it ended.
func invoke(ctx context.Context, conn *grpc.ClientConn, m method, req proto.Message) error {
	if req == nil {
		req = dynamicpb.NewMessage(m.desc.Input())
	}
	resp := dynamicpb.NewMessage(m.desc.Output())
	if !m.desc.IsStreamingClient() && !m.desc.IsStreamingServer() {
		return conn.Invoke(ctx, m.full, req, resp)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: m.desc.IsStreamingServer(), ClientStreams: m.desc.IsStreamingClient()}, m.full)
	if err != nil {
		return err
	}
	if err := cs.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	return cs.RecvMsg(resp)
}
