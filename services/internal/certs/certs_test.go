package certs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/fidelis-loyalty/fidelis/services/internal/certs"
)

// identityHeader carries, in the test server's response headers, the client
// identity the server read from the connection.
const identityHeader = "x-test-client-identity"

// ---- PKI ----

type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func newCA(t *testing.T, cn string, serial int64) *issuer {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{cert: cert, key: key, pem: pemBlock("CERTIFICATE", der)}
}

// leaf is an issued certificate and its key, in PEM.
type leaf struct {
	cert, key []byte
	der       []byte
}

// issue signs a server certificate for 127.0.0.1 and localhost, or a client
// certificate with Subject CN cn.
func (ca *issuer) issue(t *testing.T, cn string, serial int64, server bool) leaf {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return leaf{cert: pemBlock("CERTIFICATE", der), key: pemBlock("PRIVATE KEY", kder), der: der}
}

// ---- a Kubernetes Secret mount ----

// mount lays files out as the kubelet does for a Secret volume:
// ..<timestamp>/ holds the files, ..data -> ..<timestamp>, and each name is a
// symlink name -> ..data/name.
type mount struct {
	t   *testing.T
	dir string
	n   int
	cur string // the current timestamped directory
}

func newMount(t *testing.T, files map[string][]byte) *mount {
	t.Helper()
	m := &mount{t: t, dir: t.TempDir()}
	m.update(files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), m.path(name)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m *mount) path(name string) string { return filepath.Join(m.dir, name) }

// update writes files into a new timestamped directory, atomically swaps
// ..data to it and removes the previous one.
func (m *mount) update(files map[string][]byte) {
	m.t.Helper()
	m.n++
	ts := fmt.Sprintf("..2026_01_01_00_00_00.%09d", m.n)
	if err := os.Mkdir(m.path(ts), 0o755); err != nil {
		m.t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(m.path(ts), name), b, 0o600); err != nil {
			m.t.Fatal(err)
		}
	}
	tmp := m.path("..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, m.path("..data")); err != nil {
		m.t.Fatal(err)
	}
	if m.cur != "" {
		if err := os.RemoveAll(m.path(m.cur)); err != nil {
			m.t.Fatal(err)
		}
	}
	m.cur = ts
}

// ---- logs ----

// recorder is a slog.Handler that keeps the records and echoes them to the
// test log.
type recorder struct {
	t    *testing.T
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recorder) WithGroup(string) slog.Handler            { return h }

func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.t.Log(b.String())
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

// count is the number of records at level whose attribute key is value
// (any value if key is "").
func (h *recorder) count(level slog.Level, key, value string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.recs {
		if r.Level != level {
			continue
		}
		match := key == ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key && a.Value.String() == value {
				match = true
			}
			return !match
		})
		if match {
			n++
		}
	}
	return n
}

// ---- helpers ----

// watch starts a Reloader that stops, and is checked to have stopped, at the
// end of the test.
func watch(t *testing.T, f certs.Files, poll time.Duration) (*certs.Reloader, *recorder) {
	t.Helper()
	rec := &recorder{t: t}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := certs.Watch(ctx, f, certs.Options{Logger: slog.New(rec), Poll: poll})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.Done():
		case <-time.After(5 * time.Second):
			t.Error("the watcher did not stop after its context ended")
		}
	})
	return r, rec
}

// serve runs a gRPC server with the health service on 127.0.0.1. Its
// interceptor returns the client identity it read from the connection in
// the identityHeader response header.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	identify := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		id := "<no TLS>"
		if p, ok := peer.FromContext(ctx); ok {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
				id = certs.ClientIdentity(ti.State)
			}
		}
		if err := grpc.SetHeader(ctx, metadata.Pairs(identityHeader, id)); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)), grpc.UnaryInterceptor(identify))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// result is what a client saw of one health check on a new connection.
