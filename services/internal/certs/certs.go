// Package certs provides the TLS configuration of the Fidelis gRPC and HTTP
// servers and of the internal gRPC dials between services, with the PEM
// files reloaded when they change, without a restart.
//
// Kubernetes updates a mounted Secret by writing a new timestamped directory
// and atomically swapping the "..data" symlink in the mount directory; the
// files themselves (tls.crt -> ..data/tls.crt) never change, so watching them
// misses updates. Watch therefore watches the directories that contain the
// files and re-reads everything on any event in them (debounced), and also
// re-reads on a slow timer in case an event is missed. A reload is applied
// only if every file parses and the key matches the certificate; otherwise
// the previous material stays in use and the error is logged.
package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// defaultPoll is the fallback re-check interval.
	defaultPoll = time.Minute
	// debounce is how long the watched directories must stay quiet after an
	// event before the files are re-read: an update is several events.
	debounce = 100 * time.Millisecond
)

// Files names the PEM files: the certificate chain and key this process
// presents (server side, and client side for mTLS on internal dials), and
// optional CA bundles.
type Files struct {
	// Cert is the certificate chain, leaf first; Key its private key. Both
	// are required.
	Cert, Key string
	// ClientCA, when set, makes servers require and verify client
	// certificates signed by it.
	ClientCA string
	// PeerCA verifies the servers this process dials (internal calls);
	// empty: the system roots.
	PeerCA string
}

// Options tune Watch. The zero value is ready to use.
type Options struct {
	// Logger receives reloads (Info) and failed reloads (Error); nil:
	// slog.Default().
	Logger *slog.Logger
	// Poll is the fallback re-check interval, for a missed file-system
	// event; zero or negative: one minute.
	Poll time.Duration
}

// Reloader holds the current TLS material and hands out configurations that
// always use it. It is safe for concurrent use.
type Reloader struct {
	files Files
	log   *slog.Logger
	cur   atomic.Pointer[material]
	done  chan struct{}
}

// material is one consistent load of the files. It is never modified once
// stored.
type material struct {
	cert    *tls.Certificate
	peerCAs *x509.CertPool // nil: the system roots
	server  *tls.Config    // the per-handshake server configuration
	sums    [numFiles][sha256.Size]byte
}

// The files of a load, in a fixed order.
const (
	fileCert = iota
	fileKey
	fileClientCA
	filePeerCA
	numFiles
)

// fileName names file i in logs and errors.
func fileName(i int) string {
	return [numFiles]string{"certificate", "key", "client CA", "peer CA"}[i]
}

// loadError is a file that could not be read or used.
type loadError struct {
	file string // the path
	what string // fileName of the file
	err  error
}

func (e *loadError) Error() string {
	return fmt.Sprintf("certs: %s file %s: %v", e.what, e.file, e.err)
}

func (e *loadError) Unwrap() error { return e.err }

// Watch loads the files and keeps them current until ctx ends. It fails if
// the initial load fails; the error names the file at fault and why. If the
// directories cannot be watched, it logs that and relies on Options.Poll.
func Watch(ctx context.Context, f Files, o Options) (*Reloader, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("certs: Files.Cert and Files.Key are required")
	}
	r := &Reloader{files: f, log: o.Logger, done: make(chan struct{})}
	if r.log == nil {
		r.log = slog.Default()
	}
	poll := o.Poll
	if poll <= 0 {
		poll = defaultPoll
	}
	// Watch before the first read, so that an update in between is not
	// missed.
	w := r.watchDirs(ctx)
	m, err := load(f)
	if err != nil {
		if w != nil {
			_ = w.Close()
		}
		return nil, err
	}
	r.cur.Store(m)
	r.log.InfoContext(ctx, "TLS material loaded", m.attrs(f, nil)...)
	go r.run(ctx, w, poll)
	return r, nil
}

// Done is closed once the watcher has stopped, after the context given to
// Watch ended. The configurations keep serving the last material.
func (r *Reloader) Done() <-chan struct{} { return r.done }

// ServerConfig is the configuration for grpc credentials.NewTLS and
// http.Server.TLSConfig. Each handshake uses the current certificate and,
// with Files.ClientCA, requires a client certificate verified against the
// current client CA pool. It offers ALPN "h2" and "http/1.1", so an HTTP
// server using it must keep HTTP/2 enabled (the default).
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		// The configuration returned here replaces this one for the
		// handshake, so it carries everything: certificate, client
		// verification and ALPN (the NextProtos above, which grpc and
		// net/http adjust, do not apply to it). There is deliberately no
		// GetCertificate: a copy without GetConfigForClient fails every
		// handshake rather than serving without client verification.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.cur.Load().server, nil
		},
	}
}

