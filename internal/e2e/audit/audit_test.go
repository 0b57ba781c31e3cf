// Package audit_test proves the audit trail end to end: a record for every
// call, durable before the reply, append-only in the database itself,
// fail-closed, one log with several server processes, verifiable across
// retention; that no caller's bytes break another's record (isolation);
// that an auditor with only the API and the log's key can check every
// record's inclusion and the log's growth (log); and that whoever holds
// the database's credentials, up to its superuser, cannot change it
// without verify naming where (tamper).
package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// freshDB gives a test its own database (see pgtest.Fresh).
func freshDB(t *testing.T) *pgtest.DB { return pgtest.Fresh(t) }

func withID(id string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-request-id", id)
}

var (
	access = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
	admin  = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
)

// TestEveryCallAudited: allowed, refused, invalid, not found and
// unauthenticated calls each leave exactly one audit record.
func TestEveryCallAudited(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	polres := env.As(t, "polres-metro")
	ministry := env.As(t, "kemenimipas")
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	type want struct {
		caller, method, decision, status string
	}
	cases := map[string]want{}
	call := func(name, caller, method, decision, code string, fn func(ctx context.Context) error) {
		id := run + "-" + name
		err := fn(withID(id))
		if got := status.Code(err).String(); got != code {
			t.Fatalf("%s: status %s (%v), want %s", name, got, err, code)
		}
		cases[id] = want{caller, method, decision, code}
	}
	call("allowed", "polres-metro", sinergiv1.InstitutionService_GetInstitution_FullMethodName, "ALLOWED", "OK", func(ctx context.Context) error {
		_, err := polres.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"})
		return err
	})
	call("notfound", "polres-metro", sinergiv1.InstitutionService_GetInstitution_FullMethodName, "ALLOWED", "NotFound", func(ctx context.Context) error {
		_, err := polres.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "nowhere"})
		return err
	})
	call("invalid", "polres-metro", sinergiv1.InstitutionService_GetInstitution_FullMethodName, "REFUSED", "InvalidArgument", func(ctx context.Context) error {
		_, err := polres.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{})
		return err
	})
	call("forbidden", "polres-metro", sinergiv1.AuditService_ListAuditRecords_FullMethodName, "REFUSED", "PermissionDenied", func(ctx context.Context) error {
		_, err := polres.Audit.ListAuditRecords(ctx, &sinergiv1.ListAuditRecordsRequest{Access: access})
		return err
	})
	call("noaccess", "kemenimipas", sinergiv1.AuditService_ListAuditRecords_FullMethodName, "REFUSED", "InvalidArgument", func(ctx context.Context) error {
		_, err := ministry.Audit.ListAuditRecords(ctx, &sinergiv1.ListAuditRecordsRequest{})
		if f := validate.FieldsOf(err); len(f) != 1 || f[0] != "access" {
			t.Errorf("missing access: fields %v, want [access]", f)
		}
		return err
	})
	call("write", "kemenimipas", sinergiv1.AgreementService_RevokeAgreement_FullMethodName, "ALLOWED", "OK", func(ctx context.Context) error {
		_, err := ministry.Agreements.CreateAgreement(context.Background(), &sinergiv1.CreateAgreementRequest{Access: admin, Agreement: &sinergiv1.Agreement{
			Id: "pks-audit-" + run, Number: "1", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS, Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_TRAINING},
			EffectiveTime: timestamppb.Now(), Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_CORRECTIONS}}, {Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_POLRI}}}}})
		if err != nil {
			return err
		}
		_, err = ministry.Agreements.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: admin, Id: "pks-audit-" + run})
		return err
	})

	ctx := context.Background()
	for id, w := range cases {
		var n int
		var caller, method, decision, code, serial string
		err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) OVER (), caller_code, method, decision, status_code, certificate_serial FROM audit_records WHERE request_id = $1`, id).
			Scan(&n, &caller, &method, &decision, &code, &serial)
		if err != nil {
			t.Errorf("%s: no audit record: %v", id, err)
			continue
		}
		if n != 1 || caller != w.caller || method != w.method || decision != w.decision || code != w.status || serial == "" {
			t.Errorf("%s: %d records, caller=%s method=%s decision=%s status=%s serial=%q; want one %+v", id, n, caller, method, decision, code, serial, w)
		}
	}

	// Oversight reads its own side's trail: filters, subjects, subject
	// access, checkpoint. The ministry does not see the police's calls.
	none, err := ministry.Audit.ListAuditRecords(ctx, &sinergiv1.ListAuditRecordsRequest{Access: access, CallerCode: "polres-metro", PageSize: 100})
	if err != nil || len(none.GetRecords()) != 0 {
		t.Errorf("the ministry listing a police unit's calls: %v %v, want nothing", none, err)
	}
	recs, err := env.As(t, "mabes-polri").Audit.ListAuditRecords(ctx, &sinergiv1.ListAuditRecordsRequest{Access: access, CallerCode: "polres-metro", Decision: sinergiv1.Decision_DECISION_REFUSED, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, r := range recs.GetRecords() {
		if strings.HasPrefix(r.GetRequestId(), run) {
			refused++
		}
		if r.GetCallerCode() != "polres-metro" || r.GetDecision() != sinergiv1.Decision_DECISION_REFUSED {
			t.Errorf("filter let through %v", r)
		}
	}
	if refused != 2 {
		t.Errorf("%d refused polres-metro records of this run, want 2 (invalid, forbidden)", refused)
	}
	acc, err := env.As(t, "mabes-polri").Audit.ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: access, Subject: "agreement/pks-audit-" + run})
	if err != nil {
		t.Fatal(err)
	}
	if len(acc.GetAccesses()) != 2 || acc.GetAccesses()[0].GetMethod() != sinergiv1.AgreementService_RevokeAgreement_FullMethodName {
		t.Errorf("subject access = %v, want the revoke then the create", acc.GetAccesses())
	}
	env.WaitIntegrated(t)
	cp, err := ministry.Audit.GetCheckpoint(ctx, &sinergiv1.GetCheckpointRequest{})
	if err != nil || cp.GetCheckpoint().GetTreeSize() == 0 || len(cp.GetCheckpoint().GetSignature()) != 64 {
		t.Errorf("checkpoint: %v %v", cp, err)
	}
}

// TestFailClosed: when the audit record cannot be committed the data is
// not returned and the write is not applied.
func TestFailClosed(t *testing.T) {
	d := freshDB(t)
	env := servertest.Start(t, d, servertest.Options{Configure: func(c *server.Config) { c.AuditTimeout = 500 * time.Millisecond }})
	ctx := context.Background()
	polres := env.As(t, "polres-metro")
	ministry := env.As(t, "kemenimipas")
	agreement := &sinergiv1.Agreement{Id: "pks-fail-closed", Number: "1", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS, Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_TRAINING},
		EffectiveTime: timestamppb.Now(), Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_CORRECTIONS}}, {Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_POLRI}}}}

	check := func(t *testing.T) {
		resp, err := polres.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"})
		if status.Code(err) != codes.Unavailable || resp != nil {
			t.Errorf("read with audit down: %v %v, want Unavailable and nothing", resp, err)
		}
		_, err = ministry.Agreements.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: admin, Agreement: agreement})
		if status.Code(err) != codes.Unavailable {
			t.Errorf("write with audit down: %v, want Unavailable", err)
		}
		var n int
		if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM agreements WHERE id = 'pks-fail-closed'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("write applied although its audit record failed: %d %v", n, err)
		}
	}
	const fn = `sinergi_audit_append(bigint[], timestamptz[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], bigint[], bytea[])`
	t.Run("privileges revoked", func(t *testing.T) {
		if _, err := env.Owner.Pool.Exec(ctx, `REVOKE EXECUTE ON FUNCTION `+fn+` FROM sinergi_app`); err != nil {
			t.Fatal(err)
		}
		check(t)
		if _, err := env.Owner.Pool.Exec(ctx, `GRANT EXECUTE ON FUNCTION `+fn+` TO sinergi_app`); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("table locked", func(t *testing.T) {
		tx, err := env.Owner.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE audit_records IN ACCESS EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
		check(t)
		_ = tx.Rollback(ctx)
	})
	// Once the trail is back, so is the service.
	if _, err := polres.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

// TestTwoProcessesOneLog: two servers on one database, calls through both
// at once; one integrator, one log holding every record, which verifies.
func TestTwoProcessesOneLog(t *testing.T) {
	d := freshDB(t)
	env := servertest.Start(t, d, servertest.Options{})
	second := env.Another(t)
	conns := []*grpc.ClientConn{env.ConnAs(t, "polres-metro"), env.ConnAsTo(t, second.Addr(), "polres-cilacap")}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := sinergiv1.NewInstitutionServiceClient(conns[w%2])
			for range 25 {
				if _, err := c.ListInstitutions(context.Background(), &sinergiv1.ListInstitutionsRequest{PageSize: 3}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	env.WaitIntegrated(t)
	ctx := context.Background()
	var holders int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`, int64(0x53494e45524749)).Scan(&holders); err != nil {
		t.Fatal(err)
	}
	if holders != 1 {
		t.Errorf("%d integrator locks held, want exactly 1", holders)
	}
	var records int64
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, env.Owner, env.Keys(t), nil)
	if err != nil || !rep.OK || rep.Leaves != records || records < 200 {
		t.Fatalf("verify: %v %v; %d records", rep, err, records)
	}
}

