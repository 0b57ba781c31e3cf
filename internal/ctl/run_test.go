package ctl

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/sinergi-id/sinergi/internal/pki"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

const callerCode = "polres-metro"

// startServer serves on a real mutual-TLS listener on 127.0.0.1 with a fresh
// development PKI, and returns the environment that points sinergictl at it
// as callerCode.
func startServer(t *testing.T, register func(*grpc.Server), opts ...grpc.ServerOption) map[string]string {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.DevPKI(dir, pki.DefaultTrustDomain, []string{callerCode}); err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ServerTLS(pki.Files{Cert: pki.ServerCertPath(dir), Key: pki.ServerKeyPath(dir), CA: pki.CACertPath(dir)},
		pki.ClientPolicy{TrustDomain: pki.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(append(opts, grpc.Creds(credentials.NewTLS(cfg)))...)
	if register != nil {
		register(srv)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return map[string]string{"SINERGI_ADDR": lis.Addr().String(), "SINERGI_PKI_DIR": dir, "SINERGI_AS": callerCode}
}

func lookupEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// caller is the institution whose certificate the call came with.
func caller(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return ""
	}
	// The handshake verified the certificate (pki.ServerTLS).
	id, err := pki.IdentityOf(info.State.PeerCertificates[0], spiffeid.RequireTrustDomainFromString(pki.DefaultTrustDomain))
	if err != nil {
		return ""
	}
	return id.Code
}

type fakeInstitutions struct {
	sinergiv1.UnimplementedInstitutionServiceServer
	mu   sync.Mutex
	seen []string // caller and request id of each call
}

func (f *fakeInstitutions) note(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, caller(ctx)+" "+strings.Join(md.Get("x-request-id"), ","))
}

func (f *fakeInstitutions) ListInstitutions(ctx context.Context, req *sinergiv1.ListInstitutionsRequest) (*sinergiv1.ListInstitutionsResponse, error) {
	f.note(ctx)
	want := &sinergiv1.ListInstitutionsRequest{Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, RegionPrefix: "31"}
	if !proto.Equal(req, want) {
		return nil, status.Errorf(codes.Unimplemented, "fake answers only %v, got %v", want, req)
	}
	return twoInstitutions(), nil
}

func (f *fakeInstitutions) GetInstitution(ctx context.Context, req *sinergiv1.GetInstitutionRequest) (*sinergiv1.GetInstitutionResponse, error) {
	f.note(ctx)
	st, _ := status.New(codes.InvalidArgument, "invalid request: code: must be lower-case").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "code", Description: "must be lower-case letters, digits and dashes"}},
	})
	return nil, st.Err()
}

