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

	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

const mou = "mou-2025-kemenimipas-polri"

// unitsOf are the Polsek, Polres and Polda whose jurisdiction covers each
// facility of the demo directory, lowest first.
var unitsOf = map[string][]string{
	"lapas-metro":      {"polres-metro", "polda-lampung"},
	"lapas-cipinang":   {"polres-metro-jakarta-timur", "polda-metro-jaya"},
	"lapas-permisan":   {"polsek-nusakambangan", "polres-cilacap", "polda-jawa-tengah"},
	"lpka-tenggarong":  {"polres-kutai-kartanegara", "polda-kalimantan-timur"},
	"lapas-tenggarong": {"polres-kutai-kartanegara", "polda-kalimantan-timur"},
	"lpp-tenggarong":   {"polres-kutai-kartanegara", "polda-kalimantan-timur"},
}

type routeCase struct {
	name     string
	typ      sinergiv1.ReportType
	kind     sinergiv1.ReportKind
	severity sinergiv1.ReportSeverity
}

func routed(codes []string, agreement string, at time.Time, window time.Duration) []*sinergiv1.ReportRecipient {
	var out []*sinergiv1.ReportRecipient
	for _, c := range codes {
		r := &sinergiv1.ReportRecipient{InstitutionCode: c, AgreementIds: []string{agreement},
			Reason: sinergiv1.ReportRecipientReason_REPORT_RECIPIENT_REASON_ROUTED, AddTime: timestamppb.New(at)}
		if window > 0 {
			r.AcknowledgeDeadline = timestamppb.New(at.Add(window))
		}
		out = append(out, r)
	}
	return out
}

