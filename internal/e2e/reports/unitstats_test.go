package reports_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/directory"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestUnitStats: ReportStats tells, for each recipient and month, how it
// answered: how many it received and acknowledged, the time to
// acknowledge (median, 90th percentile), deadlines missed, escalations,
// emergency overrides, and the time to dispatch for assistance requests.
func TestUnitStats(t *testing.T) {
	d := freshDB(t)
	env, t0 := start(t, d)
	ctx := context.Background()
	createAgreement(t, env, &sinergiv1.Agreement{Id: "pks-test-permisan-kamtib", Number: "PKS/TEST/KAMTIB", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
		Parties: []*sinergiv1.Party{institutionParty("lapas-permisan"), {Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_POLRI}}},
		Scopes:  []sinergiv1.Scope{sinergiv1.Scope_SCOPE_INCIDENT_REPORTS}, EffectiveTime: timestamppb.New(t0.Add(-24 * time.Hour))})
	permisan, polres, polsek := reportsAs(t, env, "lapas-permisan"), reportsAs(t, env, "polres-cilacap"), reportsAs(t, env, "polsek-nusakambangan")
	at := func(d time.Duration) { env.Clock.Set(t0.Add(d)) }

	riotReq := riotRequest(t, t0)
	riot := submit(t, permisan, riotReq).GetId()
	warnReq := warning(t, t0, "lapas-permisan")
	warn := submit(t, polres, warnReq).GetId()
	ack := func(c sinergiv1.ReportServiceClient, access *sinergiv1.AccessContext, id string) {
		t.Helper()
		if _, err := c.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: access, Id: id}); err != nil {
			t.Fatal(err)
		}
	}
	at(2 * time.Minute)
	ack(polres, policeOfficer, riot)
	at(3 * time.Minute)
	if _, err := polres.PostCoordinationEntry(ctx, &sinergiv1.PostCoordinationEntryRequest{Access: policeOfficer, Id: riot,
		Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_DISPATCH, Dispatch: &sinergiv1.Dispatch{Units: []string{"Sat Samapta"}, PersonnelCount: 30,
			EstimatedArrivalTime: timestamppb.New(t0.Add(30 * time.Minute)), Commander: "AKP Budi Santoso", ContactChannel: "HT kanal 7"}}); err != nil {
		t.Fatal(err)
	}
	// The Polsek and the Polda let their 10 minutes pass: escalated (the
	// Polda's to Mabes, which becomes a recipient).
	// The server's own escalator may pass first at the new time: the
	// statistics below say who was escalated, whichever pass did it.
	at(11 * time.Minute)
	tick(t, env)
	at(12 * time.Minute)
	ack(polsek, policeOfficer, riot)
	// At 30 minutes Mabes's own 10 minutes (from 11) have passed too: it
	// is escalated, with nowhere above it to go, whether this tick or the
	// server's escalator gets there first.
	at(30 * time.Minute)
	tick(t, env)
	ack(permisan, facilityOfficer, warn)

	st, err := permisan.ReportStats(ctx, &sinergiv1.ReportStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	month := func(r *sinergiv1.SubmitReportRequest) string {
		return r.GetOccurTime().AsTime().In(directory.WIB).Format("2006-01")
	}
	rm, wm := month(riotReq), month(warnReq)
	want := []*sinergiv1.ReportUnitStats{
		{InstitutionCode: "lapas-permisan", Month: wm, Received: 1, Acknowledged: 1, AcknowledgeP50Seconds: 1800, AcknowledgeP90Seconds: 1800},
		{InstitutionCode: "mabes-polri", Month: rm, Received: 1, Overdue: 1, Escalated: 1},
		{InstitutionCode: "polda-jawa-tengah", Month: rm, Received: 1, Overdue: 1, Escalated: 1},
		{InstitutionCode: "polres-cilacap", Month: rm, Received: 1, Acknowledged: 1, AcknowledgeP50Seconds: 120, AcknowledgeP90Seconds: 120,
			Dispatches: 1, DispatchP50Seconds: 180, DispatchP90Seconds: 180},
		{InstitutionCode: "polsek-nusakambangan", Month: rm, Received: 1, Acknowledged: 1, AcknowledgeP50Seconds: 720, AcknowledgeP90Seconds: 720,
			Overdue: 1, Escalated: 1},
	}
	if diff := cmp.Diff(want, st.GetUnits(), protocmp.Transform()); diff != "" {
		t.Errorf("units (-want +got):\n%s", diff)
	}

	// A unit's statistics are over the reports it may see: the Polsek
	// received the riot alone.
	ps, err := polsek.ReportStats(ctx, &sinergiv1.ReportStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, u := range ps.GetUnits() {
		codes = append(codes, u.GetInstitutionCode())
	}
	if diff := cmp.Diff([]string{"mabes-polri", "polda-jawa-tengah", "polres-cilacap", "polsek-nusakambangan"}, codes); diff != "" {
		t.Errorf("the Polsek's units (-want +got):\n%s", diff)
	}

	// An emergency override counts as one.
	createKanwil(t, env, d.URL, "kanwil-kaltim", "64")
	submit(t, reportsAs(t, env, "lpka-tenggarong"), tenggarongRiot(t, t0.Add(30*time.Minute), "Korban luka; tidak ada PKS yang berlaku."))
	ks, err := reportsAs(t, env, "kemenimipas").ReportStats(ctx, &sinergiv1.ReportStatsRequest{FacilityCode: "lpka-tenggarong"})
	if err != nil {
		t.Fatal(err)
	}
	var overrides int64
	for _, u := range ks.GetUnits() {
		overrides += u.GetOverrides()
	}
	if overrides != 2 {
		t.Errorf("overrides counted %d, want 2 (Polres and Polda)", overrides)
	}
}
