package reports_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/reports"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// createAgreement registers a as the ministry, and has Mabes Polri confirm it.
func createAgreement(t *testing.T, env *servertest.Env, a *sinergiv1.Agreement) {
	t.Helper()
	ministry := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "kemenimipas"))
	if _, err := ministry.CreateAgreement(context.Background(), &sinergiv1.CreateAgreementRequest{Access: ministryAdmin, Agreement: a}); err != nil {
		t.Fatalf("CreateAgreement %s: %v", a.GetId(), err)
	}
	mabes := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "mabes-polri"))
	if _, err := mabes.ConfirmAgreement(context.Background(), &sinergiv1.ConfirmAgreementRequest{Access: policeAdmin, Id: a.GetId()}); err != nil {
		t.Fatalf("ConfirmAgreement %s: %v", a.GetId(), err)
	}
}

func institutionParty(code string) *sinergiv1.Party {
	return &sinergiv1.Party{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: code}}
}

func escalatedTo(code, from string, agreement string, at time.Time, window time.Duration) *sinergiv1.ReportRecipient {
	return &sinergiv1.ReportRecipient{InstitutionCode: code, AgreementIds: []string{agreement},
		Reason: sinergiv1.ReportRecipientReason_REPORT_RECIPIENT_REASON_ESCALATION, EscalatedFromCode: from,
		AddTime: timestamppb.New(at), AcknowledgeDeadline: timestamppb.New(at.Add(window))}
}

func escalationEvent(id string, n int32, at time.Time, from, to string) *sinergiv1.ReportEvent {
	return &sinergiv1.ReportEvent{ReportId: id, Number: n, Kind: sinergiv1.ReportEventKind_REPORT_EVENT_KIND_ESCALATED,
		Time: timestamppb.New(at), Status: sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED, RecipientCode: to, EscalatedFromCode: from}
}

