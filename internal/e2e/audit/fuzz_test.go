package audit_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	gproto "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var fuzzN atomic.Int64

// FuzzRawRequests sends arbitrary bytes as the request of Sinergi's RPCs
// (the fuzzer picks the method too) through a real server over mutual
// TLS, and holds every answer to what a caller may be told: never
// INTERNAL or UNKNOWN, and every call recorded in the audit trail, so that
// whatever the bytes, the audit writer takes their record. Its seed corpus
// runs in every make test; `make fuzz` runs it for longer.
func FuzzRawRequests(f *testing.F) {
	// Every service of the API, as the registry has them: a service added
	// later is fuzzed without this list being told.
	var methods []protoreflect.MethodDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("sinergi.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			ms := fd.Services().Get(i).Methods()
			for j := range ms.Len() {
				methods = append(methods, ms.Get(j))
			}
		}
		return true
	})
	slices.SortFunc(methods, func(a, b protoreflect.MethodDescriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	services := map[protoreflect.FullName]bool{}
	for _, m := range methods {
		services[m.Parent().FullName()] = true
	}
	if !services["sinergi.v1.ScreeningService"] || !services["sinergi.v1.FirearmsService"] {
		f.Fatalf("the registry's services %v lack some of the API's", services)
	}
	seed := func(m gproto.Message) []byte {
		b, _ := gproto.Marshal(m)
		return b
	}
	for i, b := range [][]byte{
		nil, {0x0a}, {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, {0x12, 0x03, 0xff, 0xfe, 0x00},
		seed(&sinergiv1.GetCustodyRecordRequest{Id: "x\x00y", Access: &sinergiv1.AccessContext{OperatorId: "\x00", CaseReference: "\x1b"}}),
		seed(&sinergiv1.SubmitReportRequest{Narrative: "a\x00b", People: []*sinergiv1.ReportPerson{{}}}),
		seed(&sinergiv1.ListAuditRecordsRequest{Subject: "custody/\x00", PageSize: -5}),
		seed(&sinergiv1.AddCosignatureRequest{Note: "— x y\n\n"}),
	} {
		f.Add(uint8(i*7), b)
	}
	env := servertest.Start(f, db, servertest.Options{})
	conn := env.ConnAs(f, "mabes-polri")
	f.Fuzz(func(t *testing.T, pick uint8, b []byte) {
		md := methods[int(pick)%len(methods)]
		id := fmt.Sprintf("fuzz-%d-%d", time.Now().UnixNano(), fuzzN.Add(1))
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-request-id", id), 10*time.Second)
		defer cancel()
		err := callRaw(ctx, conn, md, b)
		switch status.Code(err) {
		case codes.Internal, codes.Unknown:
			t.Fatalf("%s with %x: %v", md.FullName(), b, err)
		case codes.DeadlineExceeded:
			return // a stream that would stay open: it is recorded when it ends
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			var n int
			if err := env.Owner.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_records WHERE request_id = $1`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				return
			}
			if n > 1 || time.Now().After(deadline) {
				t.Fatalf("%s with %x: %d audit records", md.FullName(), b, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
