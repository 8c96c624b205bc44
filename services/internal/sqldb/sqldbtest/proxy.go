package sqldbtest

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy between Fidelis and its database that a test cuts
// (every connection closed, new ones refused) and restores, to play a
// database outage or a network partition, or slows (see SetDelay), to play
// a slow database or network.
type Proxy struct {
	target string
	lis    net.Listener
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
	// delay is added before each chunk forwarded, either way (nanoseconds).
	delay atomic.Int64
}

// NewProxy proxies to the host of dsn (a postgres:// or cockroachdb://
// URL) and returns the proxy and dsn rewritten to go through it. It stops
// at the end of the test.
func NewProxy(t testing.TB, dsn string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: u.Host, lis: lis, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { lis.Close(); p.Cut(true) })
	go p.serve()
	u.Host = lis.Addr().String()
	return p, u.String()
}

func (p *Proxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe forwards src to dst, each chunk read after the delay of the moment,
// until either side closes; then it closes both.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.delay.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// SetDelay makes every chunk of bytes forwarded, in either direction, wait
// d first (0: none), on the connections open and those to come: a round
// trip to the database then takes at least 2d more. Chunks already waiting
// keep the delay they started with.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Cut cuts the link, closing every connection through it, or restores it.
func (p *Proxy) Cut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}
