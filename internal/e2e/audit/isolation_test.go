package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	gproto "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// rawCodec sends and receives messages as the bytes they are, so that a
// test can send what no generated client would (invalid UTF-8, truncated
// wire data).
type rawCodec struct{}

type raw struct{ b []byte }

func (rawCodec) Name() string { return proto.Name }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(*raw).b)}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	v.(*raw).b = data.Materialize()
	return nil
}

// callRaw calls method with the request bytes b, as a unary call or as
// the first message of a stream, and returns the call's status.
func callRaw(ctx context.Context, conn *grpc.ClientConn, md protoreflect.MethodDescriptor, b []byte) error {
	method := fmt.Sprintf("/%s/%s", md.Parent().FullName(), md.Name())
	opt := grpc.ForceCodecV2(rawCodec{})
	if !md.IsStreamingClient() && !md.IsStreamingServer() {
		return conn.Invoke(ctx, method, &raw{b}, &raw{}, opt)
	}
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: md.IsStreamingClient(), ServerStreams: md.IsStreamingServer()}, method, opt)
	if err != nil {
		return err
	}
	if err := s.SendMsg(&raw{b}); err != nil {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	var out raw
	for {
		if err := s.RecvMsg(&out); err != nil {
			return err
		}
		if md.IsStreamingClient() {
			return rosterOutcome(out.b)
		}
	}
}

// rosterOutcome turns a roster upload's answer into the refusal it holds:
// a roster keeps its good records and names the fields of each bad one.
func rosterOutcome(b []byte) error {
	var resp sinergiv1.SyncRosterResponse
	if err := gproto.Unmarshal(b, &resp); err != nil {
		return err
	}
	var v validate.Violations
	for _, r := range resp.GetRejections() {
		for _, x := range r.GetViolations() {
			v.Add("record."+x.GetField(), "%s", x.GetDescription())
		}
	}
	if v.Empty() {
		return nil
	}
	return v.Err()
}

// stringFields lists the paths of every string field a request of d can
// carry (through singular and repeated messages, each message type once
// on a path), with how to set one.
type fieldPath []protoreflect.FieldDescriptor

func stringFields(d protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) []fieldPath {
	if seen[d.FullName()] || strings.HasPrefix(string(d.FullName()), "google.protobuf.") {
		return nil
	}
	seen[d.FullName()] = true
	defer delete(seen, d.FullName())
	var out []fieldPath
	fields := d.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
		case fd.Kind() == protoreflect.StringKind:
			out = append(out, fieldPath{fd})
		case fd.Message() != nil:
			for _, p := range stringFields(fd.Message(), seen) {
				out = append(out, append(fieldPath{fd}, p...))
			}
		}
	}
	return out
}

// set sets the string at p in m to s (one element, for repeated fields),
// and returns the path's name as a violation names it.
func (p fieldPath) set(m protoreflect.Message, s string) string {
	var name []string
	for i, fd := range p {
		n := string(fd.Name())
		if fd.IsList() {
			n += "[0]"
		}
		name = append(name, n)
		last := i == len(p)-1
		switch {
		case fd.IsList() && last:
			l := m.Mutable(fd).List()
			l.Append(protoreflect.ValueOfString(s))
		case fd.IsList():
			l := m.Mutable(fd).List()
			e := l.NewElement()
			l.Append(e)
			m = e.Message()
		case last:
			m.Set(fd, protoreflect.ValueOfString(s))
		default:
			m = m.Mutable(fd).Message()
		}
	}
	return strings.Join(name, ".")
}

// callers are demo institutions of each kind.
var callers = map[sinergiv1.InstitutionKind]string{
	sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY: "kemenimipas",
	sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS:    "lapas-metro",
	sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA:     "lpka-tenggarong",
	sinergiv1.InstitutionKind_INSTITUTION_KIND_LPP:      "lpp-tenggarong",
	sinergiv1.InstitutionKind_INSTITUTION_KIND_POLSEK:   "polsek-nusakambangan",
	sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES:   "polres-metro",
	sinergiv1.InstitutionKind_INSTITUTION_KIND_POLDA:    "polda-lampung",
	sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES:    "mabes-polri",
}

func callerOf(method string) string {
	rule, _ := authz.Lookup(method)
	for _, k := range rule.Kinds {
		if c, ok := callers[k]; ok {
			return c
		}
	}
	return "polres-metro"
}

