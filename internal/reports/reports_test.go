package reports

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestEveryTypeHasAKind: a report type added to the proto without a kind
// (and so without a scope to travel under) fails here.
func TestEveryTypeHasAKind(t *testing.T) {
	perKind := map[sinergiv1.ReportKind]int{}
	for v := range sinergiv1.ReportType_name {
		typ := sinergiv1.ReportType(v)
		if typ == sinergiv1.ReportType_REPORT_TYPE_UNSPECIFIED {
			if KindOf(typ) != sinergiv1.ReportKind_REPORT_KIND_UNSPECIFIED {
				t.Error("the unspecified type has a kind")
			}
			continue
		}
		k := KindOf(typ)
		if k == sinergiv1.ReportKind_REPORT_KIND_UNSPECIFIED {
			t.Errorf("%s has no kind", typ)
		}
		perKind[k]++
	}
	for v := range sinergiv1.ReportKind_name {
		k := sinergiv1.ReportKind(v)
		if k == sinergiv1.ReportKind_REPORT_KIND_UNSPECIFIED {
			continue
		}
		if perKind[k] == 0 {
			t.Errorf("%s has no type", k)
		}
		if ScopeOf(k) == sinergiv1.Scope_SCOPE_UNSPECIFIED {
			t.Errorf("%s travels under no scope", k)
		}
	}
}

func TestAckWindowAndMabes(t *testing.T) {
	for _, tc := range []struct {
		sev    sinergiv1.ReportSeverity
		window time.Duration
		ok     bool
		mabes  [4]bool // incident, narcotics, threat, assistance
	}{
		{sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL, 10 * time.Minute, true, [4]bool{false, true, true, false}},
		{sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH, time.Hour, true, [4]bool{false, true, true, false}},
		{sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM, 24 * time.Hour, true, [4]bool{}},
		{sinergiv1.ReportSeverity_REPORT_SEVERITY_LOW, 0, false, [4]bool{}},
	} {
		t.Run(tc.sev.String(), func(t *testing.T) {
			w, ok := AckWindow(tc.sev)
			if w != tc.window || ok != tc.ok {
				t.Errorf("AckWindow = %v %v, want %v %v", w, ok, tc.window, tc.ok)
			}
			for i, k := range []sinergiv1.ReportKind{sinergiv1.ReportKind_REPORT_KIND_INCIDENT, sinergiv1.ReportKind_REPORT_KIND_NARCOTICS,
				sinergiv1.ReportKind_REPORT_KIND_THREAT, sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST} {
				if ToMabes(k, tc.sev) != tc.mabes[i] {
					t.Errorf("ToMabes(%s) = %v", k, !tc.mabes[i])
				}
			}
		})
	}
}

// TestUpdateStatus: status only moves forward, and only for a recipient
// that has acknowledged.
func TestUpdateStatus(t *testing.T) {
	now := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	const (
		sub, ack, act, closed = sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED, sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED,
			sinergiv1.ReportStatus_REPORT_STATUS_IN_ACTION, sinergiv1.ReportStatus_REPORT_STATUS_CLOSED
	)
	state := func(st sinergiv1.ReportStatus, acked bool) *store.ReportState {
		rc := &sinergiv1.ReportRecipient{InstitutionCode: "polres-metro"}
		if acked {
			rc.AcknowledgeTime = timestamppb.New(now)
		}
		return &store.ReportState{Facility: "lapas-metro", Status: st, Recipients: []*sinergiv1.ReportRecipient{rc}}
	}
	for _, tc := range []struct {
		from   sinergiv1.ReportStatus
		acked  bool
		caller string
		to     sinergiv1.ReportStatus
		ok     bool
	}{
		{ack, true, "polres-metro", act, true},
		{ack, true, "polres-metro", closed, true},
		{act, true, "polres-metro", closed, true},
		{sub, false, "polres-metro", act, false},
		{ack, false, "polres-metro", act, false},
		{ack, true, "polda-lampung", act, false},
		{act, true, "polres-metro", act, false},
		{closed, true, "polres-metro", act, false},
		{closed, true, "polres-metro", closed, false},
		{act, true, "polres-metro", ack, false},
		{act, true, "polres-metro", sub, false},
	} {
		t.Run(fmt.Sprintf("%s acked=%v %s to %s", tc.from, tc.acked, tc.caller, tc.to), func(t *testing.T) {
			ch, err := UpdateStatus(state(tc.from, tc.acked), tc.caller, "85031234", tc.to, sinergiv1.ReportOutcome_REPORT_OUTCOME_ARRESTS_MADE, now)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && (ch.Status != tc.to || ch.Event.GetKind() != sinergiv1.ReportEventKind_REPORT_EVENT_KIND_STATUS_CHANGED) {
				t.Errorf("change %+v", ch)
			}
		})
	}
	if ch, err := Acknowledge(state(ack, true), "polres-metro", "85031234", now); ch != nil || err != nil {
		t.Errorf("acknowledging twice: %v %v, want no change", ch, err)
	}
	if ch, err := Acknowledge(state(sub, false), "polres-metro", "85031234", now); err != nil || ch.Status != ack {
		t.Errorf("first acknowledgement: %+v %v", ch, err)
	}
}

