// Package screening_test proves ScreeningService end to end, through the
// generated client over mutual TLS against a real server on a real
// PostgreSQL: police screening lists no one else reads, CLEAR and REFER at
// the gate and what they do not say, the owning unit told live on its
// stream, expiry and removal, the high-risk designation and the visit
// register's rules, police consulting the register with and without a
// purpose that allows it, the rate limit, and the audit record of each.
package screening_test

import (
	"context"
	"errors"
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
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// Officers: police (NRP) and facility staff (NIP).
var (
	investigator = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION,
		CaseReference: "LP/B/123/VIII/2026/SPKT"}
	analyst = &sinergiv1.AccessContext{OperatorId: "87111234", Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}
	warden  = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}
	// The ministry's administrator.
	ministryAdmin = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
)

func codeOf(err error) codes.Code { return status.Code(err) }

var serial atomic.Int64

func screeningAs(t *testing.T, env *servertest.Env, code string) sinergiv1.ScreeningServiceClient {
	t.Helper()
	return sinergiv1.NewScreeningServiceClient(env.ConnAs(t, code))
}

// person is a made-up person born on birth with a NIK of region (e.g.
// "317501") that agrees with it, and a name no other test uses.
func person(name, birth, region string) *sinergiv1.ScreenedPerson {
	b := date(birth)
	return &sinergiv1.ScreenedPerson{Nik: nik.Make(region, b, nik.Male, int(serial.Add(1)%9000)+1), FullName: name, BirthDate: birth}
}

// birthday is a birth date no other test uses: entries of one birth date
// are what a name match compares.
func birthday() string {
	return time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(serial.Add(1))*7).Format("2006-01-02")
}

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// inmate admits a made-up person to facility (of region) and returns the
// record's id.
func inmate(t *testing.T, env *servertest.Env, facility, region string) string {
	t.Helper()
	ctx := context.Background()
	c := sinergiv1.NewCustodyServiceClient(env.ConnAs(t, facility))
	n := serial.Add(1)
	birth := time.Date(1985, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n))
	up, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: &sinergiv1.CustodyRecord{
		RegisterNumber: fmt.Sprintf("SCR.%06d", n),
		Identity: &sinergiv1.Identity{FullName: "Warga Binaan", Nik: nik.Make(region, birth, nik.Male, int(n%9000)+1),
			BirthDate: birth.Format("2006-01-02"), Sex: sinergiv1.Sex_SEX_MALE, Nationality: "IDN"},
		LegalStatus: &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED, SentenceMonths: 60, ExpectedReleaseDate: "2030-01-01"},
	}})
	if err != nil {
		t.Fatalf("upsert an inmate: %v", err)
	}
	if _, err := c.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RecordId: up.GetRecord().GetId(),
		Event: &sinergiv1.CustodyEvent{Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION, EffectiveTime: timestamppb.New(time.Now().Add(-time.Hour))}}); err != nil {
		t.Fatalf("admit an inmate: %v", err)
	}
	return up.GetRecord().GetId()
}

// list puts p on unit's list with instruction.
func list(t *testing.T, c sinergiv1.ScreeningServiceClient, p *sinergiv1.ScreenedPerson, ins sinergiv1.HandlingInstruction, expire time.Time) *sinergiv1.ScreeningEntry {
	t.Helper()
	r, err := c.CreateScreeningEntry(context.Background(), &sinergiv1.CreateScreeningEntryRequest{Access: investigator,
		Category: sinergiv1.ScreeningCategory_SCREENING_CATEGORY_WANTED, Person: p, Reason: "DPO perkara LP/B/123/VIII/2026/SPKT",
		Instruction: ins, ExpireTime: timestamppb.New(expire)})
	if err != nil {
		t.Fatalf("CreateScreeningEntry: %v", err)
	}
	return r.GetEntry()
}

// screen screens visitor p of inmate at the facility c is connected as.
func screen(t *testing.T, ctx context.Context, c sinergiv1.ScreeningServiceClient, p *sinergiv1.ScreenedPerson, inmate string) *sinergiv1.Screening {
	t.Helper()
	r, err := c.ScreenVisitor(ctx, &sinergiv1.ScreenVisitorRequest{Access: warden, Visitor: p,
		Relationship: sinergiv1.VisitorRelationship_VISITOR_RELATIONSHIP_SIBLING, InmateRecordId: inmate})
	if err != nil {
		t.Fatalf("ScreenVisitor: %v", err)
	}
	return r.GetScreening()
}

type referrals struct {
	t      *testing.T
	stream grpc.ServerStreamingClient[sinergiv1.WatchScreeningReferralsResponse]
	cursor string
	cancel context.CancelFunc
}

// watch opens a unit's referral stream from cursor and waits until it is
// established.
func watch(t *testing.T, ctx context.Context, c sinergiv1.ScreeningServiceClient, cursor string) *referrals {
	t.Helper()
	// The deadline only keeps a broken test from hanging: every Recv waits
	// for a referral the test knows is coming.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(cancel)
	s, err := c.WatchScreeningReferrals(ctx, &sinergiv1.WatchScreeningReferralsRequest{Access: analyst, Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Recv()
	if err != nil {
		t.Fatalf("opening the watch: %v", err)
	}
	if first.GetReferral() != nil || first.GetCursor() == "" {
		t.Fatalf("first message %v, want a cursor alone", first)
	}
	return &referrals{t: t, stream: s, cursor: first.GetCursor(), cancel: cancel}
}

func (r *referrals) next() *sinergiv1.ScreeningReferral {
	r.t.Helper()
	m, err := r.stream.Recv()
	if err != nil {
		r.t.Fatalf("receiving a referral: %v", err)
	}
	r.cursor = m.GetCursor()
	return m.GetReferral()
}

// auditRow is what the tests read of an audit record.
type auditRow struct {
	Method, Caller, Decision, Reason, Status, Purpose, Operator, Case string
	Subjects, Agreements                                              []string
}

// withRequestID tags a call so that its audit records can be found.
func withRequestID(ctx context.Context) (context.Context, string) {
	id := fmt.Sprintf("screening-test-%d-%d", os.Getpid(), serial.Add(1))
	return metadata.AppendToOutgoingContext(ctx, requestid.Header, id), id
}

// auditOf returns the audit records of the call tagged requestID, in order.
func auditOf(t *testing.T, env *servertest.Env, requestID string) []auditRow {
	t.Helper()
	rows, err := env.Owner.Pool.Query(context.Background(), `SELECT method, caller_code, decision, reason, status_code, purpose, operator_id,
		case_reference, subjects, agreement_ids FROM audit_records WHERE request_id = $1 ORDER BY id`, requestID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.Method, &r.Caller, &r.Decision, &r.Reason, &r.Status, &r.Purpose, &r.Operator, &r.Case, &r.Subjects, &r.Agreements); err != nil {
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

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// pgtestFresh gives a test its own database (see pgtest.Fresh).
func pgtestFresh(t *testing.T) *pgtest.DB { return pgtest.Fresh(t) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