// TestHostileBytesInEveryField: every string field of every request of
// every Sinergi RPC, set to a NUL-laden value, to a megabyte, and to bytes
// that are not UTF-8, and every repeated string field to 100 000 entries:
// each call is answered INVALID_ARGUMENT naming the field, is recorded
// as refused, and its record stays small; meanwhile other institutions'
// calls all succeed and are all recorded.
func TestHostileBytesInEveryField(t *testing.T) {
	env := servertest.Start(t, freshDB(t), servertest.Options{})
	ctx := context.Background()

	// Others' calls go on throughout.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	var bgCalls, bgFailed atomic.Int64
	for _, code := range []string{"polres-cilacap", "lapas-permisan", "polda-jawa-tengah"} {
		c := env.As(t, code).Institutions
		bg.Add(1)
		go func() {
			defer bg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rctx := metadata.AppendToOutgoingContext(ctx, "x-request-id", fmt.Sprintf("bg-%s-%d", code, i))
				if _, err := c.GetInstitution(rctx, &sinergiv1.GetInstitutionRequest{Code: "polres-cilacap"}); err != nil {
					bgFailed.Add(1)
					t.Errorf("%s's call failed beside the hostile ones: %v", code, err)
				}
				bgCalls.Add(1)
			}
		}()
	}

	conns := map[string]*grpc.ClientConn{}
	conn := func(code string) *grpc.ClientConn {
		if conns[code] == nil {
			conns[code] = env.ConnAs(t, code)
		}
		return conns[code]
	}
	hostile := map[string]string{"nul": "85\x00051234", "megabyte": strings.Repeat("x", 1<<20), "control": "LP/B/1\x1b[2J"}
	const notUTF8 = "\xff\xfeZZZZZZZZZZZZZZZZZZ" // replaces a placeholder of the same length
	placeholder := "PLACEHOLDERxxxxxxxxx"
	calls := 0
	services := env.Server.GRPC.GetServiceInfo()
	for svc := range services {
		if !strings.HasPrefix(svc, "sinergi.") {
			continue
		}
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			t.Fatal(err)
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			md := methods.Get(i)
			full := fmt.Sprintf("/%s/%s", svc, md.Name())
			c := conn(callerOf(full))
			check := func(what, field string, b []byte) {
				t.Helper()
				calls++
				id := fmt.Sprintf("hostile-%d", calls)
				cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "x-request-id", id), 20*time.Second)
				defer cancel()
				err := callRaw(cctx, c, md, b)
				if status.Code(err) != codes.InvalidArgument {
					t.Errorf("%s %s (%s): %v, want INVALID_ARGUMENT", full, field, what, err)
					return
				}
				if fs := validate.FieldsOf(err); !containsString(fs, field) && !(md.IsStreamingClient() && containsString(fs, "record."+strings.TrimPrefix(field, "record."))) {
					t.Errorf("%s %s (%s): fields %v do not name it", full, field, what, fs)
				}
			}
			for _, p := range stringFields(md.Input(), map[protoreflect.FullName]bool{}) {
				for what, v := range hostile {
					m := dynamicpb.NewMessage(md.Input())
					field := p.set(m, v)
					b, err := gproto.Marshal(m)
					if err != nil {
						t.Fatal(err)
					}
					check(what, field, b)
				}
				m := dynamicpb.NewMessage(md.Input())
				field := p.set(m, placeholder)
				b, _ := gproto.Marshal(m)
				check("not UTF-8", field, bytes.Replace(b, []byte(placeholder), []byte(notUTF8), 1))
				if last := p[len(p)-1]; last.IsList() {
					m := dynamicpb.NewMessage(md.Input())
					p.set(m, "x")
					var list protoreflect.Message = m
					for _, fd := range p[:len(p)-1] {
						if fd.IsList() {
							list = list.Mutable(fd).List().Get(0).Message()
						} else {
							list = list.Mutable(fd).Message()
						}
					}
					l := list.Mutable(last).List()
					for range 100000 {
						l.Append(protoreflect.ValueOfString("x"))
					}
					b, _ := gproto.Marshal(m)
					check("100 000 entries", strings.TrimSuffix(field, "[0]"), b)
				}
			}
		}
	}
	close(stop)
	bg.Wait()
	if calls < 100 {
		t.Fatalf("only %d hostile calls: the walk over the services found too few fields", calls)
	}
	env.WaitIntegrated(t)
	var recorded, refused, largest int64
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE decision = 'REFUSED' AND status_code = 'InvalidArgument'
			OR method = '/sinergi.v1.CustodyService/SyncRoster'), coalesce(max(pg_column_size(r.*)), 0)
		FROM audit_records r WHERE request_id LIKE 'hostile-%'`).Scan(&recorded, &refused, &largest); err != nil {
		t.Fatal(err)
	}
	// A roster upload keeps its good records and answers with the bad
	// ones' fields: it is recorded as an upload that happened.
	if recorded != int64(calls) || refused != int64(calls) {
		t.Errorf("%d hostile calls, %d records, %d of them refusals (or roster uploads); want one each", calls, recorded, refused)
		rows, _ := env.Owner.Pool.Query(ctx, `SELECT method, decision, status_code, left(reason, 100) FROM audit_records
			WHERE request_id LIKE 'hostile-%' AND NOT (decision = 'REFUSED' AND status_code = 'InvalidArgument') LIMIT 10`)
		for rows.Next() {
			var m, d, c, r string
			_ = rows.Scan(&m, &d, &c, &r)
			t.Logf("  %s %s %s %s", m, d, c, r)
		}
		rows.Close()
	}
	if largest > 16<<10 {
		t.Errorf("a hostile call's record takes %d bytes", largest)
	}
	var bgRecorded int64
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE request_id LIKE 'bg-%' AND status_code = 'OK'`).Scan(&bgRecorded); err != nil {
		t.Fatal(err)
	}
	if bgCalls.Load() == 0 || bgRecorded != bgCalls.Load() || bgFailed.Load() != 0 {
		t.Errorf("others made %d calls, %d failed, %d recorded", bgCalls.Load(), bgFailed.Load(), bgRecorded)
	}
	rep, err := auditVerify(t, env)
	if err != nil || !rep.OK {
		t.Fatalf("verify after the hostile calls: %v %v", rep, err)
	}
}