type result struct {
	server   *x509.Certificate // the server's leaf
	identity string            // the client identity the server read
	alpn     string
}

// check dials addr on a new connection and calls Health.Check.
func check(t *testing.T, addr string, cfg *tls.Config) (result, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var (
		p  peer.Peer
		md metadata.MD
	)
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.Header(&md))
	if err != nil {
		return result{}, err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health status %v", resp.GetStatus())
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		t.Fatalf("peer auth info %#v: not TLS with a server certificate", p.AuthInfo)
	}
	var id string
	if v := md.Get(identityHeader); len(v) == 1 {
		id = v[0]
	}
	return result{server: ti.State.PeerCertificates[0], identity: id, alpn: ti.State.NegotiatedProtocol}, nil
}

// mustCheck is check that must succeed.
func mustCheck(t *testing.T, addr string, cfg *tls.Config) result {
	t.Helper()
	res, err := check(t, addr, cfg)
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	return res
}

// mustFail is check that must fail the way a handshake failure does.
func mustFail(t *testing.T, addr string, cfg *tls.Config) {
	t.Helper()
	_, err := check(t, addr, cfg)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("health check: %v, want code Unavailable", err)
	}
	t.Logf("failed as expected: %v", err)
}

// eventually polls cond until it returns nil or 10s pass.
func eventually(t *testing.T, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantSerial is a condition: a new connection sees the server serial.
func wantSerial(t *testing.T, addr string, cfg *tls.Config, serial int64) func() error {
	return func() error {
		res, err := check(t, addr, cfg)
		if err != nil {
			return err
		}
		if got := res.server.SerialNumber.Int64(); got != serial {
			return fmt.Errorf("server serial %d, want %d", got, serial)
		}
		return nil
	}
}

// world is the PKI of the tests.
type world struct {
	ca1, ca2   *issuer
	server     leaf // 127.0.0.1/localhost, by ca1, serial 100
	posParis   leaf // client "pos-paris", by ca1
	unrelated  leaf // client "intruder", by ca2
	serverMnt  *mount
	clientMnt  *mount // pos-paris
	intruderMn *mount
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{ca1: newCA(t, "Fidelis CA 1", 1), ca2: newCA(t, "Unrelated CA", 2)}
	w.server = w.ca1.issue(t, "ledger", 100, true)
	w.posParis = w.ca1.issue(t, "pos-paris", 101, false)
	w.unrelated = w.ca2.issue(t, "intruder", 102, false)
	w.serverMnt = newMount(t, map[string][]byte{"tls.crt": w.server.cert, "tls.key": w.server.key, "ca.crt": w.ca1.pem})
	w.clientMnt = newMount(t, map[string][]byte{"tls.crt": w.posParis.cert, "tls.key": w.posParis.key, "ca.crt": w.ca1.pem})
	w.intruderMn = newMount(t, map[string][]byte{"tls.crt": w.unrelated.cert, "tls.key": w.unrelated.key, "ca.crt": w.ca1.pem})
	return w
}

// files of a mount: tls.crt, tls.key, and ca.crt as the client CA (server)
// or the peer CA (client).
func serverFiles(m *mount, clientCA bool) certs.Files {
	f := certs.Files{Cert: m.path("tls.crt"), Key: m.path("tls.key")}
	if clientCA {
		f.ClientCA = m.path("ca.crt")
	}
	return f
}

func clientFiles(m *mount) certs.Files {
	return certs.Files{Cert: m.path("tls.crt"), Key: m.path("tls.key"), PeerCA: m.path("ca.crt")}
}

// ---- tests ----

func TestTLS(t *testing.T) {
	w := newWorld(t)
	srv, _ := watch(t, serverFiles(w.serverMnt, false), time.Hour)
	addr := serve(t, srv.ServerConfig())
	cli, _ := watch(t, clientFiles(w.clientMnt), time.Hour)

	res := mustCheck(t, addr, cli.ClientConfig("127.0.0.1"))
	if string(res.server.Raw) != string(w.server.der) {
		t.Errorf("server certificate serial %v, want the one issued (serial 100)", res.server.SerialNumber)
	}
	if res.alpn != "h2" {
		t.Errorf("ALPN %q, want h2", res.alpn)
	}
	if res.identity != "" {
		t.Errorf("identity %q without client verification, want empty", res.identity)
	}
	mustCheck(t, addr, cli.ClientConfig("localhost"))

	// The client really verifies the server: the name and the CA.
	mustFail(t, addr, cli.ClientConfig("billing.fidelis.internal"))
	other := newMount(t, map[string][]byte{"tls.crt": w.posParis.cert, "tls.key": w.posParis.key, "ca.crt": w.ca2.pem})
	wrongCA, _ := watch(t, clientFiles(other), time.Hour)
	mustFail(t, addr, wrongCA.ClientConfig("127.0.0.1"))
}

func TestMutualTLS(t *testing.T) {
	w := newWorld(t)
	srv, _ := watch(t, serverFiles(w.serverMnt, true), time.Hour)
	addr := serve(t, srv.ServerConfig())

	cli, _ := watch(t, clientFiles(w.clientMnt), time.Hour)
	if res := mustCheck(t, addr, cli.ClientConfig("127.0.0.1")); res.identity != "pos-paris" {
		t.Errorf("identity %q, want pos-paris", res.identity)
	}

	pool := x509.NewCertPool()
	pool.AddCert(w.ca1.cert)
	mustFail(t, addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})

	intruder, _ := watch(t, clientFiles(w.intruderMn), time.Hour)
	mustFail(t, addr, intruder.ClientConfig("127.0.0.1"))

	// TLS 1.2 too: there the client certificate is checked within the
	// handshake proper.
	tls12 := cli.ClientConfig("127.0.0.1")
	tls12.MaxVersion = tls.VersionTLS12
	if res := mustCheck(t, addr, tls12); res.identity != "pos-paris" {
		t.Errorf("TLS 1.2: identity %q, want pos-paris", res.identity)
	}
}

