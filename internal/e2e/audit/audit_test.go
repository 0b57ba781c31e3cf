// Package audit_test proves the audit trail end to end: a record for every
// call, durable before the reply, append-only in the database itself,
// tamper-evident, fail-closed, one chain with several server processes, and
// verifiable across retention.
package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

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
	env.WaitChained(t)
	waitCheckpoint(t, env)
	cp, err := ministry.Audit.GetCheckpoint(ctx, &sinergiv1.GetCheckpointRequest{})
	if err != nil || cp.GetCheckpoint().GetSequence() == 0 || len(cp.GetCheckpoint().GetSignature()) != 64 {
		t.Errorf("checkpoint: %v %v", cp, err)
	}
}

func waitCheckpoint(t *testing.T, env *servertest.Env) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := env.Owner.LatestCheckpoint(context.Background()); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint written")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAppendOnly: the database itself refuses to change the trail.
func TestAppendOnly(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	if _, err := env.As(t, "polres-metro").Institutions.GetInstitution(context.Background(), &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
		t.Fatal(err)
	}
	env.WaitChained(t)
	ctx := context.Background()
	for _, stmt := range []string{
		"UPDATE audit_records SET reason = 'x'",
		"DELETE FROM audit_records",
		"TRUNCATE audit_records",
		"UPDATE audit_chain SET hash = ''::bytea",
		"DELETE FROM audit_checkpoints",
	} {
		for _, role := range []string{"sinergi_app", ""} {
			t.Run(fmt.Sprintf("%s as %q", stmt, role), func(t *testing.T) {
				conn, err := env.Owner.Pool.Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Release()
				tx, err := conn.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback(ctx) //nolint:errcheck
				if role != "" {
					if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+role); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := tx.Exec(ctx, stmt); err == nil {
					t.Fatalf("%s succeeded", stmt)
				}
			})
		}
	}
}

