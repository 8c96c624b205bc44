package authz

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiters are token buckets by key (a principal, a client address), made
// on first use and dropped once idle long enough to be full again.
type limiters struct {
	mu    sync.Mutex
	m     map[string]*bucket
	swept time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

const idleBucket = 10 * time.Minute

func newLimiters() *limiters { return &limiters{m: map[string]*bucket{}} }

func (l *limiters) bucket(key string, r float64, burst int, now time.Time) *bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.m {
			if now.Sub(b.last) > idleBucket {
				delete(l.m, k)
			}
		}
		l.swept = now
	}
	b := l.m[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(r), max(burst, 1))}
		l.m[key] = b
	} else if b.lim.Limit() != rate.Limit(r) {
		b.lim.SetLimitAt(now, rate.Limit(r))
		b.lim.SetBurstAt(now, max(burst, 1))
	}
	b.last = now
	return b
}

// take takes a token, or tells how long until one is there.
func (l *limiters) take(key string, r float64, burst int, now time.Time) (bool, time.Duration) {
	lim := l.bucket(key, r, burst, now).lim
	if lim.AllowN(now, 1) {
		return true, 0
	}
	return false, wait(lim.TokensAt(now), r)
}

// wait is how long until a bucket holding tokens has one, at r a second.
func wait(tokens, r float64) time.Duration {
	return time.Duration((1 - tokens) / r * float64(time.Second))
}

// peek tells whether a token is there, without taking it.
func (l *limiters) peek(key string, r float64, burst int, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	b := l.m[key]
	l.mu.Unlock()
	if b == nil {
		return true, 0
	}
	if tokens := b.lim.TokensAt(now); tokens < 1 {
		return false, wait(tokens, r)
	}
	return true, 0
}
