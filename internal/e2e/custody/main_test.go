// Package custody_test proves CustodyService end to end, through the
// generated client over mutual TLS against a real server on a real
// PostgreSQL: the policy matrix, facility writes and their validation,
// event transitions, roster uploads, hit / no-hit, searches, children's
// masking, the audit record of each call, and the event stream resumed
// across disconnects, restarts and server processes.
package custody_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/requestid"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// freshDB gives a test its own database (see pgtest.Fresh).
func freshDB(t *testing.T) *pgtest.DB { return pgtest.Fresh(t) }

// Officers: an NRP (police) and an NIP (civil servant).
var (
	investigator = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION,
		CaseReference: "LP/B/123/VIII/2025/SPKT"}
	analyst = &sinergiv1.AccessContext{OperatorId: "87111234", Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}
	warden  = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}
	// Administrators of each side.
	ministryAdmin = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
	policeAdmin   = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
)

// confirm has Mabes Polri confirm an agreement the ministry registered.
func confirm(t *testing.T, env *servertest.Env, id string) {
	t.Helper()
	c := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "mabes-polri"))
	r, err := c.ConfirmAgreement(context.Background(), &sinergiv1.ConfirmAgreementRequest{Access: policeAdmin, Id: id})
	if err != nil || r.GetAgreement().GetConfirmTime() == nil {
		t.Fatalf("confirm %s: %v %v", id, r, err)
	}
}

func custodyAs(t *testing.T, env *servertest.Env, code string) sinergiv1.CustodyServiceClient {
	t.Helper()
	return sinergiv1.NewCustodyServiceClient(env.ConnAs(t, code))
}

var serial atomic.Int64

// unique makes names of test data that no other test uses (tests share a database).
func unique(prefix string) string { return fmt.Sprintf("%s%06d", prefix, serial.Add(1)) }

// person builds a record a facility of region (e.g. "187201") would send:
// a consistent NIK, an adult convicted of a narcotics offence.
func person(rn, name string, birth time.Time, sex sinergiv1.Sex, region string) *sinergiv1.CustodyRecord {
	s := nik.Male
	if sex == sinergiv1.Sex_SEX_FEMALE {
		s = nik.Female
	}
	return &sinergiv1.CustodyRecord{
		RegisterNumber: rn,
		Identity: &sinergiv1.Identity{FullName: name, Nik: nik.Make(region, birth, s, int(serial.Add(1)%9000)+1),
			BirthDate: birth.Format("2006-01-02"), BirthPlace: "Metro", Sex: sex, Nationality: "IDN",
			Address: "Jl. Merdeka No. 1", FatherName: "Slamet Riyadi", MotherName: "Siti Aminah"},
		LegalStatus: &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED, SentenceMonths: 72,
			ExpectedReleaseDate: "2030-01-15"},
		OffenceArticles: []string{"UU 35/2009 Pasal 114"},
		RiskFlags:       []sinergiv1.RiskFlag{sinergiv1.RiskFlag_RISK_FLAG_NARCOTICS_NETWORK},
		PhotoSha256:     strings.Repeat("ab", 32),
	}
}

// randomWord is a capitalised word of n random letters.
func randomWord(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rand.IntN(26))
	}
	b[0] -= 'a' - 'A'
	return string(b)
}

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// admitted creates a record in facility and admits it at when.
func admitted(t *testing.T, c sinergiv1.CustodyServiceClient, rec *sinergiv1.CustodyRecord, when time.Time) *sinergiv1.CustodyRecord {
	t.Helper()
	ctx := context.Background()
	up, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: rec})
	if err != nil {
		t.Fatalf("upsert %s: %v", rec.GetRegisterNumber(), err)
	}
	ev, err := c.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RecordId: up.GetRecord().GetId(),
		Event: &sinergiv1.CustodyEvent{Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION, EffectiveTime: timestamppb.New(when)}})
	if err != nil {
		t.Fatalf("admit %s: %v", rec.GetRegisterNumber(), err)
	}
	return ev.GetRecord()
}

// event records an event of type typ on record id at when.
func event(ctx context.Context, c sinergiv1.CustodyServiceClient, id string, typ sinergiv1.CustodyEventType, when time.Time, mod ...func(*sinergiv1.CustodyEvent)) (*sinergiv1.RecordCustodyEventResponse, error) {
	ev := &sinergiv1.CustodyEvent{Type: typ, EffectiveTime: timestamppb.New(when)}
	for _, m := range mod {
		m(ev)
	}
	return c.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RecordId: id, Event: ev})
}

// auditRow is what the tests read of an audit record.
type auditRow struct {
	Decision, Reason, Status, Purpose, Operator, Case string
	Subjects, Agreements                              []string
}

// withRequestID tags a call so that its audit records can be found.
func withRequestID(ctx context.Context) (context.Context, string) {
	id := fmt.Sprintf("custody-test-%d-%d", os.Getpid(), serial.Add(1))
	return metadata.AppendToOutgoingContext(ctx, requestid.Header, id), id
}

// auditOf returns the audit records of the call tagged requestID, in order.
func auditOf(t *testing.T, env *servertest.Env, requestID string) []auditRow {
	t.Helper()
	rows, err := env.Owner.Pool.Query(context.Background(), `SELECT decision, reason, status_code, purpose, operator_id, case_reference, subjects, agreement_ids
		FROM audit_records WHERE request_id = $1 ORDER BY id`, requestID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.Decision, &r.Reason, &r.Status, &r.Purpose, &r.Operator, &r.Case, &r.Subjects, &r.Agreements); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls cond until it holds (no timed assertion: the deadline only
// ends a test that would otherwise hang).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func subject(id string) string { return store.CustodySubject(id) }
