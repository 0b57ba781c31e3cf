// Package httpapi_test proves the HTTP/JSON endpoint end to end against a
// real server on a real PostgreSQL: plain JSON POSTs over mutual TLS as
// curl makes them, Connect and gRPC-Web streams, and that a call refused
// over HTTP is refused and audited exactly as the same call over gRPC.
// It also runs the Python and TypeScript client examples (clients/).
package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/requestid"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// Officers: a police investigator with a case, an analyst without one.
var (
	investigator = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION,
		CaseReference: "LP/B/123/VIII/2025/SPKT"}
	analyst = &sinergiv1.AccessContext{OperatorId: "87111234", Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}
)

var serial atomic.Int64

// requestID is an id no other call of the test run has.
func requestID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), serial.Add(1))
}

// withRequestID tags a gRPC call so that its audit records can be found.
func withRequestID(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, requestid.Header, id)
}

// person is a record of an adult from Metro, as lapas-metro would send it.
func person() *sinergiv1.CustodyRecord {
	birth := time.Date(1989, 4, 12, 0, 0, 0, 0, time.UTC)
	return &sinergiv1.CustodyRecord{
		RegisterNumber: fmt.Sprintf("HT.%06d", serial.Add(1)),
		Identity: &sinergiv1.Identity{FullName: "Bayu Saputra", Nik: nik.Make("187201", birth, nik.Male, int(serial.Add(1)%9000)+1),
			BirthDate: birth.Format("2006-01-02"), BirthPlace: "Metro", Sex: sinergiv1.Sex_SEX_MALE, Nationality: "IDN",
			Address: "Jl. Merdeka No. 1", FatherName: "Slamet Riyadi", MotherName: "Siti Aminah"},
		LegalStatus: &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED, SentenceMonths: 72,
			ExpectedReleaseDate: "2030-01-15"},
		OffenceArticles: []string{"UU 35/2009 Pasal 114"},
	}
}

// admitted is a person lapas-metro registers and admits a month ago, over gRPC.
func admitted(t *testing.T, env *servertest.Env) *sinergiv1.CustodyRecord {
	t.Helper()
	ctx := context.Background()
	c := sinergiv1.NewCustodyServiceClient(env.ConnAs(t, "lapas-metro"))
	up, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: person()})
	if err != nil {
		t.Fatalf("upsert: %v", err)
	}
	ev, err := c.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RecordId: up.GetRecord().GetId(),
		Event: &sinergiv1.CustodyEvent{Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION,
			EffectiveTime: timestamppb.New(time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second))}})
	if err != nil {
		t.Fatalf("admit: %v", err)
	}
	return ev.GetRecord()
}

// postJSON POSTs body as JSON to method (/package.Service/Method) as curl
// -H 'Content-Type: application/json' -d … does, and returns the status
// and the body.
func postJSON(t *testing.T, hc *http.Client, addr, method, requestID, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+addr+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if requestID != "" {
		req.Header.Set(requestid.Header, requestID)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", method, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// jsonOf is m in the JSON a client sends (proto3 JSON mapping).
func jsonOf(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decode reads body, the JSON of a response, into m; unknown fields fail.
func decode(t *testing.T, body []byte, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal(body, m); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
}

// connectError is the JSON body of a failed Connect unary call.
type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type  string          `json:"type"`
		Value string          `json:"value"`
		Debug json.RawMessage `json:"debug"`
	} `json:"details"`
}

func decodeError(t *testing.T, body []byte) connectError {
	t.Helper()
	var e connectError
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	return e
}

// auditRow is what is compared of an audit record: everything a call
// decides, not when it ran or its id.
type auditRow struct {
	Caller, Serial, Operator, Method, Purpose, Case, Decision, Reason, Status string
	Agreements, Subjects                                                      []string
}

// auditOf returns the audit records of the call tagged requestID.
func auditOf(t *testing.T, env *servertest.Env, requestID string) []auditRow {
	t.Helper()
	rows, err := env.Owner.Pool.Query(context.Background(), `SELECT caller_code, certificate_serial, operator_id, method, purpose,
		case_reference, decision, reason, status_code, agreement_ids, subjects FROM audit_records WHERE request_id = $1 ORDER BY id`, requestID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.Caller, &r.Serial, &r.Operator, &r.Method, &r.Purpose, &r.Case, &r.Decision, &r.Reason, &r.Status,
			&r.Agreements, &r.Subjects); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls cond until it holds; the deadline only ends a test
// that would otherwise hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
