package authn

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/pki"
)

// HandshakeMethod is the method of the audit records of refused handshakes.
const HandshakeMethod = "tls-handshake"

// Handshake failures that are not a certificate rule (pki.ClientRules).
const (
	// ReasonUnparseable: the client's certificate is not valid DER.
	ReasonUnparseable = "unparseable_certificate"
	// ReasonBadSignature: a certificate was sent without proof of its key.
	ReasonBadSignature = "bad_signature"
	// ReasonProtocol: any other TLS failure (version, ALPN, garbage, timeout).
	ReasonProtocol = "protocol"
	// ReasonAborted: the peer closed the connection during the handshake.
	// Counted but not audited: a port probe is not a refusal.
	ReasonAborted = "aborted"
)

// HandshakeReasons is every reason the handshake metric is labelled with.
func HandshakeReasons() []string {
	out := make([]string, 0, len(pki.ClientRules)+4)
	for _, r := range pki.ClientRules {
		out = append(out, string(r))
	}
	return append(out, ReasonUnparseable, ReasonBadSignature, ReasonProtocol, ReasonAborted)
}

// HandshakeRefusals counts every failed handshake by reason, logs it and
// records it in the audit trail with the peer address and, when a
// certificate was presented, its fingerprint, serial and subject. Refusals
// are aggregated per peer address and reason: the first is recorded at
// once, those that follow within Window are counted and recorded as one
// entry with the count when the window closes. A flood costs the trail one
// entry per address, reason and window.
type HandshakeRefusals struct {
	Recorder *audit.Recorder
	Log      *slog.Logger
	// Window is the aggregation window (default a minute).
	Window time.Duration
	// Total counts failures by reason (sinergi_tls_handshake_failures_total).
	Total *prometheus.CounterVec

	mu      sync.Mutex
	windows map[refusalKey]*refusalWindow
	wake    chan struct{}
	now     func() time.Time
}

// maxRefusalKeys bounds the addresses tracked at once; beyond it, refusals
// are aggregated under the address "other".
const maxRefusalKeys = 4096

type refusalKey struct{ addr, reason string }

type refusalWindow struct {
	start    time.Time
	first    bool // the first refusal is not yet recorded
	count    int  // refusals not yet recorded
	lastSeen time.Time
	cert     *x509.Certificate // the last presented certificate
}

// NewHandshakeRefusals makes the recorder of refused handshakes; its
// counter is registered with reg.
func NewHandshakeRefusals(rec *audit.Recorder, log *slog.Logger, reg prometheus.Registerer) *HandshakeRefusals {
	h := &HandshakeRefusals{Recorder: rec, Log: log, Window: time.Minute,
		Total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sinergi_tls_handshake_failures_total",
			Help: "TLS handshakes the server refused or that failed, by reason (a rule of the X.509-SVID profile, or a protocol failure)."},
			[]string{"reason"}),
		windows: map[refusalKey]*refusalWindow{}, wake: make(chan struct{}, 1), now: time.Now}
	for _, r := range HandshakeReasons() {
		h.Total.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(h.Total)
	}
	return h
}

// Classify names the reason of a failed handshake and the certificate the
// client presented, if any.
func Classify(err error) (string, *x509.Certificate) {
	var ref *pki.Refusal
	if errors.As(err, &ref) {
		return string(ref.Rule), ref.Cert
	}
	msg := err.Error()
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.EPIPE):
		return ReasonAborted, nil
	case strings.Contains(msg, "failed to parse client certificate"):
		return ReasonUnparseable, nil
	case strings.Contains(msg, "invalid signature by the client certificate"):
		return ReasonBadSignature, nil
	}
	return ReasonProtocol, nil
}

