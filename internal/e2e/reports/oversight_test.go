package reports_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pki"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestOversightInsideOneSide: the ministry reads the reports and
// statistics of every facility, a regional office those of its province's,
// as their own data; neither reads across, nor acts as a recipient.
func TestOversightInsideOneSide(t *testing.T) {
	d := freshDB(t)
	env, now := start(t, d)
	ctx := context.Background()
	inst := sinergiv1.NewInstitutionServiceClient(env.ConnAs(t, "kemenimipas"))
	if _, err := inst.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: ministryAdmin, Institution: &sinergiv1.Institution{
		Code: "kanwil-kaltim", Name: "Kanwil Kemenimipas Kalimantan Timur", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL,
		RegionCode: "64", ParentCode: "kemenimipas"}}); err != nil {
		t.Fatal(err)
	}
	if err := devenv.DevPKI(ctx, d.URL, env.PKIDir, pki.DefaultTrustDomain); err != nil {
		t.Fatal(err)
	}
	incident := func(facility string) *sinergiv1.Report {
		req := submission(t, now)
		req.Kind, req.Type, req.Severity = sinergiv1.ReportKind_REPORT_KIND_INCIDENT, sinergiv1.ReportType_REPORT_TYPE_FIGHT, sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM
		return submit(t, reportsAs(t, env, facility), req)
	}
	inKaltim := []*sinergiv1.Report{incident("lapas-tenggarong"), incident("lpka-tenggarong"), submit(t, reportsAs(t, env, "lpp-tenggarong"), submission(t, now))}
	inLampung := submit(t, reportsAs(t, env, "lapas-metro"), submission(t, now))

	kanwil, ministry := reportsAs(t, env, "kanwil-kaltim"), reportsAs(t, env, "kemenimipas")
	oversight := &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
	listed := func(c sinergiv1.ReportServiceClient) []string {
		return ids(listAll(t, c, &sinergiv1.ListReportsRequest{Access: oversight, PageSize: 500}))
	}
	want := ids(inKaltim)
	slices.Sort(want)
	got := listed(kanwil)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the regional office lists (-want +got):\n%s", diff)
	}
	if all := listed(ministry); !slices.Contains(all, inLampung.GetId()) || len(all) != 4 {
		t.Errorf("the ministry lists %v, want all four", all)
	}
	// Its own data: with the routing misses the filing facility sees.
	r, err := kanwil.GetReport(ctx, &sinergiv1.GetReportRequest{Access: oversight, Id: inKaltim[0].GetId()})
	if err != nil || len(r.GetReport().GetRoutingMisses()) == 0 {
		t.Errorf("the regional office's read: %v %v, want the report with its routing misses", r, err)
	}
	// Another province's report answers as one that does not exist.
	_, err = kanwil.GetReport(ctx, &sinergiv1.GetReportRequest{Access: oversight, Id: inLampung.GetId()})
	if want := missing(t, kanwil, "kanwil-kaltim"); err == nil || err.Error() != want.Error() {
		t.Errorf("Lampung's report read by Kalimantan Timur's office: %v, want exactly %v", err, want)
	}
	// Statistics are the sums over what each lists.
	for code, c := range map[string]sinergiv1.ReportServiceClient{"kanwil-kaltim": kanwil, "kemenimipas": ministry} {
		st, err := c.ReportStats(ctx, &sinergiv1.ReportStatsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		list := listAll(t, c, &sinergiv1.ListReportsRequest{Access: oversight, PageSize: 500})
		if diff := cmp.Diff(sumsOf(list), sumsOfStats(st), cmp.AllowUnexported(sums{}), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
			t.Errorf("%s: statistics differ from its reports (-sums +stats):\n%s", code, diff)
		}
	}
	if st, err := kanwil.ReportStats(ctx, &sinergiv1.ReportStatsRequest{FacilityCode: "lapas-metro"}); err != nil || st.GetTotal() != 0 {
		t.Errorf("the regional office's statistics of Lapas Metro: %v %v, want none", st, err)
	}
	// Oversight reads; it is no recipient.
	if _, err := kanwil.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: oversight, Id: inKaltim[0].GetId()}); codeOf(err).String() != "PermissionDenied" {
		t.Errorf("acknowledged by the regional office: %v, want PermissionDenied", err)
	}
	// A police unit may not read for oversight.
	if _, err := reportsAs(t, env, "polres-kutai-kartanegara").ListReports(ctx, &sinergiv1.ListReportsRequest{Access: oversight}); codeOf(err).String() != "InvalidArgument" {
		t.Errorf("a police unit reading for oversight: %v, want InvalidArgument", err)
	}
}