// TestTamperingFound: a superuser who bypasses the triggers changes,
// deletes or reorders rows; verify names the first broken sequence number.
func TestTamperingFound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper string // %d is the target sequence number
		want   string
	}{
		{"change a record", `UPDATE audit_records SET caller_code = 'mabes-polri' WHERE id = (SELECT record_id FROM audit_chain WHERE seq = %d)`, "does not match its hash"},
		{"delete a record", `DELETE FROM audit_records WHERE id = (SELECT record_id FROM audit_chain WHERE seq = %d)`, "missing"},
		{"delete a link", `DELETE FROM audit_chain WHERE seq = %d`, "missing"},
		{"reorder two records", `UPDATE audit_chain SET seq = CASE seq WHEN %[1]d THEN %[1]d + 1 ELSE %[1]d END WHERE seq IN (%[1]d, %[1]d + 1)`, "does not match its hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := freshDB(t)
			env := servertest.Start(t, d, servertest.Options{})
			c := env.As(t, "polda-lampung")
			for i := range 20 {
				if _, err := c.Institutions.GetInstitution(context.Background(), &sinergiv1.GetInstitutionRequest{Code: fmt.Sprintf("x%d", i)}); status.Code(err) != codes.NotFound {
					t.Fatal(err)
				}
			}
			env.WaitChained(t)
			ctx := context.Background()
			rep, err := audit.Verify(ctx, env.Owner, nil)
			if err != nil || !rep.OK || rep.Links < 20 {
				t.Fatalf("before tampering: %v %v", rep, err)
			}
			env.Server.Stop() // no sequencer racing the tampering
			const target = 7
			tx, err := env.Owner.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil { // triggers off: a superuser can
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(tc.tamper, target)); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			rep, err = audit.Verify(ctx, env.Owner, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.BrokenSeq != target || !strings.Contains(rep.Problem, tc.want) {
				t.Fatalf("verify after %s = %s, want broken at %d (%s)", tc.name, rep, target, tc.want)
			}
		})
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
	t.Run("privileges revoked", func(t *testing.T) {
		if _, err := env.Owner.Pool.Exec(ctx, `REVOKE INSERT ON audit_records FROM sinergi_app`); err != nil {
			t.Fatal(err)
		}
		check(t)
		if _, err := env.Owner.Pool.Exec(ctx, `GRANT INSERT ON audit_records TO sinergi_app`); err != nil {
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

// TestTwoProcessesOneChain: two servers on one database, calls through
// both at once; one sequencer, one unbroken chain covering every record.
func TestTwoProcessesOneChain(t *testing.T) {
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
	env.WaitChained(t)
	ctx := context.Background()
	var holders int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`, int64(0x53494e45524749)).Scan(&holders); err != nil {
		t.Fatal(err)
	}
	if holders != 1 {
		t.Errorf("%d sequencer locks held, want exactly 1", holders)
	}
	var records int64
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, env.Owner, nil)
	if err != nil || !rep.OK || rep.Links != records || records < 200 {
		t.Fatalf("verify: %v %v; %d records", rep, err, records)
	}
}

// TestRetention drops whole old months; the chain stays verifiable from the
// retention checkpoint, and retention below a year is refused.
func TestRetention(t *testing.T) {
	d := freshDB(t)
	// The server's own upkeep keeps ten years here, so that only the test's
	// Retain call below drops the old month.
	env := servertest.Start(t, d, servertest.Options{Configure: func(c *server.Config) { c.Retention = 10 * 365 * 24 * time.Hour }})
	ctx := context.Background()
	old := time.Date(2023, 3, 10, 12, 0, 0, 0, time.UTC)
	if err := env.Owner.EnsureAuditPartitions(ctx, old, 1); err != nil {
		t.Fatal(err)
	}
	// Records chained before the old ones (the demo seed's own record).
	env.WaitChained(t)
	var earlier int64
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records`).Scan(&earlier); err != nil {
		t.Fatal(err)
	}
	var recs []*store.AuditRecord
	for i := range 30 {
		recs = append(recs, &store.AuditRecord{At: old.Add(time.Duration(i) * time.Minute), RequestID: fmt.Sprint("old-", i), Method: "/old", Decision: "ALLOWED", StatusCode: "OK"})
	}
	if err := env.Owner.AppendAuditBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	c := env.As(t, "polda-lampung")
	for range 10 {
		if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitChained(t)
	key, err := audit.LoadKey(env.AuditKey)
	if err != nil {
		t.Fatal(err)
	}
	signer := audit.NewSigner(key)
	if _, err := audit.Retain(ctx, env.Owner, signer, 200*24*time.Hour, time.Now()); err == nil {
		t.Fatal("retention below one year accepted")
	}
	dropped, err := audit.Retain(ctx, env.Owner, signer, 2*365*24*time.Hour, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || !dropped[0].Equal(time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("dropped %v, want March 2023", dropped)
	}
	var left int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE method = '/old'`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d old records left (%v)", left, err)
	}
	rep, err := audit.Verify(ctx, env.Owner, signer.PublicKey())
	if err != nil || !rep.OK || rep.StartSeq != 30+earlier || rep.Links < 10 {
		t.Fatalf("verify across the cut: %v %v", rep, err)
	}
	// The server keeps chaining after the cut.
	if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
		t.Fatal(err)
	}
	env.WaitChained(t)
	if rep, err := audit.Verify(ctx, env.Owner, signer.PublicKey()); err != nil || !rep.OK {
		t.Fatalf("verify after new records: %v %v", rep, err)
	}
}

// TestLateCommitNeverPassedOver: a record whose transaction commits late
// (after later records committed) is still chained, in order; and an open
// transaction in another database on the server does not hold chaining back.
func TestLateCommitNeverPassedOver(t *testing.T) {
	d := freshDB(t)
	env := servertest.Start(t, d, servertest.Options{})
	ctx := context.Background()
	c := env.As(t, "polda-lampung")

	// Another database's long transaction, holding an xid.
	other, err := pgtest.New(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Drop(context.Background()) })
	otherStore, err := store.Open(ctx, other.URL, store.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer otherStore.Close()
	otherTx, err := otherStore.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer otherTx.Rollback(ctx) //nolint:errcheck
	if _, err := otherTx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
		t.Fatal(err)
	}
	env.WaitChained(t) // would time out if the other database held us back

	// Our own database: a transaction writes an audit record and stays open.
	late, err := env.Owner.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.AppendAuditTx(ctx, late, &store.AuditRecord{At: time.Now().Truncate(time.Microsecond), RequestID: "late", Method: "/late", Decision: "ALLOWED", StatusCode: "OK"}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // many sequencer passes
	var chainedAfter int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_chain c JOIN audit_records r ON r.id = c.record_id WHERE r.txid > (SELECT txid FROM audit_records WHERE request_id = 'late')`).Scan(&chainedAfter); err == nil && chainedAfter > 0 {
		t.Fatalf("%d later records chained while an earlier transaction was still open", chainedAfter)
	}
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	env.WaitChained(t)
	rep, err := audit.Verify(ctx, env.Owner, nil)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v %v", rep, err)
	}
	var lateSeq, maxBefore int64
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT c.seq FROM audit_chain c JOIN audit_records r ON r.id = c.record_id WHERE r.request_id = 'late'`).Scan(&lateSeq); err != nil {
		t.Fatalf("late record never chained: %v", err)
	}
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT coalesce(max(c.seq), 0) FROM audit_chain c JOIN audit_records r ON r.id = c.record_id WHERE r.txid < (SELECT txid FROM audit_records WHERE request_id = 'late')`).Scan(&maxBefore); err != nil {
		t.Fatal(err)
	}
	if lateSeq != maxBefore+1 {
		t.Errorf("late record at sequence %d, want %d (right after the transactions older than it)", lateSeq, maxBefore+1)
	}
}

// TestSequencerMergesSubjectsPendingList: the leader merges the subjects
// index's pending list off the calls' path (store.CleanAuditPending), so
// that the audit writer's group commit never has to.
func TestSequencerMergesSubjectsPendingList(t *testing.T) {
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
	env.WaitChained(t)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "pending list merged") {
		if time.Now().After(deadline) {
			t.Fatalf("the sequencer did not merge the pending list within 10s; log:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "merging the pending list failed") {
		t.Fatalf("a merge failed; log:\n%s", logs.String())
	}
}