// TestSwap checks that a Secret update is picked up by the directory watch:
// the fallback poll is an hour.
func TestSwap(t *testing.T) {
	w := newWorld(t)
	srv, logs := watch(t, serverFiles(w.serverMnt, true), time.Hour)
	addr := serve(t, srv.ServerConfig())
	cli, _ := watch(t, clientFiles(w.clientMnt), time.Hour)
	cfg := cli.ClientConfig("127.0.0.1")
	eventually(t, wantSerial(t, addr, cfg, 100))

	next := w.ca1.issue(t, "ledger", 200, true)
	w.serverMnt.update(map[string][]byte{"tls.crt": next.cert, "tls.key": next.key, "ca.crt": w.ca1.pem})
	eventually(t, wantSerial(t, addr, cfg, 200))
	if n := logs.count(slog.LevelInfo, "serial", "c8"); n != 1 {
		t.Errorf("%d Info records of the reload to serial 200 (c8), want 1", n)
	}
}

// TestRotateCAs moves both sides to the other CA: the server's client CA
// and the client's peer CA are the current ones.
func TestRotateCAs(t *testing.T) {
	w := newWorld(t)
	srv, _ := watch(t, serverFiles(w.serverMnt, true), time.Hour)
	addr := serve(t, srv.ServerConfig())
	cli, _ := watch(t, clientFiles(w.clientMnt), time.Hour)
	cfg := cli.ClientConfig("127.0.0.1") // one configuration throughout
	mustCheck(t, addr, cfg)

	server2 := w.ca2.issue(t, "ledger", 300, true)
	client2 := w.ca2.issue(t, "pos-lyon", 301, false)
	w.serverMnt.update(map[string][]byte{"tls.crt": server2.cert, "tls.key": server2.key, "ca.crt": w.ca2.pem})
	w.clientMnt.update(map[string][]byte{"tls.crt": client2.cert, "tls.key": client2.key, "ca.crt": w.ca2.pem})
	eventually(t, func() error {
		res, err := check(t, addr, cfg)
		if err != nil {
			return err
		}
		if res.server.SerialNumber.Int64() != 300 || res.identity != "pos-lyon" {
			return fmt.Errorf("server serial %v, identity %q", res.server.SerialNumber, res.identity)
		}
		return nil
	})
	// The old client certificate is refused now: CA 1 is no longer trusted.
	old := newMount(t, map[string][]byte{"tls.crt": w.posParis.cert, "tls.key": w.posParis.key, "ca.crt": w.ca2.pem})
	oldCli, _ := watch(t, clientFiles(old), time.Hour)
	mustFail(t, addr, oldCli.ClientConfig("127.0.0.1"))
}