// TestEscalationChain drives the whole chain Polsek -> Polres -> Polda ->
// Mabes with the injected clock. An incident at Lapas Permisan goes to
// Polsek Nusakambangan alone (a PKS names the two); a second agreement,
// between the Lapas and every Polri unit, comes into force five minutes
// after filing. Each unit that lets its critical 10-minute deadline pass is
// escalated past: the unit above becomes a recipient under the agreement
// then in force, with its own deadline, and each escalation is an event of
// the report. Mabes, with nobody above it, is escalated to no one. When the
// agreement is revoked, the units that received the report through it no
// longer see it.
func TestEscalationChain(t *testing.T) {
	d := freshDB(t)
	env, t0 := start(t, d)
	ctx := context.Background()
	const pksPolsek, pksPolri = "pks-test-permisan-polsek", "pks-test-permisan-polri"
	createAgreement(t, env, &sinergiv1.Agreement{Id: pksPolsek, Number: "PKS/TEST/1", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
		Parties: []*sinergiv1.Party{institutionParty("lapas-permisan"), institutionParty("polsek-nusakambangan")},
		Scopes:  []sinergiv1.Scope{sinergiv1.Scope_SCOPE_INCIDENT_REPORTS}, EffectiveTime: timestamppb.New(t0.Add(-24 * time.Hour))})
	createAgreement(t, env, &sinergiv1.Agreement{Id: pksPolri, Number: "PKS/TEST/2", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
		Parties: []*sinergiv1.Party{institutionParty("lapas-permisan"), {Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_POLRI}}},
		Scopes:  []sinergiv1.Scope{sinergiv1.Scope_SCOPE_INCIDENT_REPORTS}, EffectiveTime: timestamppb.New(t0.Add(5 * time.Minute))})

	permisan := reportsAs(t, env, "lapas-permisan")
	req := submission(t, t0)
	req.Kind, req.Type, req.Severity = sinergiv1.ReportKind_REPORT_KIND_INCIDENT, sinergiv1.ReportType_REPORT_TYPE_ESCAPE, sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL
	rep := submit(t, permisan, req)
	id := rep.GetId()
	polsek := routed([]string{"polsek-nusakambangan"}, pksPolsek, t0, 10*time.Minute)
	if diff := cmp.Diff(polsek, rep.GetRecipients(), protocmp.Transform()); diff != "" {
		t.Fatalf("recipients at filing (-want +got):\n%s", diff)
	}

	step := func(d time.Duration) {
		t.Helper()
		env.Clock.Advance(d)
		tick(t, env)
	}
	step(10*time.Minute - time.Second)
	if got := get(t, permisan, "lapas-permisan", id); len(got.GetEvents()) != 1 || got.GetRecipients()[0].GetEscalateTime() != nil {
		t.Fatalf("escalated before the deadline: %v", got.GetEvents())
	}

	t1 := t0.Add(10 * time.Minute)
	t2, t3, t4 := t1.Add(10*time.Minute), t1.Add(20*time.Minute), t1.Add(30*time.Minute)
	step(time.Second) // t1: Polsek's deadline
	step(10 * time.Minute)
	step(10 * time.Minute)
	step(10 * time.Minute) // t4: Mabes's deadline, nobody above
	step(24 * time.Hour)   // nothing more happens

	polsek[0].EscalateTime = timestamppb.New(t1)
	wantRecipients := append(polsek,
		escalatedTo("polres-cilacap", "polsek-nusakambangan", pksPolri, t1, 10*time.Minute),
		escalatedTo("polda-jawa-tengah", "polres-cilacap", pksPolri, t2, 10*time.Minute),
		escalatedTo("mabes-polri", "polda-jawa-tengah", pksPolri, t3, 10*time.Minute))
	wantRecipients[1].EscalateTime = timestamppb.New(t2)
	wantRecipients[2].EscalateTime = timestamppb.New(t3)
	wantRecipients[3].EscalateTime = timestamppb.New(t4)
	wantEvents := []*sinergiv1.ReportEvent{
		rep.GetEvents()[0],
		escalationEvent(id, 2, t1, "polsek-nusakambangan", "polres-cilacap"),
		escalationEvent(id, 3, t2, "polres-cilacap", "polda-jawa-tengah"),
		escalationEvent(id, 4, t3, "polda-jawa-tengah", "mabes-polri"),
		escalationEvent(id, 5, t4, "mabes-polri", ""),
	}
	got := get(t, permisan, "lapas-permisan", id)
	if diff := cmp.Diff(wantRecipients, got.GetRecipients(), protocmp.Transform()); diff != "" {
		t.Errorf("recipients after the chain (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEvents, got.GetEvents(), protocmp.Transform()); diff != "" {
		t.Errorf("history after the chain (-want +got):\n%s", diff)
	}

	// Each escalation is in the audit trail: a disclosure to a new unit,
	// under the agreement that allowed it.
	rows, err := env.Owner.Pool.Query(ctx, `SELECT agreement_ids, decision, status_code FROM audit_records
		WHERE method = $1 AND $2 = ANY(subjects) ORDER BY at`, reports.EscalationMethod, "report/"+id)
	if err != nil {
		t.Fatal(err)
	}
	var audited []string
	for rows.Next() {
		var ags []string
		var decision, code string
		if err := rows.Scan(&ags, &decision, &code); err != nil {
			t.Fatal(err)
		}
		audited = append(audited, fmt.Sprintf("%v %s %s", ags, decision, code))
	}
	if diff := cmp.Diff([]string{"[" + pksPolri + "] ALLOWED OK", "[" + pksPolri + "] ALLOWED OK", "[" + pksPolri + "] ALLOWED OK", "[] ALLOWED OK"}, audited); diff != "" {
		t.Errorf("escalations in the audit trail (-want +got):\n%s", diff)
	}

	// Every recipient reads the report and sees its escalations.
	for _, code := range []string{"polsek-nusakambangan", "polres-cilacap", "polda-jawa-tengah", "mabes-polri"} {
		r := get(t, reportsAs(t, env, code), code, id)
		if len(r.GetEvents()) != 5 || len(r.GetRoutingMisses()) != 0 {
			t.Errorf("%s reads %d events and %d routing misses, want 5 and 0", code, len(r.GetEvents()), len(r.GetRoutingMisses()))
		}
	}

	// Late acknowledgement still counts, and escalates nothing more.
	polres := reportsAs(t, env, "polres-cilacap")
	if _, err := polres.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer, Id: id}); err != nil {
		t.Fatal(err)
	}

	// Revoking the agreement takes the report away from the units it
	// reached them through; the Polsek keeps it through its own PKS.
	ministry := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "kemenimipas"))
	if _, err := ministry.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: ministryAdmin, Id: pksPolri, RevokeTime: timestamppb.New(env.Clock.Now())}); err != nil {
		t.Fatal(err)
	}
	_, err = polres.GetReport(ctx, &sinergiv1.GetReportRequest{Access: policeOfficer, Id: id})
	if want := missing(t, polres, "polres-cilacap"); codeOf(err) != codes.NotFound || err.Error() != want.Error() {
		t.Errorf("Polres after the revocation: %v, want exactly %v", err, want)
	}
	get(t, reportsAs(t, env, "polsek-nusakambangan"), "polsek-nusakambangan", id)
}

