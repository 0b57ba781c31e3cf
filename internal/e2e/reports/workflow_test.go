package reports_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestWorkflow walks a report from filing to closure: the police
// acknowledge (once: a retry changes nothing), act and close it with an
// outcome; both sides add addenda, the police with outcomes; each change is
// an event, status only moves forward, and who may do what is enforced.
func TestWorkflow(t *testing.T) {
	env, t0 := start(t, db)
	ctx := context.Background()
	cipinang := reportsAs(t, env, "lapas-cipinang")
	polres := reportsAs(t, env, "polres-metro-jakarta-timur")
	polda := reportsAs(t, env, "polda-metro-jaya")
	// Low severity: no deadline, so the escalation worker, which runs all
	// along, adds nothing to the history while the clock moves on.
	req := submission(t, t0)
	req.Severity = sinergiv1.ReportSeverity_REPORT_SEVERITY_LOW
	rep := submit(t, cipinang, req)
	id := rep.GetId()
	if diff := cmp.Diff([]string{"polres-metro-jakarta-timur", "polda-metro-jaya"}, recipientCodes(rep)); diff != "" {
		t.Fatalf("recipients (-want +got):\n%s", diff)
	}
	at := func(d time.Duration) time.Time {
		env.Clock.Set(t0.Add(d))
		return t0.Add(d)
	}
	status := func(c sinergiv1.ReportServiceClient, st sinergiv1.ReportStatus, o sinergiv1.ReportOutcome) (*sinergiv1.Report, error) {
		resp, err := c.UpdateReportStatus(ctx, &sinergiv1.UpdateReportStatusRequest{Access: policeOfficer, Id: id, Status: st, Outcome: o})
		return resp.GetReport(), err
	}
	addendum := func(c sinergiv1.ReportServiceClient, access *sinergiv1.AccessContext, text string, outcomes ...sinergiv1.ReportOutcome) (*sinergiv1.Report, error) {
		resp, err := c.AddReportAddendum(ctx, &sinergiv1.AddReportAddendumRequest{Access: access, Id: id, Text: text, Outcomes: outcomes})
		return resp.GetReport(), err
	}
	ack := func(c sinergiv1.ReportServiceClient) (*sinergiv1.Report, error) {
		resp, err := c.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer, Id: id})
		return resp.GetReport(), err
	}
	mustCode := func(what string, err error, want codes.Code) {
		t.Helper()
		if codeOf(err) != want {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	const (
		inAction = sinergiv1.ReportStatus_REPORT_STATUS_IN_ACTION
		closed   = sinergiv1.ReportStatus_REPORT_STATUS_CLOSED
		arrests  = sinergiv1.ReportOutcome_REPORT_OUTCOME_ARRESTS_MADE
		network  = sinergiv1.ReportOutcome_REPORT_OUTCOME_NETWORK_IDENTIFIED
	)

	_, err := status(polres, inAction, 0)
	mustCode("action before acknowledging", err, codes.FailedPrecondition)
	_, err = cipinang.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: facilityOfficer, Id: id})
	mustCode("the facility acknowledging its own report", err, codes.FailedPrecondition)
	_, err = reportsAs(t, env, "polres-metro").AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer, Id: id})
	mustCode("a unit that did not receive it acknowledging", err, codes.NotFound)

	t1 := at(2 * time.Minute)
	if _, err := ack(polres); err != nil {
		t.Fatal(err)
	}
	at(3 * time.Minute)
	got, err := ack(polres) // a retry on a bad link
	if err != nil {
		t.Fatal(err)
	}
	if got.GetStatus() != sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED || len(got.GetEvents()) != 2 ||
		!got.GetRecipients()[0].GetAcknowledgeTime().AsTime().Equal(t1) || got.GetRecipients()[0].GetAcknowledgeOperatorId() != policeOfficer.OperatorId {
		t.Errorf("after acknowledging twice: status %v, %d events, recipient %v", got.GetStatus(), len(got.GetEvents()), got.GetRecipients()[0])
	}
	_, err = status(polda, inAction, 0)
	mustCode("action by a recipient that has not acknowledged", err, codes.FailedPrecondition)

	t2 := at(5 * time.Minute)
	if _, err := status(polres, inAction, 0); err != nil {
		t.Fatal(err)
	}
	_, err = status(polres, inAction, 0)
	mustCode("in action twice", err, codes.FailedPrecondition)

	t3 := at(6 * time.Minute)
	if _, err := addendum(cipinang, facilityOfficer, "Kurir mengaku dibayar Rp500.000 per antaran."); err != nil {
		t.Fatal(err)
	}
	_, err = addendum(cipinang, facilityOfficer, "Hasil", arrests)
	if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"outcomes"}) {
		t.Errorf("the facility reporting an outcome: %v, want InvalidArgument naming outcomes", err)
	}
	t4 := at(2 * time.Hour)
	if _, err := addendum(polres, policeOfficer, "Dua tersangka ditangkap di luar lapas; jaringan pemasok teridentifikasi.", arrests, network); err != nil {
		t.Fatal(err)
	}
	_, err = status(polres, closed, 0)
	if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"outcome"}) {
		t.Errorf("closing without an outcome: %v, want InvalidArgument naming outcome", err)
	}
	t5 := at(3 * time.Hour)
	if _, err := status(polres, closed, arrests); err != nil {
		t.Fatal(err)
	}
	_, err = status(polres, inAction, 0)
	mustCode("back into action after closing", err, codes.FailedPrecondition)
	_, err = status(polres, closed, network)
	mustCode("closing twice", err, codes.FailedPrecondition)
	// The history stays open after closure: the police report back later.
	t6 := at(48 * time.Hour)
	final, err := addendum(polda, policeOfficer, "Berkas perkara dilimpahkan ke kejaksaan.")
	if err != nil {
		t.Fatal(err)
	}

	ev := func(n int32, kind sinergiv1.ReportEventKind, at time.Time, actor string, st sinergiv1.ReportStatus) *sinergiv1.ReportEvent {
		e := &sinergiv1.ReportEvent{ReportId: id, Number: n, Kind: kind, Time: timestamppb.New(at), ActorCode: actor, Status: st, OperatorId: policeOfficer.OperatorId}
		if actor == "lapas-cipinang" {
			e.OperatorId = facilityOfficer.OperatorId
		}
		return e
	}
	acked := ev(2, sinergiv1.ReportEventKind_REPORT_EVENT_KIND_ACKNOWLEDGED, t1, "polres-metro-jakarta-timur", sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED)
	acked.RecipientCode = "polres-metro-jakarta-timur"
	add := func(n, a int32, at time.Time, actor string, st sinergiv1.ReportStatus) *sinergiv1.ReportEvent {
		e := ev(n, sinergiv1.ReportEventKind_REPORT_EVENT_KIND_ADDENDUM_ADDED, at, actor, st)
		e.AddendumNumber = a
		return e
	}
	closing := ev(6, sinergiv1.ReportEventKind_REPORT_EVENT_KIND_STATUS_CHANGED, t5, "polres-metro-jakarta-timur", closed)
	closing.Outcome = arrests
	wantEvents := []*sinergiv1.ReportEvent{
		rep.GetEvents()[0],
		acked,
		ev(3, sinergiv1.ReportEventKind_REPORT_EVENT_KIND_STATUS_CHANGED, t2, "polres-metro-jakarta-timur", inAction),
		add(4, 1, t3, "lapas-cipinang", inAction),
		add(5, 2, t4, "polres-metro-jakarta-timur", inAction),
		closing,
		add(7, 3, t6, "polda-metro-jaya", closed),
	}
	if diff := cmp.Diff(wantEvents, final.GetEvents(), protocmp.Transform()); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	wantAddenda := []*sinergiv1.ReportAddendum{
		{Number: 1, AuthorCode: "lapas-cipinang", OperatorId: facilityOfficer.OperatorId, Text: "Kurir mengaku dibayar Rp500.000 per antaran.", CreateTime: timestamppb.New(t3)},
		{Number: 2, AuthorCode: "polres-metro-jakarta-timur", OperatorId: policeOfficer.OperatorId,
			Text: "Dua tersangka ditangkap di luar lapas; jaringan pemasok teridentifikasi.", Outcomes: []sinergiv1.ReportOutcome{arrests, network}, CreateTime: timestamppb.New(t4)},
		{Number: 3, AuthorCode: "polda-metro-jaya", OperatorId: policeOfficer.OperatorId, Text: "Berkas perkara dilimpahkan ke kejaksaan.", CreateTime: timestamppb.New(t6)},
	}
	if diff := cmp.Diff(wantAddenda, final.GetAddenda(), protocmp.Transform()); diff != "" {
		t.Errorf("addenda (-want +got):\n%s", diff)
	}
	if final.GetStatus() != closed || final.GetOutcome() != arrests {
		t.Errorf("final status %v outcome %v", final.GetStatus(), final.GetOutcome())
	}
	// The facility sees its report as the police left it.
	if diff := cmp.Diff(final, get(t, cipinang, "lapas-cipinang", id), protocmp.Transform(),
		protocmp.IgnoreFields(&sinergiv1.Report{}, "routing_misses")); diff != "" {
		t.Errorf("the facility's view differs (-police +facility):\n%s", diff)
	}

	t.Run("history is append-only in the database", func(t *testing.T) {
		for _, tc := range []struct{ name, sql string }{
			{"edit an addendum", `UPDATE report_addenda SET text = 'diubah' WHERE report_id = $1`},
			{"delete an addendum", `DELETE FROM report_addenda WHERE report_id = $1`},
			{"rewrite an event", `UPDATE report_events SET kind = 'SUBMITTED' WHERE report_id = $1`},
			{"delete the history", `DELETE FROM report_events WHERE report_id = $1`},
			{"rewrite the narrative", `UPDATE reports SET narrative = 'lain', last_event = last_event + 1 WHERE id = $1`},
			{"change status without an event", `UPDATE reports SET status = 'SUBMITTED' WHERE id = $1`},
			{"delete the report", `DELETE FROM reports WHERE id = $1`},
			{"delete a recipient", `DELETE FROM report_recipients WHERE report_id = $1`},
			{"rewrite an acknowledgement", `UPDATE report_recipients SET ack_time = now() WHERE report_id = $1 AND ack_time IS NOT NULL`},
			{"rewrite a person", `UPDATE report_people SET name = 'lain' WHERE report_id = $1`},
		} {
			for _, who := range []struct {
				name string
				exec func(context.Context, string, ...any) error
			}{
				{"as the application", func(ctx context.Context, q string, args ...any) error {
					_, err := env.Server.Store.Pool.Exec(ctx, q, args...)
					return err
				}},
				{"as the schema owner", func(ctx context.Context, q string, args ...any) error {
					_, err := env.Owner.Pool.Exec(ctx, q, args...)
					return err
				}},
			} {
				if err := who.exec(ctx, tc.sql, id); err == nil {
					t.Errorf("%s %s: allowed", tc.name, who.name)
				}
			}
		}
		after := get(t, cipinang, "lapas-cipinang", id)
		if diff := cmp.Diff(get(t, polres, "polres-metro-jakarta-timur", id), after, protocmp.Transform(),
			protocmp.IgnoreFields(&sinergiv1.Report{}, "routing_misses")); diff != "" || len(after.GetEvents()) != 7 || len(after.GetAddenda()) != 3 {
			t.Errorf("the report changed: %d events, %d addenda\n%s", len(after.GetEvents()), len(after.GetAddenda()), diff)
		}
	})

	t.Run("requests checked field by field", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			call   func() error
			fields []string
		}{
			{"acknowledge without id", func() error {
				_, err := polres.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer})
				return err
			}, []string{"id"}},
			{"acknowledge a malformed id", func() error {
				_, err := polres.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer, Id: "laporan-1"})
				return err
			}, []string{"id"}},
			{"status back to submitted", func() error {
				_, err := status(polres, sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED, 0)
				return err
			}, []string{"status"}},
			{"outcome while going into action", func() error { _, err := status(polres, inAction, arrests); return err }, []string{"outcome"}},
			{"empty addendum", func() error { _, err := addendum(polres, policeOfficer, ""); return err }, []string{"text"}},
			{"addendum with an unknown outcome", func() error { _, err := addendum(polres, policeOfficer, "x", 77); return err }, []string{"outcomes[0]"}},
			{"addendum with an outcome twice", func() error { _, err := addendum(polres, policeOfficer, "x", arrests, arrests); return err }, []string{"outcomes[1]"}},
			{"addendum without access", func() error { _, err := addendum(polres, nil, "x"); return err }, []string{"access"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), tc.fields) {
					t.Errorf("%v (fields %v), want InvalidArgument naming %v", err, validate.FieldsOf(err), tc.fields)
				}
			})
		}
	})
}