// TestIntegrationWaitsForNothingElse: a transaction that stays open in the
// database (a roster merge, an idle session) does not hold back the log:
// records committed after it began are integrated at once, and one written
// by the open transaction is integrated when it commits.
func TestIntegrationWaitsForNothingElse(t *testing.T) {
	d := freshDB(t)
	env := servertest.Start(t, d, servertest.Options{})
	ctx := context.Background()
	c := env.As(t, "polda-lampung")
	sealer := env.Server.Writer.Sealer()

	// A transaction writes an audit record the way a write does, and stays open.
	late, err := env.Server.Store.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(ctx) //nolint:errcheck
	e := sealer.NewEntry("/late", "late")
	if err := e.WriteTx(ctx, late); err != nil {
		t.Fatal(err)
	}
	// Another session holds a transaction id and sits idle.
	idle, err := env.Owner.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Rollback(ctx) //nolint:errcheck
	if _, err := idle.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitIntegrated(t) // would time out if either transaction held the log back
	var integrated int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_leaves l JOIN audit_records r ON r.id = l.record_id
		WHERE r.method = '/sinergi.v1.InstitutionService/GetInstitution'`).Scan(&integrated); err != nil || integrated != 5 {
		t.Fatalf("%d of 5 calls in the log while another transaction was open (%v)", integrated, err)
	}
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	env.WaitIntegrated(t)
	var idx int64
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT l.leaf_index FROM audit_leaves l JOIN audit_records r ON r.id = l.record_id
		WHERE r.request_id = 'late'`).Scan(&idx); err != nil {
		t.Fatalf("the late record never reached the log: %v", err)
	}
	rep, err := audit.Verify(ctx, env.Owner, env.Keys(t), nil)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v %v", rep, err)
	}
}