// ClientConfig is the configuration for an internal dial to serverName
// (grpc credentials.NewTLS): it presents the current certificate when the
// server asks for one (mTLS) and verifies the server, for serverName, against
// the current Files.PeerCA pool, or the system roots without one. ALPN is
// "h2" only: it is meant for gRPC. With Files.PeerCA, the client side's
// tls.ConnectionState.VerifiedChains stays empty: crypto/tls's own check is
// off (it would pin the pool of the moment) and VerifyConnection verifies the
// chain and the name against the current pool instead.
func (r *Reloader) ClientConfig(serverName string) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		NextProtos: []string{"h2"},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.cur.Load().cert, nil
		},
	}
	if r.files.PeerCA != "" {
		// RootCAs would freeze the pool of the moment; the handshake's
		// built-in verification is turned off and done instead, in full,
		// by VerifyConnection with the pool current at each handshake
		// (VerifyConnection also runs on resumed sessions).
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			return r.verifyServer(serverName, cs)
		}
	}
	return c
}

// verifyServer does what crypto/tls does for a client whose RootCAs is the
// current peer CA pool.
func (r *Reloader) verifyServer(serverName string, cs tls.ConnectionState) error {
	name := serverName
	if name == "" {
		// The name grpc derived from the target; empty for an IP address.
		name = cs.ServerName
	}
	if name == "" {
		return errors.New("certs: no server name to verify the server certificate for; pass it to ClientConfig")
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("certs: the server presented no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         r.cur.Load().peerCAs,
		DNSName:       name,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("certs: verify server certificate for %q: %w", name, err)
	}
	return nil
}

// ClientIdentity is the identity of the client of a connection, to map to a
// principal: the Subject CommonName of the leaf of the first verified chain.
// It is "" when no client certificate was verified, in particular on a
// server without Files.ClientCA; unverified peer certificates are never
// trusted. On gRPC, the state is credentials.TLSInfo.State of the
// peer.FromContext AuthInfo.
func ClientIdentity(cs tls.ConnectionState) string {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return cs.VerifiedChains[0][0].Subject.CommonName
}

// watchDirs starts watching the directories of the files; nil if that is
// impossible (logged).
func (r *Reloader) watchDirs(ctx context.Context) *fsnotify.Watcher {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.ErrorContext(ctx, "TLS files not watched; relying on the periodic re-check", slog.Any("error", err))
		return nil
	}
	seen := map[string]bool{}
	for _, p := range r.files.paths() {
		if p == "" {
			continue
		}
		dir := filepath.Dir(p)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		if err := w.Add(dir); err != nil {
			// A missing directory also fails the initial load, which
			// says so more precisely.
			r.log.ErrorContext(ctx, "TLS directory not watched; relying on the periodic re-check",
				slog.String("dir", dir), slog.Any("error", err))
		}
	}
	return w
}

// run reloads after file-system events and on the poll timer until ctx ends.
func (r *Reloader) run(ctx context.Context, w *fsnotify.Watcher, poll time.Duration) {
	defer close(r.done)
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	if w != nil {
		defer func() { _ = w.Close() }()
		events, errs = w.Events, w.Errors
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	quiet := time.NewTimer(debounce)
	quiet.Stop()
	defer quiet.Stop()
	var (
		pending <-chan time.Time // quiet.C while a reload is due
		st      reloadState
	)
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			quiet.Reset(debounce)
			pending = quiet.C
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An overflow loses events: re-check.
			r.log.WarnContext(ctx, "TLS file watch", slog.Any("error", err))
			quiet.Reset(debounce)
			pending = quiet.C
		case <-pending:
			pending = nil
			if r.reload(ctx, &st) {
				quiet.Reset(debounce)
				pending = quiet.C
			}
		case <-ticker.C:
			if r.reload(ctx, &st) {
				quiet.Reset(debounce)
				pending = quiet.C
			}
		}
	}
}

// reloadState is what the watcher remembers between reloads.
type reloadState struct {
	failures int    // consecutive failed reloads
	lastErr  string // the last failure logged, not to repeat it
}