func TestBrokenUpdateKeepsServing(t *testing.T) {
	w := newWorld(t)
	srv, logs := watch(t, serverFiles(w.serverMnt, false), time.Hour)
	addr := serve(t, srv.ServerConfig())
	cli, _ := watch(t, clientFiles(w.clientMnt), time.Hour)
	cfg := cli.ClientConfig("127.0.0.1")

	// A new certificate with the old key.
	next := w.ca1.issue(t, "ledger", 400, true)
	w.serverMnt.update(map[string][]byte{"tls.crt": next.cert, "tls.key": w.server.key, "ca.crt": w.ca1.pem})
	keyFile := w.serverMnt.path("tls.key")
	eventually(t, func() error {
		if logs.count(slog.LevelError, "file", keyFile) == 0 {
			return errors.New("no Error record for the key file")
		}
		return nil
	})
	if res := mustCheck(t, addr, cfg); res.server.SerialNumber.Int64() != 100 {
		t.Errorf("after a broken update: server serial %v, want the previous one, 100", res.server.SerialNumber)
	}

	// A half-written certificate.
	w.serverMnt.update(map[string][]byte{"tls.crt": next.cert[:len(next.cert)/2], "tls.key": next.key, "ca.crt": w.ca1.pem})
	certFile := w.serverMnt.path("tls.crt")
	eventually(t, func() error {
		if logs.count(slog.LevelError, "file", certFile) == 0 {
			return errors.New("no Error record for the certificate file")
		}
		return nil
	})
	if res := mustCheck(t, addr, cfg); res.server.SerialNumber.Int64() != 100 {
		t.Errorf("after a truncated update: server serial %v, want the previous one, 100", res.server.SerialNumber)
	}

	// Repaired.
	w.serverMnt.update(map[string][]byte{"tls.crt": next.cert, "tls.key": next.key, "ca.crt": w.ca1.pem})
	eventually(t, wantSerial(t, addr, cfg, 400))
}

// TestQuietWithoutChange re-reads unchanged files often (events and a short
// poll) and checks that only the initial load was logged.
func TestQuietWithoutChange(t *testing.T) {
	w := newWorld(t)
	_, logs := watch(t, serverFiles(w.serverMnt, true), 5*time.Millisecond)
	// Same content, new directory: events, and no change.
	w.serverMnt.update(map[string][]byte{"tls.crt": w.server.cert, "tls.key": w.server.key, "ca.crt": w.ca1.pem})
	time.Sleep(300 * time.Millisecond) // about 60 polls and the debounced events
	logs.mu.Lock()
	n := len(logs.recs)
	logs.mu.Unlock()
	if n != 1 {
		t.Errorf("%d log records, want 1 (the initial load)", n)
	}
}

