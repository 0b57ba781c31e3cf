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

	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// riotRequest is a facility's critical request for help with a riot.
func riotRequest(t *testing.T, at time.Time) *sinergiv1.SubmitReportRequest {
	return &sinergiv1.SubmitReportRequest{
		Access:         facilityOfficer,
		IdempotencyKey: key(t),
		Kind:           sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST,
		Type:           sinergiv1.ReportType_REPORT_TYPE_CONFLICT_HANDLING,
		Severity:       sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL,
		Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_BIASA,
		OccurTime:      timestamppb.New(at.Add(-5 * time.Minute)),
		Place:          "Blok C",
		Narrative:      "Kerusuhan di blok C: sekitar 60 warga binaan membakar kasur dan menyandera dua petugas di pos jaga.",
	}
}

// openThread opens a watch of one report's events and waits until it is
// established.
func openThread(t *testing.T, c sinergiv1.ReportServiceClient, access *sinergiv1.AccessContext, id string) *watch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	stream, err := c.WatchReports(ctx, &sinergiv1.WatchReportsRequest{Access: access, ReportId: id})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("opening the thread: %v", err)
	}
	return &watch{t: t, stream: stream, cancel: cancel, cursor: first.GetCursor()}
}

// posts receives n thread posts on w, as "author kind text".
func (w *watch) posts(n int) []string {
	w.t.Helper()
	var out []string
	for len(out) < n {
		msg, err := w.stream.Recv()
		if err != nil {
			w.t.Fatalf("after %v: %v", out, err)
		}
		ev := msg.GetEvent()
		if ev.GetKind() != sinergiv1.ReportEventKind_REPORT_EVENT_KIND_COORDINATION_POSTED {
			continue
		}
		// The report comes as it stands when the post is delivered: with
		// the post, and perhaps later ones.
		thread := msg.GetReport().GetCoordination()
		n := int(ev.GetCoordinationNumber())
		if n < 1 || n > len(thread) {
			w.t.Fatalf("post %d delivered with a thread of %d", n, len(thread))
		}
		c := thread[n-1]
		out = append(out, fmt.Sprintf("%s %s", c.GetAuthorCode(), c.GetKind()))
	}
	return out
}