// reload re-reads the files and installs them if they changed and are
// usable. It reports whether to retry soon: a first failure is not logged
// but retried after the debounce delay, because a read that spans an update
// (the kubelet swaps ..data, then deletes the old directory) fails once
// without anything being wrong. A failure that persists is logged, once
// until it changes or a reload succeeds.
func (r *Reloader) reload(ctx context.Context, st *reloadState) (retry bool) {
	old := r.cur.Load()
	raw, err := read(r.files)
	if err == nil {
		if raw.sums == old.sums {
			*st = reloadState{}
			return false
		}
		var m *material
		if m, err = parse(r.files, raw); err == nil {
			r.cur.Store(m)
			*st = reloadState{}
			var changed []string
			for i := range numFiles {
				if m.sums[i] != old.sums[i] {
					changed = append(changed, fileName(i))
				}
			}
			r.log.InfoContext(ctx, "TLS material reloaded", m.attrs(r.files, changed)...)
			return false
		}
	}
	st.failures++
	if st.failures == 1 {
		return true
	}
	if err.Error() == st.lastErr {
		return false
	}
	st.lastErr = err.Error()
	attrs := []any{slog.Any("error", err)}
	if le := (*loadError)(nil); errors.As(err, &le) {
		attrs = append(attrs, slog.String("file", le.file))
	}
	r.log.ErrorContext(ctx, "TLS reload failed; keeping the previous material", attrs...)
	return false
}

// attrs describe m for a log record.
func (m *material) attrs(f Files, changed []string) []any {
	a := []any{slog.String("file", f.Cert)}
	if changed != nil {
		a = append(a, slog.Any("changed", changed))
	}
	if leaf := m.cert.Leaf; leaf != nil {
		a = append(a,
			slog.String("subject", leaf.Subject.String()),
			slog.String("serial", leaf.SerialNumber.Text(16)),
			slog.Time("not_after", leaf.NotAfter))
	}
	return a
}

// paths lists the files in the order of the file constants; "" for an unset one.
func (f Files) paths() [numFiles]string {
	return [numFiles]string{f.Cert, f.Key, f.ClientCA, f.PeerCA}
}

// rawFiles are the bytes of one read of the files and their SHA-256 sums.
type rawFiles struct {
	data [numFiles][]byte
	sums [numFiles][sha256.Size]byte
}

// read reads the set files, following symlinks.
func read(f Files) (rawFiles, error) {
	var raw rawFiles
	for i, p := range f.paths() {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return rawFiles{}, &loadError{file: p, what: fileName(i), err: err}
		}
		raw.data[i] = b
		raw.sums[i] = sha256.Sum256(b)
	}
	return raw, nil
}

// load reads and parses the files.
func load(f Files) (*material, error) {
	raw, err := read(f)
	if err != nil {
		return nil, err
	}
	return parse(f, raw)
}

// parse checks and assembles one read of the files.
func parse(f Files, raw rawFiles) (*material, error) {
	if _, err := parseCerts(raw.data[fileCert]); err != nil {
		return nil, &loadError{file: f.Cert, what: fileName(fileCert), err: err}
	}
	cert, err := tls.X509KeyPair(raw.data[fileCert], raw.data[fileKey])
	if err != nil {
		// The certificate parsed: the key is unusable or does not match.
		return nil, &loadError{file: f.Key, what: fileName(fileKey),
			err: fmt.Errorf("with certificate file %s: %w", f.Cert, err)}
	}
	m := &material{cert: &cert, sums: raw.sums}
	m.server = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
		Certificates: []tls.Certificate{cert},
	}
	if f.ClientCA != "" {
		pool, err := parsePool(raw.data[fileClientCA])
		if err != nil {
			return nil, &loadError{file: f.ClientCA, what: fileName(fileClientCA), err: err}
		}
		m.server.ClientAuth = tls.RequireAndVerifyClientCert
		m.server.ClientCAs = pool
	}
	if f.PeerCA != "" {
		if m.peerCAs, err = parsePool(raw.data[filePeerCA]); err != nil {
			return nil, &loadError{file: f.PeerCA, what: fileName(filePeerCA), err: err}
		}
	}
	return m, nil
}

// parsePool is a pool of the certificates of a PEM bundle.
func parsePool(data []byte) (*x509.CertPool, error) {
	certs, err := parseCerts(data)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// parseCerts parses the CERTIFICATE blocks of PEM data, of which there must
// be at least one. Unlike x509.CertPool.AppendCertsFromPEM and
// tls.X509KeyPair, it rejects a block that does not parse or is cut short,
// as in a half-written file. Text between blocks is ignored.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("malformed or truncated PEM block after %d certificates", len(certs))
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}