// TestMessagesThatNeverReachTheService: a request too large to receive
// (RESOURCE_EXHAUSTED), wire data that does not parse, and a method the
// server does not serve (UNIMPLEMENTED) are answered so, never INTERNAL,
// and each is recorded as refused.
func TestMessagesThatNeverReachTheService(t *testing.T) {
	env := servertest.Start(t, freshDB(t), servertest.Options{})
	ctx := context.Background()
	conn := env.ConnAs(t, "polres-metro")
	get, _ := protoregistry.GlobalFiles.FindDescriptorByName("sinergi.v1.InstitutionService.GetInstitution")
	watch, _ := protoregistry.GlobalFiles.FindDescriptorByName("sinergi.v1.ReportService.WatchReports")
	big, _ := gproto.Marshal(&sinergiv1.GetInstitutionRequest{Code: strings.Repeat("x", 17<<20)})
	bigWatch, _ := gproto.Marshal(&sinergiv1.WatchReportsRequest{Cursor: strings.Repeat("x", 17<<20)})
	for _, tc := range []struct {
		name string
		md   protoreflect.MethodDescriptor
		b    []byte
		want codes.Code
	}{
		{"16 MB unary", get.(protoreflect.MethodDescriptor), big, codes.ResourceExhausted},
		{"16 MB stream", watch.(protoreflect.MethodDescriptor), bigWatch, codes.ResourceExhausted},
		{"truncated unary", get.(protoreflect.MethodDescriptor), []byte{0x0a, 0x40, 'a'}, codes.InvalidArgument},
		{"truncated stream", watch.(protoreflect.MethodDescriptor), []byte{0x0a, 0x40, 'a'}, codes.InvalidArgument},
	} {
		id := "never-" + strings.ReplaceAll(tc.name, " ", "-")
		err := callRaw(metadata.AppendToOutgoingContext(ctx, "x-request-id", id), conn, tc.md, tc.b)
		if status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	uctx := metadata.AppendToOutgoingContext(ctx, "x-request-id", "never-unknown")
	if err := conn.Invoke(uctx, "/sinergi.v1.InstitutionService/DropEverything", &sinergiv1.GetInstitutionRequest{}, &sinergiv1.GetInstitutionResponse{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method: %v, want UNIMPLEMENTED", err)
	}
	uctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", "never-unknown-service")
	if err := conn.Invoke(uctx, "/evil.v1.Backdoor/Open", &sinergiv1.GetInstitutionRequest{}, &sinergiv1.GetInstitutionResponse{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown service: %v, want UNIMPLEMENTED", err)
	}
	env.WaitIntegrated(t)
	rows, err := env.Owner.Pool.Query(ctx, `SELECT request_id, decision, status_code FROM audit_records WHERE request_id LIKE 'never-%' ORDER BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var id, decision, code string
		if err := rows.Scan(&id, &decision, &code); err != nil {
			t.Fatal(err)
		}
		got[id] = decision + " " + code
	}
	rows.Close()
	for id, want := range map[string]string{
		"never-16-MB-unary": "REFUSED ResourceExhausted", "never-16-MB-stream": "REFUSED ResourceExhausted",
		"never-truncated-unary": "REFUSED InvalidArgument", "never-truncated-stream": "REFUSED InvalidArgument",
		"never-unknown": "REFUSED Unimplemented", "never-unknown-service": "REFUSED Unimplemented",
	} {
		if got[id] != want {
			t.Errorf("%s recorded as %q, want %q", id, got[id], want)
		}
	}
}

func auditVerify(t *testing.T, env *servertest.Env) (*audit.Report, error) {
	t.Helper()
	return audit.Verify(context.Background(), env.Owner, env.Keys(t), nil)
}
