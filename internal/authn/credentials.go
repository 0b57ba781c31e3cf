package authn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/sinergi-id/sinergi/internal/pki"
)

// PeerInfo is what authentication knows of a client connection whose
// certificate passed the handshake (pki.ServerTLS): the identity read from
// the certificate once, so that calls on the connection parse nothing.
//
// The connection's AuthInfo stays gRPC's credentials.TLSInfo, which other
// code reads; PeerInfo is found by the leaf certificate of its TLS state
// (the one *x509.Certificate every call of the connection shares), from the
// handshake until the connection closes.
type PeerInfo struct {
	Identity *pki.Identity
	// sighted is when (unix seconds) a call on this connection last marked
	// the certificate as seen (Sightings).
	sighted atomic.Int64
}

// peers maps the leaf certificate of each open connection to its PeerInfo.
var peers sync.Map // *x509.Certificate -> *PeerInfo

// PeerIdentity returns the verified identity of the call's connection, or nil.
func PeerIdentity(ctx context.Context) *pki.Identity {
	if pi := peerInfo(ctx); pi != nil {
		return pi.Identity
	}
	return nil
}

func peerInfo(ctx context.Context) *PeerInfo {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return nil
	}
	pi, _ := peers.Load(ti.State.PeerCertificates[0])
	v, _ := pi.(*PeerInfo)
	return v
}

// HandshakeObserver is told of every failed server handshake.
type HandshakeObserver interface {
	Refused(addr net.Addr, err error)
}

// ServerCredentials are gRPC transport credentials over cfg (pki.ServerTLS)
// that keep each connection's identity for its calls (PeerIdentity) and
// tell obs of every failed handshake.
func ServerCredentials(cfg *tls.Config, trustDomain string, obs HandshakeObserver) (credentials.TransportCredentials, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return nil, err
	}
	return &serverCreds{TransportCredentials: credentials.NewTLS(cfg), td: td, obs: obs}, nil
}

type serverCreds struct {
	credentials.TransportCredentials
	td  spiffeid.TrustDomain
	obs HandshakeObserver
}

func (c *serverCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		if c.obs != nil {
			c.obs.Refused(raw.RemoteAddr(), err)
		}
		return nil, nil, err
	}
	ti, ok := info.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		conn.Close()
		return nil, nil, errors.New("handshake without a client certificate")
	}
	leaf := ti.State.PeerCertificates[0]
	// The handshake verified the certificate; this only reads its identity.
	id, err := pki.IdentityOf(leaf, c.td)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	peers.Store(leaf, &PeerInfo{Identity: id})
	return &peerConn{Conn: conn, leaf: leaf}, info, nil
}

func (c *serverCreds) Clone() credentials.TransportCredentials {
	return &serverCreds{TransportCredentials: c.TransportCredentials.Clone(), td: c.td, obs: c.obs}
}

// peerConn forgets its PeerInfo when it closes.
type peerConn struct {
	net.Conn
	leaf *x509.Certificate
	once sync.Once
}

func (c *peerConn) Close() error {
	c.once.Do(func() { peers.Delete(c.leaf) })
	return c.Conn.Close()
}