func TestInitialLoadErrors(t *testing.T) {
	w := newWorld(t)
	other := w.ca1.issue(t, "ledger", 500, true)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	crt, key := write("tls.crt", w.server.cert), write("tls.key", w.server.key)
	for _, tc := range []struct {
		name     string
		files    certs.Files
		wantFile string
	}{
		{"missing cert", certs.Files{Cert: filepath.Join(dir, "nope.crt"), Key: key}, filepath.Join(dir, "nope.crt")},
		{"missing key", certs.Files{Cert: crt, Key: filepath.Join(dir, "nope.key")}, filepath.Join(dir, "nope.key")},
		{"key not matching", certs.Files{Cert: crt, Key: write("other.key", other.key)}, filepath.Join(dir, "other.key")},
		{"truncated cert", certs.Files{Cert: write("half.crt", w.server.cert[:len(w.server.cert)-40]), Key: key}, filepath.Join(dir, "half.crt")},
		{"truncated chain", certs.Files{Cert: write("chain.crt", append(append([]byte{}, w.server.cert...), w.ca1.pem[:60]...)), Key: key}, filepath.Join(dir, "chain.crt")},
		{"bad client CA", certs.Files{Cert: crt, Key: key, ClientCA: write("garbage.pem", []byte("not PEM"))}, filepath.Join(dir, "garbage.pem")},
		{"empty peer CA", certs.Files{Cert: crt, Key: key, PeerCA: write("empty.pem", nil)}, filepath.Join(dir, "empty.pem")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r, err := certs.Watch(ctx, tc.files, certs.Options{Logger: slog.New(&recorder{t: t})})
			if err == nil {
				cancel()
				<-r.Done()
				t.Fatal("Watch succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.wantFile) {
				t.Errorf("error %q does not name %s", err, tc.wantFile)
			}
			if strings.HasPrefix(tc.name, "missing") && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %q is not fs.ErrNotExist", err)
			}
		})
	}
	if _, err := certs.Watch(context.Background(), certs.Files{Cert: crt}, certs.Options{}); err == nil {
		t.Error("Watch without a key succeeded")
	}
}

// TestHTTPServer checks the server configuration on net/http: HTTP/2 and
// HTTP/1.1 are both negotiated, and the client identity is there.
func TestHTTPServer(t *testing.T) {
	w := newWorld(t)
	srv, _ := watch(t, serverFiles(w.serverMnt, true), time.Hour)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		TLSConfig:         srv.ServerConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			_, _ = fmt.Fprintf(rw, "%s %s", r.Proto, certs.ClientIdentity(*r.TLS))
		}),
	}
	go func() { _ = hs.ServeTLS(lis, "", "") }()
	t.Cleanup(func() { _ = hs.Close() })

	cli, _ := watch(t, clientFiles(w.clientMnt), time.Hour)
	for _, tc := range []struct {
		alpn []string
		h2   bool // let the transport speak HTTP/2
		want string
	}{
		{[]string{"h2", "http/1.1"}, true, "HTTP/2.0 pos-paris"},
		{[]string{"http/1.1"}, false, "HTTP/1.1 pos-paris"},
	} {
		cfg := cli.ClientConfig("localhost")
		cfg.NextProtos = tc.alpn
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: tc.h2}}
		resp, err := c.Get("https://" + lis.Addr().String() + "/")
		if err != nil {
			t.Fatalf("ALPN %v: %v", tc.alpn, err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		c.CloseIdleConnections()
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != tc.want {
			t.Errorf("ALPN %v: %q, want %q", tc.alpn, body, tc.want)
		}
	}
}

func TestClientIdentityUnverified(t *testing.T) {
	w := newWorld(t)
	c, err := x509.ParseCertificate(w.posParis.der)
	if err != nil {
		t.Fatal(err)
	}
	if id := certs.ClientIdentity(tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}); id != "" {
		t.Errorf("identity %q from an unverified certificate, want empty", id)
	}
	if id := certs.ClientIdentity(tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c, w.ca1.cert}}}); id != "pos-paris" {
		t.Errorf("identity %q, want pos-paris", id)
	}
}
