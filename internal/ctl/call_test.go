package ctl

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// A roster line is the request wrapped ({"record": ...}) or one of its
// oneof's messages bare, a header or a record.
func TestRequestLine(t *testing.T) {
	rt := (&sinergiv1.SyncRosterRequest{}).ProtoReflect().Type()
	record := &sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Record{Record: &sinergiv1.CustodyRecord{RegisterNumber: "BI.1"}}}
	header := &sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Header{Header: &sinergiv1.RosterHeader{Full: true}}}
	for line, want := range map[string]proto.Message{
		`{"record": {"register_number": "BI.1"}}`: record,
		`{"register_number": "BI.1"}`:             record,
		`{"registerNumber": "BI.1"}`:              record,
		`{"header": {"full": true}}`:              header,
		`{"full": true}`:                          header,
	} {
		got, err := requestLine(rt, []byte(line))
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", line, diff)
		}
	}
	_, err := requestLine(rt, []byte(`{"register_numbr": "BI.1"}`))
	if err == nil || !strings.Contains(err.Error(), "neither a SyncRosterRequest nor a bare RosterHeader or CustodyRecord") {
		t.Errorf("a line of neither: %v", err)
	}
}
