package server_test

import (
	"context"
	"crypto/x509"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// freshConns issues a new certificate for every institution the streams
// are opened as, and returns a connection per method and the certificates.
func freshConns(t *testing.T, env *servertest.Env, addr string, change func(*x509.Certificate)) (func(string) *grpc.ClientConn, []*x509.Certificate) {
	t.Helper()
	ca := env.CA(t)
	conns := map[string]*grpc.ClientConn{}
	var certs []*x509.Certificate
	for _, m := range servertest.StreamMethods() {
		code := servertest.Streams[m].As
		if conns[code] != nil {
			continue
		}
		tmpl := servertest.ClientTemplate(code)
		if change != nil {
			change(tmpl)
		}
		cfg, cert := env.Issue(t, ca, tmpl)
		conns[code] = servertest.Dial(t, addr, cfg)
		certs = append(certs, cert)
	}
	return func(m string) *grpc.ClientConn { return conns[servertest.Streams[m].As] }, certs
}

// TestEveryStreamIsRechecked walks every streaming method the server
// serves: each must declare its recheck in the policy table and have a way
// to open it in servertest.Streams, and each, open, must end when the
// caller's certificate is revoked. A streaming method added without its
// entries fails here (and is refused at run time).
func TestEveryStreamIsRechecked(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	ctx := context.Background()
	served := map[string]bool{}
	serverStreams := 0
	for svc, info := range env.Server.GRPC.GetServiceInfo() {
		for _, m := range info.Methods {
			if !m.IsServerStream && !m.IsClientStream {
				continue
			}
			full := "/" + svc + "/" + m.Name
			served[full] = true
			if m.IsServerStream {
				serverStreams++
			}
			rule, _ := authz.Lookup(full)
			if rule.Stream == authz.RecheckUnset {
				t.Errorf("%s is a stream without a recheck in the policy table", full)
			}
			if len(rule.Scopes) > 0 && m.IsServerStream && rule.Stream != authz.RecheckAgreements {
				t.Errorf("%s delivers data under agreements but its recheck ignores them", full)
			}
			if _, ok := servertest.Streams[full]; !ok {
				t.Errorf("%s has no case in servertest.Streams: nothing proves its recheck", full)
			}
		}
	}
	if serverStreams < 5 {
		t.Fatalf("walked %d server streams", serverStreams)
	}
	for m := range servertest.Streams {
		if !served[m] {
			t.Errorf("servertest.Streams has %s, which the server does not serve", m)
		}
	}

	conn, certs := freshConns(t, env, env.Addr(), nil)
	streams := servertest.OpenStreams(t, env.Server, conn)
	var revs []store.Revocation
	for _, c := range certs {
		revs = append(revs, store.Revocation{Serial: pki.SerialHex(c), Reason: "test"})
	}
	env.Revoke(t, revs...)
	servertest.EndedWith(t, streams, codes.Unauthenticated, "CERTIFICATE_REVOKED")

	// Each stream's audit record says how it ended (health is not audited).
	env.WaitIntegrated(t)
	for _, s := range streams {
		if strings.HasPrefix(s.Method, "/grpc.health.v1.Health/") {
			continue
		}
		var n int
		if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE method = $1 AND status_code = 'Unauthenticated'
			AND reason LIKE '%ended: CERTIFICATE_REVOKED'`, s.Method).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s: %d audit records of a stream ended by revocation, want 1", s.Method, n)
		}
	}
}

// TestStreamsEndOnExpiry: every stream ends when its certificate expires.
func TestStreamsEndOnExpiry(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	expiry := time.Now().Add(4 * time.Second).Truncate(time.Second)
	conn, _ := freshConns(t, env, env.Addr(), func(c *x509.Certificate) { c.NotAfter = expiry })
	streams := servertest.OpenStreams(t, env.Server, conn)
	servertest.EndedWith(t, streams, codes.Unauthenticated, "CERTIFICATE_EXPIRED")
}

// TestStreamsEndOnSuspension: every stream of an institution ends when it
// is suspended; the health stream, which serves no institution, does not.
func TestStreamsEndOnSuspension(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	ctx := context.Background()
	const health = "/grpc.health.v1.Health/Watch"
	conn, _ := freshConns(t, env, env.Addr(), nil)
	streams := servertest.OpenStreams(t, env.Server, conn)
	// Each side suspends its own: Mabes the Polres, the ministry the Lapas.
	for code, admin := range map[string]struct {
		by     string
		access *sinergiv1.AccessContext
	}{"polres-cilacap": {"mabes-polri", policeAdmin}, "lapas-permisan": {"kemenimipas", ministryAdmin}} {
		if _, err := env.As(t, admin.by).Institutions.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Access: admin.access, Code: code,
			Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED}); err != nil {
			t.Fatal(err)
		}
	}
	var institutional, public []*servertest.OpenStream
	for _, s := range streams {
		if s.Method == health {
			public = append(public, s)
		} else {
			institutional = append(institutional, s)
		}
	}
	servertest.EndedWith(t, institutional, codes.PermissionDenied, "INSTITUTION_SUSPENDED")
	servertest.StillOpen(t, public)
}

// TestStreamsEndWhenTheirAgreementEnds: a data stream ends when an
// agreement that granted its data is revoked or expires; streams that no
// agreement feeds go on.
func TestStreamsEndWhenTheirAgreementEnds(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	ctx := context.Background()
	ministry := env.As(t, "kemenimipas")
	conn := env.ConnAs(t, "polres-cilacap")
	open := func(methods ...string) map[string]*servertest.OpenStream {
		t.Helper()
		got := servertest.OpenStreams(t, env.Server, func(m string) *grpc.ClientConn {
			if slices.Contains(methods, m) {
				return conn
			}
			return nil
		})
		out := map[string]*servertest.OpenStream{}
		for _, s := range got {
			out[s.Method] = s
		}
		return out
	}
	custody, reports := sinergiv1.CustodyService_WatchCustodyEvents_FullMethodName, sinergiv1.ReportService_WatchReports_FullMethodName
	reflection := "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
	s := open(custody, reports, reflection)

	// Custody events flow under the data PKS, and so do firearms reports
	// (its firearms governance scope); the other reports under the MoU.
	revoke := func(id string) {
		t.Helper()
		if _, err := ministry.Agreements.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: ministryAdmin, Id: id}); err != nil {
			t.Fatal(err)
		}
	}
	revoke("pks-2025-kemenimipas-polri-data")
	servertest.EndedWith(t, []*servertest.OpenStream{s[custody], s[reports]}, codes.Aborted, "AGREEMENT_ENDED")
	servertest.StillOpen(t, []*servertest.OpenStream{s[reflection]})
	// Opened again, reports flow under the MoU alone, and end with it.
	again := open(reports)
	servertest.StillOpen(t, []*servertest.OpenStream{again[reports]})
	revoke("mou-2025-kemenimipas-polri")
	servertest.EndedWith(t, []*servertest.OpenStream{again[reports]}, codes.Aborted, "AGREEMENT_ENDED")
	servertest.StillOpen(t, []*servertest.OpenStream{s[reflection]})

	// An agreement that expires ends the streams it fed, by the clock alone.
	expires := time.Now().Add(4 * time.Second)
	if _, err := ministry.Agreements.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: ministryAdmin, Agreement: &sinergiv1.Agreement{
		Id: "pks-short-permisan-cilacap", Number: "PKS/SHORT/1", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
		Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "lapas-permisan"}},
			{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "polres-cilacap"}}},
		Scopes:        []sinergiv1.Scope{sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, sinergiv1.Scope_SCOPE_NARCOTICS_INTELLIGENCE},
		EffectiveTime: timestamppb.New(time.Now().Add(-time.Hour)), ExpireTime: timestamppb.New(expires),
	}}); err != nil {
		t.Fatal(err)
	}
	// Registered by the ministry, it grants once the police side confirms it.
	if _, err := env.As(t, "mabes-polri").Agreements.ConfirmAgreement(ctx, &sinergiv1.ConfirmAgreementRequest{Access: policeAdmin, Id: "pks-short-permisan-cilacap"}); err != nil {
		t.Fatal(err)
	}
	s2 := open(custody, reports)
	ended := []*servertest.OpenStream{s2[custody], s2[reports]}
	servertest.EndedWith(t, ended, codes.Aborted, "AGREEMENT_ENDED")
	servertest.StillOpen(t, []*servertest.OpenStream{s[reflection]})
	if time.Now().Before(expires) {
		t.Error("streams ended before the agreement expired")
	}
}

// TestStreamWithoutRecheckRefused: a streaming method the policy table
// gives no recheck is refused, not served unwatched.
func TestStreamWithoutRecheckRefused(t *testing.T) {
	const m = sinergiv1.CustodyService_WatchCustodyEvents_FullMethodName
	rule := authz.Policy[m]
	t.Cleanup(func() { authz.Policy[m] = rule })
	unwatched := rule
	unwatched.Stream = authz.RecheckUnset
	authz.Policy[m] = unwatched
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	_, err := servertest.Streams[m].Open(context.Background(), env.ConnAs(t, servertest.Streams[m].As))
	if codeOf(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "no stream recheck") {
		t.Fatalf("got %v, want PermissionDenied: no recheck", err)
	}
}

// TestStreamsEndWhenTheDirectoryListenerStalls: the notification of a
// revocation is lost with a listening connection that stopped answering
// (its backend process stopped); the listener's heartbeat finds it dead,
// replaces it and reloads, so open streams still end.
func TestStreamsEndWhenTheDirectoryListenerStalls(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	ctx := context.Background()
	var pid int
	waitFor(t, func() bool {
		err := env.Owner.Pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
			directory.ListenerName).Scan(&pid)
		return err == nil
	})
	conn, certs := freshConns(t, env, env.Addr(), nil)
	streams := servertest.OpenStreams(t, env.Server, conn)
	backend, err := os.FindProcess(pid)
	if err == nil {
		err = backend.Signal(syscall.SIGSTOP)
	}
	if err != nil {
		t.Skipf("cannot stop the listener's database backend %d (%v): the database is not on this machine, or not ours to signal", pid, err)
	}
	t.Cleanup(func() { _ = backend.Signal(syscall.SIGCONT) })
	var revs []store.Revocation
	for _, c := range certs {
		revs = append(revs, store.Revocation{Serial: pki.SerialHex(c)})
	}
	env.Revoke(t, revs...)
	servertest.EndedWith(t, streams, codes.Unauthenticated, "CERTIFICATE_REVOKED")
}