func demoSnapshot(t *testing.T) *directory.Snapshot {
	t.Helper()
	f, err := directory.ParseSeed(directory.DemoSeed())
	if err != nil {
		t.Fatal(err)
	}
	insts, agrs, err := f.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		in.Status = sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE
	}
	return directory.NewSnapshot(&store.Directory{Institutions: insts, Agreements: agrs})
}

// TestEscalateClimbs: past its deadline a unit is escalated to its parent
// under the agreement in force; before it, or once acknowledged, nothing.
func TestEscalateClimbs(t *testing.T) {
	dir := demoSnapshot(t)
	now := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	permisan := dir.Institution("lapas-permisan")
	r := Route(dir, permisan, sinergiv1.ReportKind_REPORT_KIND_NARCOTICS, sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM, now)
	var codes []string
	for _, rc := range r.Recipients {
		codes = append(codes, rc.GetInstitutionCode())
	}
	if diff := cmp.Diff([]string{"polsek-nusakambangan", "polres-cilacap", "polda-jawa-tengah"}, codes); diff != "" {
		t.Fatalf("routed (-want +got):\n%s", diff)
	}
	st := &store.ReportState{ID: "r", Facility: "lapas-permisan", Kind: sinergiv1.ReportKind_REPORT_KIND_NARCOTICS,
		Severity: sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM, Status: sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED, Recipients: r.Recipients}
	if ch := Escalate(dir, st, "polda-jawa-tengah", now.Add(24*time.Hour-time.Second)); ch != nil {
		t.Errorf("escalated before the deadline: %+v", ch)
	}
	ch := Escalate(dir, st, "polda-jawa-tengah", now.Add(24*time.Hour))
	if ch == nil || ch.AddRecipient.GetInstitutionCode() != "mabes-polri" || !cmp.Equal(ch.AddRecipient.GetAgreementIds(), []string{"mou-2025-kemenimipas-polri"}) ||
		!ch.AddRecipient.GetAcknowledgeDeadline().AsTime().Equal(now.Add(48*time.Hour)) || ch.EscalatedPast != "polda-jawa-tengah" {
		t.Errorf("Polda escalated: %+v", ch)
	}
	ch = Escalate(dir, st, "polsek-nusakambangan", now.Add(25*time.Hour))
	if ch == nil || ch.AddRecipient != nil || ch.Event.GetRecipientCode() != "polres-cilacap" {
		t.Errorf("Polsek escalated to its Polres, a recipient already: %+v", ch)
	}
	st.Recipients[1].AcknowledgeTime = timestamppb.New(now)
	if ch := Escalate(dir, st, "polres-cilacap", now.Add(25*time.Hour)); ch != nil {
		t.Errorf("an acknowledged Polres escalated: %+v", ch)
	}
}