// TestEscalationStopsAtAcknowledgement: a unit that acknowledged in time is
// not escalated; a unit whose parent already received the report escalates
// to it without adding it twice; low severity has no deadline.
func TestEscalationStopsAtAcknowledgement(t *testing.T) {
	env, t0 := start(t, db)
	ctx := context.Background()
	metro := reportsAs(t, env, "lapas-metro")
	req := submission(t, t0)
	req.Severity = sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL
	id := submit(t, metro, req).GetId()
	low := submission(t, t0)
	low.Severity = sinergiv1.ReportSeverity_REPORT_SEVERITY_LOW
	lowID := submit(t, metro, low).GetId()

	env.Clock.Advance(time.Minute)
	if _, err := reportsAs(t, env, "polres-metro").AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer, Id: id}); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(9 * time.Minute)
	tick(t, env)
	env.Clock.Advance(365 * 24 * time.Hour)
	tick(t, env)

	got := get(t, metro, "lapas-metro", id)
	t10 := t0.Add(10 * time.Minute)
	var escalations []string
	for _, ev := range got.GetEvents() {
		if ev.GetKind() == sinergiv1.ReportEventKind_REPORT_EVENT_KIND_ESCALATED {
			escalations = append(escalations, fmt.Sprintf("%s->%s at +%s", ev.GetEscalatedFromCode(), ev.GetRecipientCode(), ev.GetTime().AsTime().Sub(t0)))
		}
	}
	// Mabes and Polda Lampung missed their deadline; Polda's parent is
	// Mabes, a recipient already.
	if diff := cmp.Diff([]string{"mabes-polri-> at +10m0s", "polda-lampung->mabes-polri at +10m0s"}, escalations); diff != "" {
		t.Errorf("escalations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"polres-metro", "polda-lampung", "mabes-polri"}, recipientCodes(got)); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	for _, rc := range got.GetRecipients() {
		escalated := rc.GetEscalateTime() != nil
		if want := rc.GetInstitutionCode() != "polres-metro"; escalated != want || (escalated && !rc.GetEscalateTime().AsTime().Equal(t10)) {
			t.Errorf("%s escalate time %v", rc.GetInstitutionCode(), rc.GetEscalateTime())
		}
	}
	if got.GetStatus() != sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED {
		t.Errorf("status %v, want ACKNOWLEDGED", got.GetStatus())
	}
	lowRep := get(t, metro, "lapas-metro", lowID)
	if len(lowRep.GetEvents()) != 1 {
		t.Errorf("a low-severity report was escalated: %v", lowRep.GetEvents())
	}
	for _, rc := range lowRep.GetRecipients() {
		if rc.GetAcknowledgeDeadline() != nil {
			t.Errorf("low severity recipient %s has a deadline", rc.GetInstitutionCode())
		}
	}
}

// TestEscalationWorker: the background worker, not the test, escalates:
// after a restart (its state is the tables), with two server processes on
// one database (one leads under the advisory lock; each recipient is
// escalated exactly once), and the escalations reach a watcher connected
// to the other process through PostgreSQL.
func TestEscalationWorker(t *testing.T) {
	d := freshDB(t)
	env, t0 := start(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	second := env.Another(t)

	permisan := reportsAs(t, env, "lapas-permisan")
	req := submission(t, t0)
	req.Severity = sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL
	id := submit(t, permisan, req).GetId()

	watcher := sinergiv1.NewReportServiceClient(env.ConnAsTo(t, second.Addr(), "lapas-permisan"))
	stream, err := watcher.WatchReports(ctx, &sinergiv1.WatchReportsRequest{Access: facilityOfficer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}

	env.Restart(t)
	permisan = reportsAs(t, env, "lapas-permisan") // the restarted process listens elsewhere
	waitLeader(t, env)
	env.Clock.Advance(10 * time.Minute)

	from := map[string]int{}
	for len(from) < 4 {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("waiting for the escalations: %v (got %v)", err, from)
		}
		if ev := msg.GetEvent(); ev.GetReportId() == id && ev.GetKind() == sinergiv1.ReportEventKind_REPORT_EVENT_KIND_ESCALATED {
			from[ev.GetEscalatedFromCode()]++
		}
	}
	if diff := cmp.Diff(map[string]int{"polsek-nusakambangan": 1, "polres-cilacap": 1, "polda-jawa-tengah": 1, "mabes-polri": 1}, from); diff != "" {
		t.Errorf("escalations delivered (-want +got):\n%s", diff)
	}
	// Let both processes' workers pass again: nothing is escalated twice.
	tick(t, env)
	if got := get(t, permisan, "lapas-permisan", id); len(got.GetEvents()) != 5 || len(got.GetRecipients()) != 4 {
		t.Errorf("after the workers: %d events and %d recipients, want 5 and 4", len(got.GetEvents()), len(got.GetRecipients()))
	}
	waitLeader(t, env)
}

// waitLeader waits until one session holds the escalator's advisory lock,
// and checks that only one does.
func waitLeader(t *testing.T, env *servertest.Env) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var holders int
		err := env.Owner.Pool.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND ((classid::bigint << 32) | objid::bigint) = $1`, int64(reports.EscalatorLock)).Scan(&holders)
		if err != nil {
			t.Fatal(err)
		}
		if holders > 1 {
			t.Fatalf("%d sessions hold the escalator lock", holders)
		}
		if holders == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no escalator took the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