// TestRetention drops whole old months through the database's own
// function, which refuses a month younger than a year; the log keeps its
// leaves, so it verifies across the drop, and grows on after it.
func TestRetention(t *testing.T) {
	d := freshDB(t)
	// The server's own upkeep keeps ten years here, so that only the test's
	// Retain call below drops the old month.
	env := servertest.Start(t, d, servertest.Options{Configure: func(c *server.Config) { c.Retention = 10 * 365 * 24 * time.Hour }})
	ctx := context.Background()
	keys := env.Keys(t)
	old := time.Date(2023, 3, 10, 12, 0, 0, 0, time.UTC)
	// A month of two years ago: records of then can only be made by hand
	// (the server writes records of now), as the owner of the tables, with
	// the server's key so that they are authentic.
	admin, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SELECT sinergi_audit_ensure_partitions($1::date, 1)`, old); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		r := &store.AuditRecord{ID: int64(9_000_000 + i), At: old.Add(time.Duration(i) * time.Minute), RequestID: fmt.Sprint("old-", i),
			Method: "/old", Decision: "ALLOWED", StatusCode: "OK"}
		r.MAC = keys.RecordMAC(audit.LeafBytes(r, false))
		if _, err := admin.Exec(ctx, `INSERT INTO audit_records (id, at, request_id, method, decision, status_code, latency_us, mac)
			VALUES ($1, $2, $3, $4, $5, $6, 0, $7)`, r.ID, r.At, r.RequestID, r.Method, r.Decision, r.StatusCode, r.MAC); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, `INSERT INTO audit_queue (at, id) VALUES ($1, $2)`, r.At, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	c := env.As(t, "polda-lampung")
	for range 10 {
		if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitIntegrated(t)
	integrator, err := store.Open(ctx, d.Integrator, store.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer integrator.Close()
	var dropped []time.Time
	retain := func(retention time.Duration, now time.Time) error {
		return integrator.Lead(ctx, 0, false, func(ctx context.Context, db store.DB) error {
			var err error
			dropped, err = audit.Retain(ctx, db, retention, now)
			return err
		})
	}
	if err := retain(200*24*time.Hour, time.Now()); err == nil {
		t.Fatal("retention below one year accepted")
	}
	// Even asked to, the database will not drop a month younger than a year.
	if _, err := integrator.Pool.Exec(ctx, `SELECT sinergi_audit_drop_month(date_trunc('month', now())::date)`); err == nil {
		t.Fatal("the database dropped this month's records")
	}
	if err := retain(2*365*24*time.Hour, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || !dropped[0].Equal(time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("dropped %v, want March 2023", dropped)
	}
	var left int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE method = '/old'`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d old records left (%v)", left, err)
	}
	rep, err := audit.Verify(ctx, env.Owner, keys, nil)
	if err != nil || !rep.OK || rep.Retained != 30 || rep.Records < 10 {
		t.Fatalf("verify across the drop: %v %v", rep, err)
	}
	// The log grows on after the drop.
	if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
		t.Fatal(err)
	}
	env.WaitIntegrated(t)
	if rep, err := audit.Verify(ctx, env.Owner, keys, nil); err != nil || !rep.OK {
		t.Fatalf("verify after new records: %v %v", rep, err)
	}
}

// TestIntegratorMergesSubjectsPendingList: the leader merges the subjects
// index's pending list off the calls' path (store.CleanAuditPending), so
// that the audit writer's group commit never has to.
func TestIntegratorMergesSubjectsPendingList(t *testing.T) {
	var logs servertest.LogBuffer
	env := servertest.Start(t, freshDB(t), servertest.Options{Configure: func(c *server.Config) {
		c.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	c := env.As(t, "polres-metro")
	for range 100 {
		if _, err := c.Institutions.GetInstitution(context.Background(), &sinergiv1.GetInstitutionRequest{Code: "polres-cilacap"}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitIntegrated(t)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "pending list merged") {
		if time.Now().After(deadline) {
			t.Fatalf("the integrator did not merge the pending list within 10s; log:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "merging the pending list failed") {
		t.Fatalf("a merge failed; log:\n%s", logs.String())
	}
}