// TestRiotRequestDispatched: a facility's riot request reaches the units an
// agreement covers; the Polres acknowledges and dispatches (units,
// personnel, arrival, commander, channel), reports on scene and stood down,
// both sides post to the one thread, and everyone involved follows it live;
// the after-action account closes the request and its thread. Every post is
// in the audit trail.
func TestRiotRequestDispatched(t *testing.T) {
	d := freshDB(t)
	env, now := start(t, d)
	ctx := context.Background()
	const pks = "pks-test-permisan-kamtib"
	createAgreement(t, env, &sinergiv1.Agreement{Id: pks, Number: "PKS/TEST/KAMTIB", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
		Parties: []*sinergiv1.Party{institutionParty("lapas-permisan"), {Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_POLRI}}},
		Scopes:  []sinergiv1.Scope{sinergiv1.Scope_SCOPE_INCIDENT_REPORTS}, EffectiveTime: timestamppb.New(now.Add(-24 * time.Hour))})
	permisan, polres, polsek := reportsAs(t, env, "lapas-permisan"), reportsAs(t, env, "polres-cilacap"), reportsAs(t, env, "polsek-nusakambangan")

	rep := submit(t, permisan, riotRequest(t, now))
	id := rep.GetId()
	if diff := cmp.Diff([]string{"polsek-nusakambangan", "polres-cilacap", "polda-jawa-tengah"}, recipientCodes(rep)); diff != "" {
		t.Fatalf("recipients (-want +got):\n%s", diff)
	}
	// Both sides follow the request's thread alone.
	facilityThread := openThread(t, permisan, facilityOfficer, id)
	polresThread := openThread(t, polres, policeOfficer, id)
	polsekThread := openThread(t, polsek, policeOfficer, id)
	// A unit that did not receive it cannot follow it.
	if s, err := reportsAs(t, env, "polres-metro").WatchReports(ctx, &sinergiv1.WatchReportsRequest{Access: policeOfficer, ReportId: id}); err == nil {
		if _, err := s.Recv(); codeOf(err) != codes.NotFound {
			t.Errorf("another unit following the thread: %v, want NotFound", err)
		}
	}

	post := func(c sinergiv1.ReportServiceClient, access *sinergiv1.AccessContext, req *sinergiv1.PostCoordinationEntryRequest) (*sinergiv1.Report, error) {
		req.Access, req.Id = access, id
		resp, err := c.PostCoordinationEntry(ctx, req)
		return resp.GetReport(), err
	}
	eta := now.Add(25 * time.Minute)
	dispatch := &sinergiv1.PostCoordinationEntryRequest{Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_DISPATCH,
		Text: "Dua peleton meluncur dari Cilacap.",
		Dispatch: &sinergiv1.Dispatch{Units: []string{"Sat Samapta Polres Cilacap", "Kompi Brimob"}, PersonnelCount: 60,
			EstimatedArrivalTime: timestamppb.New(eta), Commander: "AKP Budi Santoso", ContactChannel: "HT kanal 7 / 0812 2000 7000"}}

	// Order of things: acknowledge before dispatching.
	if _, err := post(polres, policeOfficer, dispatch); codeOf(err) != codes.FailedPrecondition {
		t.Errorf("dispatch before acknowledging: %v, want FailedPrecondition", err)
	}
	env.Clock.Set(now.Add(2 * time.Minute))
	if _, err := polres.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer, Id: id}); err != nil {
		t.Fatal(err)
	}
	env.Clock.Set(now.Add(3 * time.Minute))
	got, err := post(polres, policeOfficer, dispatch)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetStatus() != sinergiv1.ReportStatus_REPORT_STATUS_IN_ACTION {
		t.Errorf("after the dispatch: %v, want IN_ACTION", got.GetStatus())
	}
	wantDispatch := &sinergiv1.CoordinationEntry{Number: 1, Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_DISPATCH, AuthorCode: "polres-cilacap",
		OperatorId: policeOfficer.OperatorId, Text: dispatch.Text, Dispatch: dispatch.Dispatch, CreateTime: timestamppb.New(now.Add(3 * time.Minute))}
	if diff := cmp.Diff([]*sinergiv1.CoordinationEntry{wantDispatch}, got.GetCoordination(), protocmp.Transform()); diff != "" {
		t.Errorf("thread (-want +got):\n%s", diff)
	}
	if _, err := post(polres, policeOfficer, dispatch); codeOf(err) != codes.FailedPrecondition {
		t.Errorf("dispatching twice: %v, want FailedPrecondition", err)
	}
	if _, err := post(permisan, facilityOfficer, dispatch); codeOf(err) != codes.FailedPrecondition {
		t.Errorf("the facility dispatching: %v, want FailedPrecondition", err)
	}
	msg := func(text string) *sinergiv1.PostCoordinationEntryRequest {
		return &sinergiv1.PostCoordinationEntryRequest{Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_MESSAGE, Text: text}
	}
	if _, err := post(permisan, facilityOfficer, msg("Gerbang utama dibuka untuk rombongan; sandera di pos jaga blok C lantai 2.")); err != nil {
		t.Fatal(err)
	}
	if _, err := post(polres, policeOfficer, &sinergiv1.PostCoordinationEntryRequest{Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_AFTER_ACTION,
		Text: "x", Outcome: sinergiv1.ReportOutcome_REPORT_OUTCOME_SITUATION_RESOLVED}); codeOf(err) != codes.FailedPrecondition {
		t.Errorf("after action before standing down: %v, want FailedPrecondition", err)
	}
	env.Clock.Set(now.Add(28 * time.Minute))
	if _, err := post(polres, policeOfficer, &sinergiv1.PostCoordinationEntryRequest{Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_ON_SCENE,
		Text: "Tiba di gerbang utama."}); err != nil {
		t.Fatal(err)
	}
	if _, err := post(polsek, policeOfficer, msg("Polsek menjaga jalur dermaga.")); err != nil {
		t.Fatal(err)
	}
	env.Clock.Set(now.Add(3 * time.Hour))
	if _, err := post(polres, policeOfficer, &sinergiv1.PostCoordinationEntryRequest{Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_STOOD_DOWN,
		Text: "Situasi terkendali; pasukan ditarik."}); err != nil {
		t.Fatal(err)
	}
	closed, err := post(polres, policeOfficer, &sinergiv1.PostCoordinationEntryRequest{Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_AFTER_ACTION,
		Text: "Sandera dibebaskan tanpa luka; 6 provokator dipindahkan ke sel isolasi.", Outcome: sinergiv1.ReportOutcome_REPORT_OUTCOME_SITUATION_RESOLVED})
	if err != nil {
		t.Fatal(err)
	}
	if closed.GetStatus() != sinergiv1.ReportStatus_REPORT_STATUS_CLOSED || closed.GetOutcome() != sinergiv1.ReportOutcome_REPORT_OUTCOME_SITUATION_RESOLVED {
		t.Errorf("after the after-action account: %v %v, want CLOSED with the situation resolved", closed.GetStatus(), closed.GetOutcome())
	}
	if _, err := post(permisan, facilityOfficer, msg("Terima kasih.")); codeOf(err) != codes.FailedPrecondition {
		t.Errorf("a post to a closed request: %v, want FailedPrecondition", err)
	}

	// Everyone involved followed the thread live, post by post.
	want := []string{
		"polres-cilacap COORDINATION_KIND_DISPATCH",
		"lapas-permisan COORDINATION_KIND_MESSAGE",
		"polres-cilacap COORDINATION_KIND_ON_SCENE",
		"polsek-nusakambangan COORDINATION_KIND_MESSAGE",
		"polres-cilacap COORDINATION_KIND_STOOD_DOWN",
		"polres-cilacap COORDINATION_KIND_AFTER_ACTION",
	}
	for who, w := range map[string]*watch{"facility": facilityThread, "polres": polresThread, "polsek": polsekThread} {
		if diff := cmp.Diff(want, w.posts(len(want))); diff != "" {
			t.Errorf("%s's thread (-want +got):\n%s", who, diff)
		}
	}
	// The thread is append-only history: each post is an event.
	final := get(t, permisan, "lapas-permisan", id)
	if len(final.GetCoordination()) != 6 || final.GetEvents()[len(final.GetEvents())-1].GetCoordinationNumber() != 6 {
		t.Errorf("final thread %d posts, events %v", len(final.GetCoordination()), final.GetEvents())
	}

	// Each post is audited, naming the request: each side's oversight
	// reads its own side's posts.
	ok := 0
	for code, officer := range map[string]string{"mabes-polri": "85051234", "kemenimipas": "198503152010011001"} {
		audit := sinergiv1.NewAuditServiceClient(env.ConnAs(t, code))
		recs, err := audit.ListAuditRecords(ctx, &sinergiv1.ListAuditRecordsRequest{
			Access: &sinergiv1.AccessContext{OperatorId: officer, Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT},
			Method: sinergiv1.ReportService_PostCoordinationEntry_FullMethodName, Subject: "report/" + id, PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs.GetRecords() {
			if r.GetStatusCode() == "OK" {
				ok++
			}
		}
	}
	if ok != 6 {
		t.Errorf("%d successful posts audited, want 6", ok)
	}
}

// TestCoordinationRules: what a post may be, field by field, and which
// reports have a thread.
func TestCoordinationRules(t *testing.T) {
	d := freshDB(t)
	env, now := start(t, d)
	ctx := context.Background()
	permisan := reportsAs(t, env, "lapas-permisan")
	narcotics := submit(t, permisan, submission(t, now)).GetId()
	valid := func() *sinergiv1.PostCoordinationEntryRequest {
		return &sinergiv1.PostCoordinationEntryRequest{Access: policeOfficer, Id: narcotics, Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_DISPATCH,
			Dispatch: &sinergiv1.Dispatch{Units: []string{"Sat Samapta"}, PersonnelCount: 12, EstimatedArrivalTime: timestamppb.New(now.Add(time.Hour)),
				Commander: "IPTU Andi", ContactChannel: "HT kanal 3"}}
	}
	for _, tc := range []struct {
		name   string
		edit   func(r *sinergiv1.PostCoordinationEntryRequest)
		fields []string
	}{
		{"no kind", func(r *sinergiv1.PostCoordinationEntryRequest) { r.Kind = 0; r.Dispatch = nil }, []string{"kind"}},
		{"dispatch without what was sent", func(r *sinergiv1.PostCoordinationEntryRequest) { r.Dispatch = nil }, []string{"dispatch"}},
		{"dispatch fields", func(r *sinergiv1.PostCoordinationEntryRequest) {
			r.Dispatch = &sinergiv1.Dispatch{Units: []string{""}}
		}, []string{"dispatch.units[0]", "dispatch.personnel_count", "dispatch.estimated_arrival_time", "dispatch.commander", "dispatch.contact_channel"}},
		{"a message without text", func(r *sinergiv1.PostCoordinationEntryRequest) {
			r.Kind, r.Dispatch = sinergiv1.CoordinationKind_COORDINATION_KIND_MESSAGE, nil
		}, []string{"text"}},
		{"a message with a dispatch", func(r *sinergiv1.PostCoordinationEntryRequest) {
			r.Kind, r.Text = sinergiv1.CoordinationKind_COORDINATION_KIND_MESSAGE, "x"
		}, []string{"dispatch"}},
		{"after action without outcome", func(r *sinergiv1.PostCoordinationEntryRequest) {
			r.Kind, r.Text, r.Dispatch = sinergiv1.CoordinationKind_COORDINATION_KIND_AFTER_ACTION, "x", nil
		}, []string{"outcome"}},
		{"an outcome elsewhere", func(r *sinergiv1.PostCoordinationEntryRequest) {
			r.Outcome = sinergiv1.ReportOutcome_REPORT_OUTCOME_ARRESTS_MADE
		}, []string{"outcome"}},
		{"no report", func(r *sinergiv1.PostCoordinationEntryRequest) { r.Id = "" }, []string{"id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := valid()
			tc.edit(req)
			_, err := reportsAs(t, env, "polres-cilacap").PostCoordinationEntry(ctx, req)
			if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), tc.fields) {
				t.Errorf("%v (fields %v), want InvalidArgument naming %v", err, validate.FieldsOf(err), tc.fields)
			}
		})
	}
	// A narcotics report has no thread.
	req := &sinergiv1.PostCoordinationEntryRequest{Access: facilityOfficer, Id: narcotics, Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_MESSAGE, Text: "x"}
	if _, err := permisan.PostCoordinationEntry(ctx, req); codeOf(err) != codes.FailedPrecondition {
		t.Errorf("a post to a narcotics report: %v, want FailedPrecondition", err)
	}
	// A request out of reach answers as one that does not exist.
	riot := submit(t, permisan, riotRequest(t, now)).GetId()
	other := reportsAs(t, env, "lapas-metro")
	_, err := other.PostCoordinationEntry(ctx, &sinergiv1.PostCoordinationEntryRequest{Access: facilityOfficer, Id: riot,
		Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_MESSAGE, Text: "x"})
	if codeOf(err) != codes.NotFound {
		t.Errorf("another facility posting: %v, want NotFound", err)
	}
}