// TestRoutingDemoDirectory files every kind of report from every facility
// of the demo directory as it stands today: narcotics and threat reports
// reach the Polsek, Polres and Polda of the facility's region through the
// 2025 MoU, and Mabes too when high or critical; incidents and requests for
// assistance reach nobody (the only incident agreement, LPKA Tenggarong -
// Polres Kutai Kartanegara, expired on 25 January 2025): they are stored
// with no recipients and the answer says why for each unit.
func TestRoutingDemoDirectory(t *testing.T) {
	env, now := start(t, db)
	cases := []routeCase{
		{"narcotics high", sinergiv1.ReportType_REPORT_TYPE_NARCOTICS_SEIZURE, sinergiv1.ReportKind_REPORT_KIND_NARCOTICS, sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH},
		{"narcotics medium", sinergiv1.ReportType_REPORT_TYPE_TRADE_FROM_INSIDE, sinergiv1.ReportKind_REPORT_KIND_NARCOTICS, sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM},
		{"threat critical", sinergiv1.ReportType_REPORT_TYPE_PLANNED_ATTACK, sinergiv1.ReportKind_REPORT_KIND_THREAT, sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL},
		{"threat low", sinergiv1.ReportType_REPORT_TYPE_FRAUD_FROM_INSIDE, sinergiv1.ReportKind_REPORT_KIND_THREAT, sinergiv1.ReportSeverity_REPORT_SEVERITY_LOW},
		{"incident critical", sinergiv1.ReportType_REPORT_TYPE_RIOT, sinergiv1.ReportKind_REPORT_KIND_INCIDENT, sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL},
		{"assistance request high", sinergiv1.ReportType_REPORT_TYPE_POLICE_SUPPORT, sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST, sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH},
	}
	windows := map[sinergiv1.ReportSeverity]time.Duration{
		sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL: 10 * time.Minute,
		sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH:     time.Hour,
		sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM:   24 * time.Hour,
	}
	for _, facility := range []string{"lapas-metro", "lapas-cipinang", "lapas-permisan", "lpka-tenggarong", "lapas-tenggarong", "lpp-tenggarong"} {
		c := reportsAs(t, env, facility)
		for _, tc := range cases {
			t.Run(facility+"/"+tc.name, func(t *testing.T) {
				req := submission(t, now)
				req.Type, req.Kind, req.Severity = tc.typ, tc.kind, tc.severity
				got := submit(t, c, req)
				var wantRecipients []*sinergiv1.ReportRecipient
				var wantMisses []*sinergiv1.ReportRoutingMiss
				switch tc.kind {
				case sinergiv1.ReportKind_REPORT_KIND_NARCOTICS, sinergiv1.ReportKind_REPORT_KIND_THREAT:
					units := unitsOf[facility]
					if tc.severity >= sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH {
						units = append(units[:len(units):len(units)], "mabes-polri")
					}
					wantRecipients = routed(units, mou, now, windows[tc.severity])
				default:
					for _, u := range unitsOf[facility] {
						m := &sinergiv1.ReportRoutingMiss{InstitutionCode: u, Gap: sinergiv1.CoverageGap_COVERAGE_GAP_SCOPE_NOT_COVERED}
						if facility == "lpka-tenggarong" && u == "polres-kutai-kartanegara" {
							m.Gap, m.AgreementId, m.GapTime = sinergiv1.CoverageGap_COVERAGE_GAP_EXPIRED, "pks-2024-lpka-tenggarong-polres-kukar", timestamppb.New(wib("2025-01-25"))
						}
						// Registered by the ministry, not yet confirmed by Mabes.
						if facility == "lapas-cipinang" && u == "polres-metro-jakarta-timur" {
							m.Gap, m.AgreementId = sinergiv1.CoverageGap_COVERAGE_GAP_PENDING, "pks-2026-lapas-cipinang-polres-jaktim"
						}
						wantMisses = append(wantMisses, m)
					}
				}
				if diff := cmp.Diff(wantRecipients, got.GetRecipients(), protocmp.Transform()); diff != "" {
					t.Errorf("recipients (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(wantMisses, got.GetRoutingMisses(), protocmp.Transform()); diff != "" {
					t.Errorf("routing misses (-want +got):\n%s", diff)
				}
				// Stored with the report: the facility reads the same later.
				if diff := cmp.Diff(got, get(t, c, facility, got.GetId()), protocmp.Transform()); diff != "" {
					t.Errorf("stored report differs (-filed +read):\n%s", diff)
				}
			})
		}
	}
}

// TestRoutingUnderThe2024Agreement: on 1 June 2024 the PKS between LPKA
// Tenggarong and Polres Kutai Kartanegara was in force, so an LPKA incident
// reached that Polres (and only it: the PKS names the two), while a
// narcotics report reached nobody (the MoU was not yet signed).
func TestRoutingUnderThe2024Agreement(t *testing.T) {
	d := freshDB(t)
	env, _ := start(t, d)
	at := wib("2024-06-01").Add(9 * time.Hour)
	env.Clock.Set(at)
	notYet := func(code string) *sinergiv1.ReportRoutingMiss {
		return &sinergiv1.ReportRoutingMiss{InstitutionCode: code, Gap: sinergiv1.CoverageGap_COVERAGE_GAP_NOT_YET_IN_FORCE,
			AgreementId: mou, GapTime: timestamppb.New(wib("2025-08-04"))}
	}
	noScope := func(code string) *sinergiv1.ReportRoutingMiss {
		return &sinergiv1.ReportRoutingMiss{InstitutionCode: code, Gap: sinergiv1.CoverageGap_COVERAGE_GAP_SCOPE_NOT_COVERED}
	}
	for _, tc := range []struct {
		facility   string
		typ        sinergiv1.ReportType
		kind       sinergiv1.ReportKind
		recipients []*sinergiv1.ReportRecipient
		misses     []*sinergiv1.ReportRoutingMiss
	}{
		{"lpka-tenggarong", sinergiv1.ReportType_REPORT_TYPE_FIGHT, sinergiv1.ReportKind_REPORT_KIND_INCIDENT,
			routed([]string{"polres-kutai-kartanegara"}, "pks-2024-lpka-tenggarong-polres-kukar", at, time.Hour),
			[]*sinergiv1.ReportRoutingMiss{noScope("polda-kalimantan-timur")}},
		{"lapas-tenggarong", sinergiv1.ReportType_REPORT_TYPE_FIGHT, sinergiv1.ReportKind_REPORT_KIND_INCIDENT, nil,
			[]*sinergiv1.ReportRoutingMiss{noScope("polres-kutai-kartanegara"), noScope("polda-kalimantan-timur")}},
		{"lpka-tenggarong", sinergiv1.ReportType_REPORT_TYPE_NARCOTICS_SEIZURE, sinergiv1.ReportKind_REPORT_KIND_NARCOTICS, nil,
			[]*sinergiv1.ReportRoutingMiss{notYet("polres-kutai-kartanegara"), notYet("polda-kalimantan-timur"), notYet("mabes-polri")}},
	} {
		t.Run(fmt.Sprintf("%s %s", tc.facility, tc.kind), func(t *testing.T) {
			req := submission(t, at)
			req.Type, req.Kind = tc.typ, tc.kind
			got := submit(t, reportsAs(t, env, tc.facility), req)
			if diff := cmp.Diff(tc.recipients, got.GetRecipients(), protocmp.Transform()); diff != "" {
				t.Errorf("recipients (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.misses, got.GetRoutingMisses(), protocmp.Transform()); diff != "" {
				t.Errorf("routing misses (-want +got):\n%s", diff)
			}
		})
	}
	checkPolresReads2024(t, env)
}

// checkPolresReads2024: the Polres reads the incident while the PKS is in
// force, and no longer once it has expired (the recipient list does not
// outlive the agreement).
func checkPolresReads2024(t *testing.T, env *servertest.Env) {
	t.Helper()
	ctx := context.Background()
	polres := reportsAs(t, env, "polres-kutai-kartanegara")
	list, err := polres.ListReports(ctx, &sinergiv1.ListReportsRequest{Access: policeOfficer})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetReports()) != 1 || list.GetReports()[0].GetKind() != sinergiv1.ReportKind_REPORT_KIND_INCIDENT {
		t.Fatalf("Polres Kukar lists %d reports in June 2024, want the one incident", len(list.GetReports()))
	}
	id := list.GetReports()[0].GetId()
	if len(list.GetReports()[0].GetRoutingMisses()) != 0 {
		t.Error("a recipient sees the facility's routing misses")
	}
	env.Clock.Set(wib("2025-01-25").Add(time.Minute))
	_, err = polres.GetReport(ctx, &sinergiv1.GetReportRequest{Access: policeOfficer, Id: id})
	if want := missing(t, polres, "polres-kutai-kartanegara"); codeOf(err) != codes.NotFound || err.Error() != want.Error() {
		t.Errorf("after the PKS expired: %v, want the same answer as for a missing report (%v)", err, want)
	}
	if _, err := reportsAs(t, env, "lpka-tenggarong").GetReport(ctx, &sinergiv1.GetReportRequest{Access: facilityOfficer, Id: id}); err != nil {
		t.Errorf("the facility no longer reads its own report: %v", err)
	}
}
