package screening

import (
	"sync"
	"time"
)

// Limit bounds how many screenings one facility makes: a gate screens the
// people who come, and a facility that screens far more is probing the
// lists (every probe that hits tells the owning unit, and every one is
// audited, but the rate bounds what a probe can learn before anyone looks).
type Limit struct {
	// PerMinute is the sustained rate.
	PerMinute int
	// Burst is how many may come at once (a queue at the gate).
	Burst int
}

// DefaultLimit is a busy gate: two screenings a second sustained, a
// hundred and twenty at once.
var DefaultLimit = Limit{PerMinute: 120, Burst: 120}

// Limiter applies a Limit per facility, in one server process (a token
// bucket each; several processes each allow the limit).
type Limiter struct {
	limit Limit
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter applies l (zero fields take DefaultLimit's), by the wall clock.
func NewLimiter(l Limit) *Limiter {
	if l.PerMinute <= 0 {
		l.PerMinute = DefaultLimit.PerMinute
	}
	if l.Burst <= 0 {
		l.Burst = DefaultLimit.Burst
	}
	return &Limiter{limit: l, now: time.Now, buckets: map[string]*bucket{}}
}

// Limit is the limit applied.
func (l *Limiter) Limit() Limit { return l.limit }

// Allow takes one screening from facility's bucket; when it is empty it
// reports false and how long until the next.
func (l *Limiter) Allow(facility string) (bool, time.Duration) {
	now := l.now()
	rate := float64(l.limit.PerMinute) / float64(time.Minute)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[facility]
	if b == nil {
		b = &bucket{tokens: float64(l.limit.Burst), at: now}
		l.buckets[facility] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(float64(l.limit.Burst), b.tokens+float64(d)*rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / rate)
}
