package authn

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/store"
)

// Sightings keeps the table of client certificates seen in use
// (client_certificates): a certificate is written when it first
// authenticates a call, and its last_seen moved on at most once per Every
// per process. Nothing of it runs on a call's path but one comparison of a
// timestamp of the call's connection; the writes are a background loop's.
type Sightings struct {
	Store *store.Store
	Log   *slog.Logger
	// Every is how often one certificate is written at most (default an hour).
	Every time.Duration

	queue chan *pki.Identity
	mu    sync.Mutex
	last  map[[32]byte]time.Time

	expiry, lastSeen *prometheus.Desc
	cacheMu          sync.Mutex
	cached           []store.SeenCertificate
	cachedAt         time.Time
}

// NewSightings makes the recorder of certificates seen in use.
func NewSightings(st *store.Store, log *slog.Logger) *Sightings {
	return &Sightings{Store: st, Log: log, Every: time.Hour, queue: make(chan *pki.Identity, 1024), last: map[[32]byte]time.Time{},
		expiry: prometheus.NewDesc("sinergi_client_certificate_expiry_timestamp_seconds",
			"When each client certificate seen in use expires (Unix time), by institution and serial; revoked ones and those expired over a week ago are left out.",
			[]string{"institution", "serial"}, nil),
		lastSeen: prometheus.NewDesc("sinergi_client_certificate_last_seen_timestamp_seconds",
			"When each client certificate was last seen in use (Unix time, to within an hour).",
			[]string{"institution", "serial"}, nil)}
}

// saw notes that pi's certificate authenticated a call.
func (s *Sightings) saw(pi *PeerInfo, now time.Time) {
	if s == nil {
		return
	}
	last := pi.sighted.Load()
	if now.Unix()-last < int64(s.Every/time.Second) || !pi.sighted.CompareAndSwap(last, now.Unix()) {
		return
	}
	select {
	case s.queue <- pi.Identity:
	default:
		pi.sighted.Store(last) // try again on a later call
	}
}

// Run writes sightings until ctx ends.
func (s *Sightings) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var pending []store.SeenCertificate
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.queue:
			if c, ok := s.due(id, time.Now()); ok {
				pending = append(pending, c)
			}
			if len(pending) < 256 {
				continue
			}
		case <-t.C:
			s.prune(time.Now())
		}
		if len(pending) == 0 {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.Store.RecordSeenCertificates(wctx, pending)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Warn("client certificates seen: not recorded, retrying", "certificates", len(pending), "error", err)
			}
			if len(pending) > 4096 {
				pending = pending[len(pending)-4096:]
			}
			continue
		}
		pending = pending[:0]
	}
}

// due is the row to write for id, unless another connection's sighting of
// the same certificate was written within Every.
func (s *Sightings) due(id *pki.Identity, now time.Time) (store.SeenCertificate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.last[id.Fingerprint]; ok && now.Sub(t) < s.Every {
		return store.SeenCertificate{}, false
	}
	s.last[id.Fingerprint] = now
	return store.SeenCertificate{Fingerprint: id.Fingerprint[:], Serial: id.Serial, InstitutionCode: id.Code, SPIFFEID: id.ID.String(),
		Subject: id.Subject, Issuer: id.Issuer, NotBefore: id.NotBefore, NotAfter: id.NotAfter, LastSeen: now}, true
}

func (s *Sightings) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for fp, t := range s.last {
		if now.Sub(t) >= s.Every {
			delete(s.last, fp)
		}
	}
}

// Describe implements prometheus.Collector.
func (s *Sightings) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.expiry
	ch <- s.lastSeen
}

// Collect implements prometheus.Collector: the certificates from the table
// (every server process reports the same), read at most every 30 seconds.
func (s *Sightings) Collect(ch chan<- prometheus.Metric) {
	s.cacheMu.Lock()
	if time.Since(s.cachedAt) >= 30*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		certs, err := s.Store.ListSeenCertificates(ctx, time.Now().AddDate(0, 0, -7))
		cancel()
		if err == nil {
			s.cached, s.cachedAt = certs, time.Now()
		}
	}
	certs := s.cached
	s.cacheMu.Unlock()
	// One series per institution and serial (two certificates may share a
	// serial: a collector must not report a series twice).
	seen := map[[2]string]bool{}
	for _, c := range certs {
		k := [2]string{c.InstitutionCode, c.Serial}
		if c.Revoked || seen[k] {
			continue
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(s.expiry, prometheus.GaugeValue, float64(c.NotAfter.Unix()), c.InstitutionCode, c.Serial)
		ch <- prometheus.MustNewConstMetric(s.lastSeen, prometheus.GaugeValue, float64(c.LastSeen.Unix()), c.InstitutionCode, c.Serial)
	}
}
