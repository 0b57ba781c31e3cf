package reports

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func TestIsEmergency(t *testing.T) {
	crit, high := sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL, sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH
	for _, tc := range []struct {
		typ  sinergiv1.ReportType
		sev  sinergiv1.ReportSeverity
		want bool
	}{
		{sinergiv1.ReportType_REPORT_TYPE_CONFLICT_HANDLING, crit, true},
		{sinergiv1.ReportType_REPORT_TYPE_POLICE_SUPPORT, crit, true},
		{sinergiv1.ReportType_REPORT_TYPE_RIOT, crit, true},
		{sinergiv1.ReportType_REPORT_TYPE_HOSTAGE, crit, true},
		{sinergiv1.ReportType_REPORT_TYPE_ESCAPE, crit, true},
		{sinergiv1.ReportType_REPORT_TYPE_FIGHT, crit, true},
		{sinergiv1.ReportType_REPORT_TYPE_RIOT, high, false},
		{sinergiv1.ReportType_REPORT_TYPE_DRONE_SIGHTING, crit, false},
		{sinergiv1.ReportType_REPORT_TYPE_PLANNED_ATTACK, crit, false},
		{sinergiv1.ReportType_REPORT_TYPE_WEAPON_STOLEN, crit, false},
	} {
		if got := IsEmergency(KindOf(tc.typ), tc.typ, tc.sev); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.typ, tc.sev, got, tc.want)
		}
	}
}

// TestOverrideNearest: for each level no agreement covers, the unit whose
// region is the most precise that holds the facility's receives the
// emergency; a level an agreement covers, or whose units are suspended,
// gets nothing more.
func TestOverrideNearest(t *testing.T) {
	dir := demoSnapshot(t)
	insts := dir.Institutions()
	// A second Polsek in Cilacap, covering the whole regency (33.01), and
	// a suspended one in the facility's own district.
	insts = append(insts,
		&sinergiv1.Institution{Code: "polsek-cilacap-kota", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_POLSEK, RegionCode: "33.01",
			ParentCode: "polres-cilacap", Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE},
		&sinergiv1.Institution{Code: "polsek-aa-suspended", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_POLSEK, RegionCode: "33.01.99",
			ParentCode: "polres-cilacap", Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED})
	permisan := dir.Institution("lapas-permisan")
	moved := proto.Clone(permisan).(*sinergiv1.Institution)
	moved.RegionCode = "33.01.99"
	for i, in := range insts {
		if in.GetCode() == "lapas-permisan" {
			insts[i] = moved
		}
	}
	dir = directory.NewSnapshot(&store.Directory{Institutions: insts, Agreements: dir.Agreements()})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	facility := dir.Institution("lapas-permisan")
	crit := sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL
	r := Route(dir, facility, sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST, crit, now)
	if len(r.Recipients) != 0 {
		t.Fatalf("an incident agreement covers Permisan in the demo: %v", r.Recipients)
	}
	r = Override(dir, facility, r, crit, now)
	var got []string
	for _, rc := range r.Recipients {
		if rc.GetReason() != sinergiv1.ReportRecipientReason_REPORT_RECIPIENT_REASON_EMERGENCY_OVERRIDE || len(rc.GetAgreementIds()) != 0 ||
			!rc.GetAcknowledgeDeadline().AsTime().Equal(now.Add(10*time.Minute)) {
			t.Errorf("override recipient %v", rc)
		}
		got = append(got, rc.GetInstitutionCode())
	}
	// polsek-nusakambangan (33.01) and polsek-cilacap-kota (33.01) tie:
	// the first by code; the suspended Polsek of the district is passed over.
	if diff := cmp.Diff([]string{"polsek-cilacap-kota", "polres-cilacap", "polda-jawa-tengah"}, got); diff != "" {
		t.Errorf("override recipients (-want +got):\n%s", diff)
	}
	var suspended []string
	for _, m := range r.Misses {
		if m.GetSuspended() {
			suspended = append(suspended, m.GetInstitutionCode())
		}
	}
	if !cmp.Equal(suspended, []string{"polsek-aa-suspended"}) {
		t.Errorf("suspended misses %v", suspended)
	}
	// A narcotics report travels under the MoU at every level: no override.
	n := Route(dir, facility, sinergiv1.ReportKind_REPORT_KIND_NARCOTICS, crit, now)
	if o := Override(dir, facility, n, crit, now); len(o.Recipients) != len(n.Recipients) {
		t.Errorf("override added %d recipients to a covered report", len(o.Recipients)-len(n.Recipients))
	}
}