// Run, as main calls it, against a live server: the request is built from
// flags, the certificate --as names is presented, the request id travels,
// and the answer or the error is printed.
func TestRunUnary(t *testing.T) {
	fake := &fakeInstitutions{}
	env := startServer(t, func(s *grpc.Server) { sinergiv1.RegisterInstitutionServiceServer(s, fake) })

	var table strings.Builder
	if err := (&view{zone: wib}).writeTable(&table, twoInstitutions().ProtoReflect()); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name       string
		args       []string
		wantExit   int
		wantStdout string
		wantStderr string
		wantSeen   string
	}{
		{
			name:       "table",
			args:       []string{"--request-id", "req-1", "institution", "list-institutions", "--kind", "lapas", "--region-prefix", "31"},
			wantStdout: table.String(),
			wantSeen:   callerCode + " req-1",
		},
		{
			name:       "error with field violations",
			args:       []string{"institution", "get-institution", "--code", "Lapas Cipinang"},
			wantExit:   exitFailure,
			wantStderr: "error: INVALID_ARGUMENT: invalid request: code: must be lower-case\n  code: must be lower-case letters, digits and dashes\n",
			wantSeen:   callerCode + " ",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.seen = nil
			var stdout, stderr strings.Builder
			got := Run(t.Context(), tc.args, lookupEnv(env), strings.NewReader(""), &stdout, &stderr)
			if got != tc.wantExit {
				t.Errorf("exit %d, want %d; stderr:\n%s", got, tc.wantExit, stderr.String())
			}
			if diff := cmp.Diff(tc.wantStdout, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStderr, stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{tc.wantSeen}, fake.seen); diff != "" {
				t.Errorf("server saw (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		var stdout, stderr strings.Builder
		args := []string{"institution", "list-institutions", "-d", `{"kind": "INSTITUTION_KIND_LAPAS"}`, "--region-prefix", "31", "-o", "json"}
		if got := Run(t.Context(), args, lookupEnv(env), nil, &stdout, &stderr); got != exitOK {
			t.Fatalf("exit %d: %s", got, stderr.String())
		}
		got := &sinergiv1.ListInstitutionsResponse{}
		if err := protojson.Unmarshal([]byte(stdout.String()), got); err != nil {
			t.Fatalf("%v:\n%s", err, stdout.String())
		}
		if diff := cmp.Diff(twoInstitutions(), got, protocmp.Transform()); diff != "" {
			t.Errorf("response (-want +got):\n%s", diff)
		}
	})

	t.Run("explicit certificate files", func(t *testing.T) {
		dir := env["SINERGI_PKI_DIR"]
		var stdout, stderr strings.Builder
		args := []string{
			"--cert", pki.ClientCertPath(dir, callerCode), "--key", pki.ClientKeyPath(dir, callerCode), "--ca", pki.CACertPath(dir),
			"--addr", env["SINERGI_ADDR"], "institution", "list-institutions", "--kind", "lapas", "--region-prefix", "31",
		}
		if got := Run(t.Context(), args, noEnv, nil, &stdout, &stderr); got != exitOK {
			t.Fatalf("exit %d: %s", got, stderr.String())
		}
	})
}

func TestRunRefusesBeforeCalling(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		wantExit int
		want     []string // in stderr
	}{
		{"no certificate", nil, []string{"institution", "list-institutions"}, exitUsage,
			[]string{"no client certificate", "--as", "--cert and --key"}},
		{"no certificate for that institution", map[string]string{"SINERGI_PKI_DIR": dir}, []string{"--as", "lapas-x", "institution", "list-institutions"}, exitFailure,
			[]string{`no certificate for institution "lapas-x"`, filepath.Join(dir, "lapas-x.crt")}},
		{"cert without key", nil, []string{"--cert", "a.crt", "institution", "list-institutions"}, exitUsage,
			[]string{"--cert and --key go together"}},
		{"unknown service", nil, []string{"lapas", "list"}, exitUsage, []string{`unknown service "lapas"`, strings.Join(globalCatalog(t).serviceNames(), ", ")}},
		{"missing method", nil, []string{"institution"}, exitUsage, []string{"missing method", "list-institutions"}},
		{"bad flag value", nil, []string{"institution", "list-institutions", "--kind", "prison"}, exitUsage, []string{"--kind", "want one of"}},
		{"bad output", nil, []string{"-o", "yaml", "institution", "list-institutions"}, exitUsage, []string{`-o "yaml"`}},
		{"bad environment", map[string]string{"SINERGI_TIMEOUT": "soon"}, []string{"help"}, exitUsage, []string{"SINERGI_TIMEOUT"}},
		{"unknown global flag", nil, []string{"--adr", "x", "help"}, exitUsage, []string{"not defined: --adr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			got := Run(t.Context(), tc.args, lookupEnv(tc.env), nil, &stdout, &stderr)
			if got != tc.wantExit {
				t.Errorf("exit %d, want %d", got, tc.wantExit)
			}
			if !strings.HasPrefix(stderr.String(), "error: ") {
				t.Errorf("stderr does not start with error: %q", stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

// Help lists every service and method, with no arguments or "help".
func TestRunHelp(t *testing.T) {
	cat := globalCatalog(t)
	for _, args := range [][]string{nil, {"help"}, {"-h"}} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			var stdout, stderr strings.Builder
			if got := Run(t.Context(), args, noEnv, nil, &stdout, &stderr); got != exitOK {
				t.Fatalf("exit %d: %s", got, stderr.String())
			}
			lines := strings.Split(stdout.String(), "\n")
			for _, s := range cat.services {
				if !contains(lines, "  "+s.name) {
					t.Errorf("help lacks service %s", s.name)
				}
				for _, m := range s.methods {
					if !contains(lines, "    "+m.name) {
						t.Errorf("help lacks method %s %s", s.name, m.name)
					}
				}
			}
			if !strings.Contains(stdout.String(), "sinergictl [global flags] <service> <method> [request flags]") {
				t.Errorf("help lacks the usage line:\n%s", stdout.String())
			}
		})
	}
	t.Run("method --help", func(t *testing.T) {
		var stdout, stderr strings.Builder
		if got := Run(t.Context(), []string{"institution", "list-institutions", "--help"}, noEnv, nil, &stdout, &stderr); got != exitOK {
			t.Fatalf("exit %d: %s", got, stderr.String())
		}
		if !strings.Contains(stdout.String(), "--kind INSTITUTION_KIND") {
			t.Errorf("method help lacks --kind:\n%s", stdout.String())
		}
	})
}

func contains(lines []string, prefix string) bool {
	for _, l := range lines {
		if l == prefix || strings.HasPrefix(l, prefix+" ") {
			return true
		}
	}
	return false
}

// testServer answers the test package's methods with dynamic messages.
func testServer(t *testing.T, cat *catalog) grpc.StreamHandler {
	svc := cat.service("test")
	msgType := func(method, which string) protoreflect.MessageType {
		m := svc.method(method)
		if which == "in" {
			return m.request
		}
		return m.response
	}
	item := func(code string, n int32) proto.Message {
		it := dynamicpb.NewMessage(msgType("watch", "out").Descriptor())
		it.Set(it.Descriptor().Fields().ByName("code"), protoreflect.ValueOfString(code))
		it.Set(it.Descriptor().Fields().ByName("n"), protoreflect.ValueOfInt32(n))
		return it
	}
	get := func(m proto.Message, field string) protoreflect.Value {
		return m.ProtoReflect().Get(m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(field)))
	}
	return func(_ any, stream grpc.ServerStream) error {
		name, _ := grpc.MethodFromServerStream(stream)
		switch name {
		case "/ctltest.v1.TestService/Find":
			req := msgType("find", "in").New().Interface()
			if err := stream.RecvMsg(req); err != nil {
				return err
			}
			if get(req, "code").String() == "slow" {
				<-stream.Context().Done()
				return stream.Context().Err()
			}
			return stream.SendMsg(msgType("find", "out").New().Interface())
		case "/ctltest.v1.TestService/Watch":
			req := msgType("watch", "in").New().Interface()
			if err := stream.RecvMsg(req); err != nil {
				return err
			}
			code := get(req, "code").String()
			for i := int32(1); i <= 3; i++ {
				if err := stream.SendMsg(item(fmt.Sprintf("%s-%d", code, i), i)); err != nil {
					return err
				}
				if code == "fail" && i == 2 {
					return status.Error(codes.Unavailable, "feed lost")
				}
				if code == "forever" {
					<-stream.Context().Done()
					return nil
				}
			}
			return nil
		case "/ctltest.v1.TestService/Upload":
			sum := msgType("upload", "out").New()
			codesField := sum.Descriptor().Fields().ByName("codes")
			var n int32
			for {
				req := msgType("upload", "in").New().Interface()
				if err := stream.RecvMsg(req); err == io.EOF {
					break
				} else if err != nil {
					return err
				}
				n++
				sum.Mutable(codesField).List().Append(get(req, "code"))
			}
			sum.Set(sum.Descriptor().Fields().ByName("count"), protoreflect.ValueOfInt32(n))
			sum.Set(sum.Descriptor().Fields().ByName("ok"), protoreflect.ValueOfBool(true))
			return stream.SendMsg(sum.Interface())
		case "/ctltest.v1.TestService/Chat":
			for {
				req := msgType("chat", "in").New().Interface()
				if err := stream.RecvMsg(req); err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
				if err := stream.SendMsg(item("re-"+get(req, "code").String(), int32(get(req, "n").Int())*10)); err != nil {
					return err
				}
			}
		}
		return status.Errorf(codes.Unimplemented, "%s", name)
	}
}

// Every kind of stream, through a service sinergi.v1 does not have yet: the
// client has no code for any method, so this is what CustodyService and
// ReportService will get.
func TestRunStreams(t *testing.T) {
	files, types := testRegistry(t)
	cat := testCatalog(t)
	env := startServer(t, nil, grpc.UnknownServiceHandler(testServer(t, cat)))
	requests := filepath.Join(t.TempDir(), "items.jsonl")
	if err := os.WriteFile(requests, []byte("{\"code\": \"x\"}\n{\"code\": \"y\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name       string
		args       []string
		stdin      string
		wantExit   int
		wantStdout string
		wantStderr string
	}{
		{
			name:       "unary",
			args:       []string{"test", "find", "--code", "a"},
			wantStdout: "ok: false\n",
		},
		{
			name:       "unary deadline",
			args:       []string{"--timeout", "100ms", "test", "find", "--code", "slow"},
			wantExit:   exitFailure,
			wantStderr: "error: DEADLINE_EXCEEDED: ", // then the client's or the server's words, whichever came first
		},
		{
			name: "server stream as table rows",
			args: []string{"test", "watch", "--code", "lapas"},
			wantStdout: "" +
				"CODE  N  TIME                       TAGS\n" +
				"lapas-1  1  -                          -\n" +
				"lapas-2  2  -                          -\n" +
				"lapas-3  3  -                          -\n",
		},
		{
			name: "server stream as JSON lines",
			args: []string{"-o", "json", "test", "watch", "--code", "a"},
			wantStdout: "" +
				`{"code":"a-1","n":1,"time":null,"tags":[]}` + "\n" +
				`{"code":"a-2","n":2,"time":null,"tags":[]}` + "\n" +
				`{"code":"a-3","n":3,"time":null,"tags":[]}` + "\n",
		},
		{
			name:       "server stream that fails keeps what arrived",
			args:       []string{"-o", "json", "test", "watch", "--code", "fail"},
			wantExit:   exitFailure,
			wantStdout: `{"code":"fail-1","n":1,"time":null,"tags":[]}` + "\n" + `{"code":"fail-2","n":2,"time":null,"tags":[]}` + "\n",
			wantStderr: "error: UNAVAILABLE: feed lost\n",
		},
		{
			name:       "client stream from standard input",
			args:       []string{"test", "upload"},
			stdin:      "{\"code\": \"a\"}\n\n{\"code\": \"b\", \"n\": 2}\n{\"code\": \"c\"}\n",
			wantStdout: "count: 3\ncodes: a, b, c\nok:    true\n",
		},
		{
			name:       "client stream from --file",
			args:       []string{"test", "upload", "--file", requests, "-o", "json"},
			wantStdout: "{\n  \"count\": 2,\n  \"codes\": [\n    \"x\",\n    \"y\"\n  ],\n  \"ok\": true\n}\n",
		},
		{
			name:       "client stream with a bad line",
			args:       []string{"test", "upload"},
			stdin:      "{\"code\": \"a\"}\n{\"code\": 5}\n",
			wantExit:   exitUsage,
			wantStderr: "error: standard input line 2: ",
		},
		{
			name:       "bidirectional stream",
			args:       []string{"-o", "json", "test", "chat"},
			stdin:      "{\"code\": \"a\", \"n\": 1}\n{\"code\": \"b\", \"n\": 2}\n",
			wantStdout: `{"code":"re-a","n":10,"time":null,"tags":[]}` + "\n" + `{"code":"re-b","n":20,"time":null,"tags":[]}` + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			a := &app{files: files, types: types, pkg: testPackage, env: lookupEnv(env), stdin: strings.NewReader(tc.stdin), stdout: &stdout, stderr: &stderr}
			if got := a.run(t.Context(), tc.args); got != tc.wantExit {
				t.Errorf("exit %d, want %d; stderr:\n%s", got, tc.wantExit, stderr.String())
			}
			if diff := cmp.Diff(tc.wantStdout, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			// A protojson error's wording is not ours: compare the start.
			if !strings.HasPrefix(stderr.String(), tc.wantStderr) || tc.wantStderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr %q, want it to start with %q", stderr.String(), tc.wantStderr)
			}
		})
	}

	t.Run("ctrl-c ends a stream", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		stdout := &signalWriter{first: make(chan struct{})}
		go func() {
			select {
			case <-stdout.first:
				cancel()
			case <-time.After(10 * time.Second):
			}
		}()
		var stderr strings.Builder
		a := &app{files: files, types: types, pkg: testPackage, env: lookupEnv(env), stdout: stdout, stderr: &stderr}
		if got := a.run(ctx, []string{"-o", "json", "test", "watch", "--code", "forever"}); got != exitInterrupted {
			t.Errorf("exit %d, want %d; stderr:\n%s", got, exitInterrupted, stderr.String())
		}
		if got, want := stdout.String(), `{"code":"forever-1","n":1,"time":null,"tags":[]}`+"\n"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
		if stderr.Len() > 0 {
			t.Errorf("stderr: %q", stderr.String())
		}
	})
}

// signalWriter closes first on the first write.
type signalWriter struct {
	mu    sync.Mutex
	b     strings.Builder
	first chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() == 0 {
		defer close(w.first)
	}
	return w.b.Write(p)
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestHelpOfStreams(t *testing.T) {
	files, types := testRegistry(t)
	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr strings.Builder
		a := &app{files: files, types: types, pkg: testPackage, env: noEnv, stdout: &stdout, stderr: &stderr}
		if got := a.run(t.Context(), args); got != exitOK {
			t.Fatalf("%v: exit %d: %s", args, got, stderr.String())
		}
		return stdout.String()
	}
	t.Run("service", func(t *testing.T) {
		want := "" +
			"Usage: sinergictl [global flags] test <method> [request flags]\n" +
			"\n" +
			"Methods of ctltest.v1.TestService:\n" +
			"  find\n" +
			"  watch   [server stream]\n" +
			"  upload  [client stream]\n" +
			"  chat    [bidirectional stream]\n" +
			"\n" +
			"Run 'sinergictl test <method> --help' for a method's flags.\n"
		if diff := cmp.Diff(want, run("help", "test")); diff != "" {
			t.Errorf("help test (-want +got):\n%s", diff)
		}
	})
	t.Run("client stream", func(t *testing.T) {
		got := run("test", "upload", "--help")
		for _, want := range []string{
			"Sends a ctltest.v1.Item for each line of protojson read from --file or standard input.\n",
			"  --file PATH  requests as protojson, one per line (default: standard input)\n",
			"  tags  repeated string\n",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("upload --help lacks %q:\n%s", want, got)
			}
		}
	})
	t.Run("server stream", func(t *testing.T) {
		got := run("test", "watch", "--help")
		for _, want := range []string{
			"Prints each ctltest.v1.Item as it arrives, until the stream ends or Ctrl-C.\n",
			"Only through -d: parent, items.\n",
			"  --all ", "oneof target; sets all (an empty message)\n",
			"  --labels KEY=TEXT ",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("watch --help lacks %q:\n%s", want, got)
			}
		}
	})
}
