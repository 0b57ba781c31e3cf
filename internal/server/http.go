package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"connectrpc.com/vanguard"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/authn"
)

// The HTTP/JSON endpoint serves every method of the sinergi services (and
// the health check) to clients without a gRPC stack: the Connect protocol
// (a unary call is a POST of JSON, curl is enough), gRPC-Web, and gRPC
// itself, through connectrpc.com/vanguard in front of the gRPC server.
// Vanguard turns each call into a gRPC call of s.GRPC, so it meets the
// same interceptors (authentication, policy, audit, metrics, logging),
// the same handlers and the same stream caps as a native one.
//
// It has a listener of its own (Config.HTTPAddr, 127.0.0.1:7444 by
// default), under the same mutual TLS as the gRPC listener's (the same
// certificates, the same SVID checks, refusals counted and audited the
// same way): grpc-go's ServeHTTP path is slower than its own listener, and
// native gRPC keeps its own.

// httpMaxMessage bounds one message through the transcoder, as
// grpc.MaxRecvMsgSize bounds one the gRPC server receives.
const httpMaxMessage = 16 << 20

// newHTTPHandler is the vanguard transcoder over s.GRPC: JSON and binary
// protobuf from Connect and gRPC-Web clients, turned into gRPC calls in
// protobuf (the server's codec reads protobuf only: codec.go).
func (s *Server) newHTTPHandler() (http.Handler, error) {
	var services []*vanguard.Service
	for name := range s.GRPC.GetServiceInfo() {
		if strings.HasPrefix(name, "sinergi.") || name == healthpb.Health_ServiceDesc.ServiceName {
			services = append(services, vanguard.NewService(name, s.GRPC))
		}
	}
	t, err := vanguard.NewTranscoder(services, vanguard.WithDefaultServiceOptions(
		vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
		vanguard.WithTargetCodecs(vanguard.CodecProto),
		vanguard.WithMaxMessageBufferBytes(httpMaxMessage),
	), vanguard.WithCodec(func(res vanguard.TypeResolver) vanguard.Codec {
		return requestJSON{vanguard.NewJSONCodec(res)}
	}))
	if err != nil {
		return nil, err
	}
	return connectUnary(t), nil
}

// requestJSON is vanguard's JSON codec (proto3 JSON, every field written,
// unknown fields ignored as protobuf ignores them). JSON that does not fit
// the request message still goes on to the gRPC server, as an empty
// request marked with why (codec.go): the interceptors refuse it with
// INVALID_ARGUMENT and the audit trail records the refusal, as for a gRPC
// request that does not decode. The reason gives where the JSON broke
// (line and column), never what it held: the caller's values stay out of
// the trail and the logs.
type requestJSON struct{ *vanguard.JSONCodec }

// jsonWhere is where protojson says the JSON broke.
var jsonWhere = regexp.MustCompile(`\(line \d+:\d+\)`)

func (c requestJSON) Unmarshal(data []byte, msg proto.Message) error {
	err := c.JSONCodec.Unmarshal(data, msg)
	if err == nil {
		return nil
	}
	why := fmt.Sprintf("the request body is not the JSON of a %s", msg.ProtoReflect().Descriptor().FullName())
	if at := jsonWhere.FindString(err.Error()); at != "" {
		why += " " + at
	}
	proto.Reset(msg)
	msg.ProtoReflect().SetUnknown(markJSONRefusal(why))
	return nil
}

// connectUnary lets a plain POST of JSON (or protobuf), as curl sends it,
// be a Connect unary call: without the Connect-Protocol-Version header
// vanguard would take it for REST, which Sinergi does not map (its paths
// are the methods' full names, as in gRPC).
func connectUnary(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("Connect-Protocol-Version") == "" {
			switch ct := r.Header.Get("Content-Type"); {
			case ct == "application/json", strings.HasPrefix(ct, "application/json;"), ct == "application/proto":
				r.Header.Set("Connect-Protocol-Version", "1")
			}
		}
		h.ServeHTTP(w, r)
	})
}

// listenHTTP binds the HTTP/JSON listener.
func (s *Server) listenHTTP() error {
	if s.cfg.HTTPAddr == "" {
		return nil
	}
	raw, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen on %s: %w", s.cfg.HTTPAddr, err)
	}
	ln, err := authn.NewTLSListener(raw, s.tlsConfig, s.cfg.TrustDomain, s.Handshakes)
	if err != nil {
		raw.Close()
		return err
	}
	s.httpLn = ln
	return nil
}

// newHTTPServer serves h: no write timeout, since watch streams are long;
// the identity each connection was accepted with is dropped when it closes.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				authn.Forget(c)
			}
		},
	}
}

// HTTPAddr is the HTTP/JSON listener's address, or "" when it is off.
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// shutdownHTTP stops the HTTP/JSON listener and waits, until ctx ends, for
// the calls on it to finish; then closes what is left.
func (s *Server) shutdownHTTP(ctx context.Context) {
	if s.http == nil {
		return
	}
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
	}
}