// Refused implements HandshakeObserver. It never blocks on the database.
func (h *HandshakeRefusals) Refused(addr net.Addr, err error) {
	reason, cert := Classify(err)
	h.Total.WithLabelValues(reason).Inc()
	if reason == ReasonAborted {
		return
	}
	host := addrHost(addr)
	now := h.now()
	h.mu.Lock()
	key := refusalKey{host, reason}
	w := h.windows[key]
	if w == nil && len(h.windows) >= maxRefusalKeys {
		key.addr = "other"
		w = h.windows[key]
	}
	if w == nil {
		w = &refusalWindow{start: now, first: true}
		h.windows[key] = w
	}
	w.count++
	w.lastSeen = now
	if cert != nil {
		w.cert = cert
	}
	first := w.first
	h.mu.Unlock()
	if first {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

func addrHost(a net.Addr) string {
	if a == nil {
		return "unknown"
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// Run records refusals as they come (the first of a window at once, the
// rest when it closes) until ctx ends.
func (h *HandshakeRefusals) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case <-t.C:
		}
		h.flush(ctx, false)
	}
}

// Flush records every refusal not yet recorded (at shutdown, before the
// audit writer closes).
func (h *HandshakeRefusals) Flush(ctx context.Context) { h.flush(ctx, true) }

type pendingRefusal struct {
	key   refusalKey
	count int
	since time.Time
	cert  *x509.Certificate
	first bool
}

func (h *HandshakeRefusals) flush(ctx context.Context, all bool) {
	now := h.now()
	var due []pendingRefusal
	h.mu.Lock()
	for k, w := range h.windows {
		switch {
		case w.first:
			due = append(due, pendingRefusal{key: k, count: w.count, since: w.start, cert: w.cert, first: true})
			w.first, w.count, w.start = false, 0, now
		case now.Sub(w.start) >= h.Window || all:
			if w.count == 0 {
				delete(h.windows, k)
				continue
			}
			due = append(due, pendingRefusal{key: k, count: w.count, since: w.start, cert: w.cert})
			w.count, w.start = 0, now
		}
	}
	h.mu.Unlock()
	for _, p := range due {
		if err := h.record(ctx, p, now); err != nil {
			// Put the count back: it is recorded with the next entry.
			h.mu.Lock()
			if w := h.windows[p.key]; w != nil {
				w.count += p.count
			} else {
				h.windows[p.key] = &refusalWindow{start: p.since, count: p.count, cert: p.cert}
			}
			h.mu.Unlock()
			h.Log.Warn("tls handshake refusal not yet in the audit trail; retrying", "reason", p.key.reason, "peer", p.key.addr, "error", err)
		}
	}
}

// maxSubject bounds the subject quoted in an audit record.
const maxSubject = 160

func (h *HandshakeRefusals) record(ctx context.Context, p pendingRefusal, now time.Time) error {
	e := audit.NewEntry(HandshakeMethod, "", now)
	var b strings.Builder
	fmt.Fprintf(&b, "tls handshake refused: %s; peer %s", p.key.reason, p.key.addr)
	if p.first && p.count <= 1 {
		b.WriteString("; count 1")
	} else {
		fmt.Fprintf(&b, "; count %d since %s", p.count, p.since.UTC().Format(time.RFC3339))
	}
	serial, fp := "", ""
	if c := p.cert; c != nil {
		sum := sha256.Sum256(c.Raw)
		fp = hex.EncodeToString(sum[:])
		serial = pki.SerialHex(c)
		subject := c.Subject.String()
		if len(subject) > maxSubject {
			subject = subject[:maxSubject] + "..."
		}
		fmt.Fprintf(&b, "; sha256 %s; subject %q", fp, subject)
		e.SetSerial(serial)
	}
	e.Refuse(b.String())
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := h.Recorder.RecordEvent(wctx, e, codes.Unauthenticated); err != nil {
		return err
	}
	// The log line carries no subject: it may hold a person's name.
	h.Log.Warn("tls handshake refused", "reason", p.key.reason, "peer", p.key.addr, "count", p.count, "serial", serial, "sha256", fp)
	return nil
}
