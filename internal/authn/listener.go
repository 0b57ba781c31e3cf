package authn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/sinergi-id/sinergi/internal/pki"
)

// HandshakeTimeout bounds one TLS handshake on a TLSListener.
const HandshakeTimeout = 10 * time.Second

// TLSListener is the mutual-TLS listener of the HTTP/JSON endpoint: the
// same handshake as the gRPC listener's (pki.ServerTLS's configuration,
// refusals told to the same observer), offering HTTP/2 and HTTP/1.1. Each
// connection's handshake runs on a goroutine of its own, so a slow client
// holds up no other; Accept returns only connections whose certificate
// passed, as *tls.Conn (net/http needs one to speak HTTP/2), with the
// identity kept for their calls (PeerIdentity) until Forget.
type TLSListener struct {
	net.Listener
	cfg   *tls.Config
	td    spiffeid.TrustDomain
	obs   HandshakeObserver
	ready chan *tls.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

// NewTLSListener serves cfg (pki.ServerTLS) on ln for HTTP.
func NewTLSListener(ln net.Listener, cfg *tls.Config, trustDomain string, obs HandshakeObserver) (*TLSListener, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return nil, err
	}
	l := &TLSListener{Listener: ln, cfg: httpProtocols(cfg), td: td, obs: obs,
		ready: make(chan *tls.Conn), errs: make(chan error), done: make(chan struct{})}
	go l.accept()
	return l, nil
}

// httpProtocols is cfg offering HTTP/2 and HTTP/1.1 by ALPN instead of
// gRPC's HTTP/2 only, for each client as pki.ServerTLS decides it.
func httpProtocols(cfg *tls.Config) *tls.Config {
	out := cfg.Clone()
	out.NextProtos = []string{"h2", "http/1.1"}
	if get := cfg.GetConfigForClient; get != nil {
		out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := get(hello)
			if err != nil || c == nil {
				return c, err
			}
			c = c.Clone()
			c.NextProtos = []string{"h2", "http/1.1"}
			return c, nil
		}
	}
	return out
}

func (l *TLSListener) accept() {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go l.handshake(raw)
	}
}

func (l *TLSListener) handshake(raw net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
	defer cancel()
	conn := tls.Server(raw, l.cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		if l.obs != nil {
			l.obs.Refused(raw.RemoteAddr(), err)
		}
		raw.Close()
		return
	}
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		conn.Close()
		return
	}
	// The handshake verified the certificate; this only reads its identity.
	id, err := pki.IdentityOf(certs[0], l.td)
	if err != nil {
		conn.Close()
		return
	}
	peers.Store(certs[0], &PeerInfo{Identity: id})
	select {
	case l.ready <- conn:
	case <-l.done:
		Forget(conn)
		conn.Close()
	}
}

// Accept returns the next connection whose handshake passed.
func (l *TLSListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections already accepted stay open.
func (l *TLSListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Forget drops the identity kept for conn, a connection a TLSListener
// accepted, once it is closed (http.Server.ConnState's StateClosed).
func Forget(conn net.Conn) {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return
	}
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		peers.Delete(certs[0])
	}
}
