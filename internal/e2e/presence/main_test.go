// Package presence_test proves national hit / no-hit end to end, through
// the generated client over mutual TLS against a real server on a real
// PostgreSQL: a police unit asking about anyone in the country learns, of
// a person held beyond its reach, only the province and a hit reference;
// the facility is told of every hit; the second, justified request is the
// facility's to confirm or deny, escalated to its regional office when
// unanswered; the refusals (no, expired, foreign or altered reference,
// wrong purpose) and the audit record of each step.
package presence_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/requestid"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// Officers: police (NRP) and facility and ministry staff (NIP).
var (
	investigator = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION,
		CaseReference: "LP/B/123/VIII/2026/SPKT"}
	analyst  = &sinergiv1.AccessContext{OperatorId: "87111234", Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}
	warden   = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}
	overseer = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
	admin    = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
)

func codeOf(err error) codes.Code { return status.Code(err) }

// refusedOn fails unless err is INVALID_ARGUMENT naming field alone.
func refusedOn(t *testing.T, what string, err error, field string) {
	t.Helper()
	if codeOf(err) != codes.InvalidArgument {
		t.Fatalf("%s: %v, want INVALID_ARGUMENT on %s", what, err, field)
	}
	if f := validate.FieldsOf(err); len(f) != 1 || f[0] != field {
		t.Fatalf("%s: fields %v, want [%s] (%v)", what, f, field, err)
	}
}

var serial atomic.Int64

func custodyAs(t *testing.T, env *servertest.Env, code string) sinergiv1.CustodyServiceClient {
	t.Helper()
	return sinergiv1.NewCustodyServiceClient(env.ConnAs(t, code))
}

// held is a made-up person admitted to facility (NIK of region, e.g.
// "640201"): the record and the person's NIK.
type held struct {
	record *sinergiv1.CustodyRecord
	nik    string
}

func admit(t *testing.T, env *servertest.Env, facility, region string) held {
	t.Helper()
	ctx := context.Background()
	c := custodyAs(t, env, facility)
	n := serial.Add(1) + int64(os.Getpid()%1000)*1000
	birth := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n%9000))
	id := nik.Make(region, birth, nik.Male, int(n%9000)+1)
	up, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: &sinergiv1.CustodyRecord{
		RegisterNumber: fmt.Sprintf("HIT.%07d", n),
		Identity: &sinergiv1.Identity{FullName: fmt.Sprintf("Rahmat Hidayat %d", n), Nik: id,
			BirthDate: birth.Format("2006-01-02"), Sex: sinergiv1.Sex_SEX_MALE, Nationality: "IDN"},
		LegalStatus:     &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED, SentenceMonths: 60, ExpectedReleaseDate: "2030-01-01"},
		OffenceArticles: []string{"UU 35/2009 Pasal 114"},
	}})
	if err != nil {
		t.Fatalf("upsert: %v", err)
	}
	ev, err := c.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RecordId: up.GetRecord().GetId(),
		Event: &sinergiv1.CustodyEvent{Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION, EffectiveTime: timestamppb.New(time.Now().Add(-time.Hour))}})
	if err != nil {
		t.Fatalf("admit: %v", err)
	}
	return held{record: ev.GetRecord(), nik: id}
}

// notices is an institution's open hit notice stream.
type notices struct {
	t      *testing.T
	stream grpc.ServerStreamingClient[sinergiv1.WatchHitNoticesResponse]
	cursor string
}

func watchNotices(t *testing.T, env *servertest.Env, code string, access *sinergiv1.AccessContext) *notices {
	t.Helper()
	// The deadline only keeps a broken test from hanging: every Recv waits
	// for a notice the test knows is coming.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	s, err := custodyAs(t, env, code).WatchHitNotices(ctx, &sinergiv1.WatchHitNoticesRequest{Access: access})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Recv()
	if err != nil {
		t.Fatalf("opening the notices of %s: %v", code, err)
	}
	if first.GetNotice() != nil || first.GetCursor() == "" {
		t.Fatalf("first message %v, want a cursor alone", first)
	}
	return &notices{t: t, stream: s, cursor: first.GetCursor()}
}

// next is the next notice whose record is record (others' are passed over:
// the tests share a database).
func (n *notices) next(record string) *sinergiv1.HitNotice {
	n.t.Helper()
	for {
		m, err := n.stream.Recv()
		if err != nil {
			n.t.Fatalf("receiving a notice: %v", err)
		}
		n.cursor = m.GetCursor()
		if record == "" || m.GetNotice().GetRecordId() == record {
			return m.GetNotice()
		}
	}
}

// nextOf is the next notice about hit request id.
func (n *notices) nextOf(id string) *sinergiv1.HitNotice {
	n.t.Helper()
	for {
		m, err := n.stream.Recv()
		if err != nil {
			n.t.Fatalf("receiving a notice: %v", err)
		}
		n.cursor = m.GetCursor()
		if m.GetNotice().GetHitRequestId() == id {
			return m.GetNotice()
		}
	}
}

// auditRow is what the tests read of an audit record.
type auditRow struct {
	Method, Caller, Decision, Status, Purpose, Operator, Case string
	Subjects, Agreements                                      []string
}

// tagged tags a call so that its audit records can be found.
func tagged(ctx context.Context) (context.Context, string) {
	id := fmt.Sprintf("presence-test-%d-%d", os.Getpid(), serial.Add(1))
	return metadata.AppendToOutgoingContext(ctx, requestid.Header, id), id
}

// auditOf returns the audit records of the call tagged requestID, in order.
func auditOf(t *testing.T, env *servertest.Env, requestID string) []auditRow {
	t.Helper()
	rows, err := env.Owner.Pool.Query(context.Background(), `SELECT method, caller_code, decision, status_code, purpose, operator_id,
		case_reference, subjects, agreement_ids FROM audit_records WHERE request_id = $1 ORDER BY id`, requestID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.Method, &r.Caller, &r.Decision, &r.Status, &r.Purpose, &r.Operator, &r.Case, &r.Subjects, &r.Agreements); err != nil {
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

// remoteHit checks presence of n as unit and returns its one remote hit.
func remoteHit(t *testing.T, c sinergiv1.CustodyServiceClient, n string) *sinergiv1.RemoteHit {
	t.Helper()
	resp, err := c.CheckPresence(context.Background(), &sinergiv1.CheckPresenceRequest{Access: investigator, Nik: n})
	if err != nil {
		t.Fatalf("CheckPresence: %v", err)
	}
	if !resp.GetHeld() || len(resp.GetPlacements()) != 0 || len(resp.GetRemoteHits()) != 1 {
		t.Fatalf("CheckPresence: %v, want one remote hit and no placement", resp)
	}
	return resp.GetRemoteHits()[0]
}

func ask(t *testing.T, c sinergiv1.CustodyServiceClient, ref string, u sinergiv1.HitUrgency) *sinergiv1.HitRequest {
	t.Helper()
	resp, err := c.RequestHitRecord(context.Background(), &sinergiv1.RequestHitRecordRequest{Access: investigator, HitReference: ref,
		Urgency: u, Reason: "tersangka perkara narkotika LP/B/123/VIII/2026/SPKT"})
	if err != nil {
		t.Fatalf("RequestHitRecord: %v", err)
	}
	return resp.GetRequest()
}

// mustAudit waits for the integrated audit records of requestID.
func mustAudit(t *testing.T, env *servertest.Env, requestID string) []auditRow {
	t.Helper()
	var rows []auditRow
	waitFor(t, "the audit record of "+requestID, func() bool {
		rows = auditOf(t, env, requestID)
		return len(rows) > 0
	})
	return rows
}
