package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	accessv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/access/v1"
	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
)

// pki is a test CA that signs server and client certificates into dir.
type pki struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	file string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{t: t, dir: t.TempDir(), cert: cert, key: key, pool: x509.NewCertPool()}
	p.pool.AddCert(cert)
	p.file = filepath.Join(p.dir, "ca.crt")
	p.write(p.file, "CERTIFICATE", der)
	return p
}

func (p *pki) write(path, kind string, der []byte) {
	p.t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// issue makes a certificate for cn (a server's, for 127.0.0.1 and
// localhost, when server), and returns its files.
func (p *pki) issue(cn string, server bool) (certFile, keyFile string, pair tls.Certificate) {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	if server {
		tmpl.IPAddresses, tmpl.DNSNames = []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(p.dir, cn+".crt"), filepath.Join(p.dir, cn+".key")
	p.write(certFile, "CERTIFICATE", der)
	p.write(keyFile, "EC PRIVATE KEY", kder)
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		p.t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// dialTLS connects over TLS, with a client certificate if given, and an
// API key if given.
func dialTLS(t *testing.T, addr string, roots *x509.CertPool, cert *tls.Certificate, key string) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(keyCredentials{key, true}))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func keysCommand(t *testing.T, db string, args ...string) string {
	t.Helper()
	var out, errOut strings.Builder
	if err := run(context.Background(), append([]string{"keys"}, append(args, "--db", db)...), &out, &errOut); err != nil {
		t.Fatalf("fidelis keys %v: %v\n%s", args, err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// With a client CA, every client presents a certificate it signed: its
// common name names the principal (an API key, when sent, names it
// instead); a certificate of no principal is UNAUTHENTICATED; no
// certificate, one of another CA, or plaintext fails the handshake.
func TestServeMutualTLS(t *testing.T) {
	ca, other := newPKI(t, "fidelis-test-ca"), newPKI(t, "another-ca")
	certFile, keyFile, _ := ca.issue("localhost", true)
	_, _, posCert := ca.issue("pos-paris", false)
	_, _, nobody := ca.issue("nobody", false)
	_, _, forged := other.issue("pos-paris", false)
	db := "sqlite:" + filepath.Join(t.TempDir(), "f.db")
	keysCommand(t, db, "create", "--principal", "pos-paris", "--roles", "pos", "--programmes", "default")
	s := serveForTest(t, "--db", db, "--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", ca.file)
	admin := readKey(t, strings.TrimPrefix(db, "sqlite:")+".admin-key")
	get := &ledgerv1.GetProgrammeRequest{ProgrammeId: "default"}

	if _, err := ledgerv1.NewLedgerServiceClient(dialTLS(t, s.grpc, ca.pool, &posCert, "")).GetProgramme(context.Background(), get); err != nil {
		t.Fatalf("the certificate of pos-paris: %v", err)
	}
	// pos-paris may not administer keys; with the admin's key, over its
	// certificate, the key decides.
	_, err := accessv1.NewAccessServiceClient(dialTLS(t, s.grpc, ca.pool, &posCert, "")).ListPrincipals(context.Background(), &accessv1.ListPrincipalsRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("pos-paris listing principals: %v, want PermissionDenied", err)
	}
	if _, err := accessv1.NewAccessServiceClient(dialTLS(t, s.grpc, ca.pool, &posCert, admin)).ListPrincipals(context.Background(),
		&accessv1.ListPrincipalsRequest{}); err != nil {
		t.Fatalf("the admin's key over pos-paris's certificate: %v", err)
	}
	if _, err := ledgerv1.NewLedgerServiceClient(dialTLS(t, s.grpc, ca.pool, &nobody, "")).GetProgramme(context.Background(), get); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a certificate of no principal: %v, want Unauthenticated", err)
	}
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "another CA's": &forged} {
		if _, err := ledgerv1.NewLedgerServiceClient(dialTLS(t, s.grpc, ca.pool, cert, admin)).GetProgramme(context.Background(), get); status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v, want the handshake to fail (Unavailable)", name, err)
		}
	}
	if _, err := ledgerv1.NewLedgerServiceClient(s.conn).GetProgramme(bearer(admin), get); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext to a TLS server: %v, want Unavailable", err)
	}
}

// Services apart: the rewards service calls the ledger elsewhere over TLS
// (verified with --peer-ca, presenting its certificate), as the principal
// of its service key, passing on who it acts for.
func TestServicesApartOverTLS(t *testing.T) {
	ca := newPKI(t, "fidelis-test-ca")
	ledgerCert, ledgerKey, _ := ca.issue("localhost", true)
	rewardsCert, rewardsKey, _ := ca.issue("rewards", true)
	db := "sqlite:" + filepath.Join(t.TempDir(), "f.db")
	serviceKeyFile := filepath.Join(t.TempDir(), "service-key")
	if err := os.WriteFile(serviceKeyFile, []byte(keysCommand(t, db, "create", "--principal", "svc-rewards", "--roles", "service")), 0o600); err != nil {
		t.Fatal(err)
	}
	ops := keysCommand(t, db, "create", "--principal", "ops", "--roles", "operator,pos", "--programmes", "default")
	ledger := serveForTest(t, "--db", db, "--services", "ledger", "--tls-cert", ledgerCert, "--tls-key", ledgerKey, "--client-ca", ca.file)

	var out strings.Builder
	err := run(context.Background(), []string{"serve", "--db", db, "--services", "rewards", "--ledger-addr", ledger.grpc, "--listen", "127.0.0.1:0",
		"--http-listen", "", "--ops-listen", ""}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "--service-key-file") {
		t.Fatalf("rewards without a service key: %v", err)
	}
	rewards := serveForTest(t, "--db", db, "--services", "rewards", "--ledger-addr", ledger.grpc, "--service-key-file", serviceKeyFile,
		"--tls-cert", rewardsCert, "--tls-key", rewardsKey, "--peer-ca", ca.file)

	c := context.Background()
	l := ledgerv1.NewLedgerServiceClient(dialTLS(t, ledger.grpc, ca.pool, nil, ops))
	enrol := &ledgerv1.EnrolMemberRequest{IdempotencyKey: "e", ProgrammeId: "default", ExternalRef: "CARD-1"}
	if _, err := l.EnrolMember(c, enrol); status.Code(err) != codes.Unavailable {
		t.Fatalf("the ledger without a client certificate: %v", err)
	}
	_, _, opsCert := ca.issue("ops", false)
	l = ledgerv1.NewLedgerServiceClient(dialTLS(t, ledger.grpc, ca.pool, &opsCert, ops))
	m, err := l.EnrolMember(c, enrol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Earn(c, &ledgerv1.EarnRequest{IdempotencyKey: "earn", MemberId: m.GetMember().GetMemberId(), Channel: typev1.Channel_CHANNEL_POS,
		Basis: &ledgerv1.EarnRequest_Points{Points: 500}}); err != nil {
		t.Fatal(err)
	}
	r := rewardsv1.NewRewardsServiceClient(dialTLS(t, rewards.grpc, ca.pool, nil, ops))
	reward, err := r.CreateReward(c, &rewardsv1.CreateRewardRequest{IdempotencyKey: "r", ProgrammeId: "default", Terms: &rewardsv1.RewardTerms{
		Name: "Mug", PointsCost: 100, Benefit: &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_FreeProductSku{FreeProductSku: "MUG"}},
		VoucherValidity: durationpb.New(time.Hour), StockTotal: 3}})
	if err != nil {
		t.Fatalf("create reward (reads the ledger's programme over TLS): %v", err)
	}
	v, err := r.Redeem(c, &rewardsv1.RedeemRequest{IdempotencyKey: "redeem", MemberId: m.GetMember().GetMemberId(),
		RewardId: reward.GetReward().GetRewardId(), Channel: typev1.Channel_CHANNEL_POS})
	if err != nil || v.GetVoucher().GetCode() == "" {
		t.Fatalf("redeem (holds and captures on the ledger over TLS): %v %v", v, err)
	}
	b, err := l.GetBalance(c, &ledgerv1.GetBalanceRequest{MemberId: m.GetMember().GetMemberId()})
	if err != nil || b.GetBalance().GetAvailable() != 400 {
		t.Fatalf("balance after the redemption: %v %v", b, err)
	}
}
