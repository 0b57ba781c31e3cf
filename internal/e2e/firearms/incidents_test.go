package firearms_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func recipients(r *sinergiv1.Report) []string {
	var out []string
	for _, rc := range r.GetRecipients() {
		out = append(out, rc.GetInstitutionCode())
	}
	return out
}

// TestWeaponTheft: a stolen firearm is reported at once to the Polsek,
// Polres and Polda of the facility's region and to Mabes Polri, with the
// weapon's identity, through the report flow (critical: 10 minutes to
// acknowledge); the weapon leaves service, the officer's assignment closes;
// a retry files nothing new; the recipients read and acknowledge the report
// as any other.
func TestWeaponTheft(t *testing.T) {
	env, now := start(t, db)
	ctx := context.Background()
	permisan := as(t, env, "lapas-permisan")
	pistol, nip := licensed(t, env, "lapas-permisan", "mabes-polri", sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM, now)
	if _, err := permisan.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: pistol.GetId(), HolderNip: nip, Duty: "Pengawalan"}); err != nil {
		t.Fatal(err)
	}
	req := &sinergiv1.ReportWeaponIncidentRequest{Access: keeper, IdempotencyKey: "theft-" + pistol.GetId(), WeaponId: pistol.GetId(),
		Incident: sinergiv1.WeaponIncident_WEAPON_INCIDENT_THEFT, OccurTime: timestamppb.New(now.Add(-30 * time.Minute)),
		Place: "Dermaga Wijayapura", Narrative: "Senjata dirampas saat pengawalan narapidana ke dermaga."}
	resp, err := permisan.ReportWeaponIncident(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	rep := resp.GetReport()
	if diff := cmp.Diff([]string{"polsek-nusakambangan", "polres-cilacap", "polda-jawa-tengah", "mabes-polri"}, recipients(rep)); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	w := rep.GetItems()[0].GetWeapon()
	if rep.GetKind() != sinergiv1.ReportKind_REPORT_KIND_FIREARMS || rep.GetType() != sinergiv1.ReportType_REPORT_TYPE_WEAPON_STOLEN ||
		rep.GetSeverity() != sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL || w.GetWeaponId() != pistol.GetId() ||
		w.GetSerialNumber() != pistol.GetSerialNumber() || w.GetMake() != pistol.GetMake() || w.GetCategory() != pistol.GetCategory() {
		t.Fatalf("report: %v", rep)
	}
	if d := rep.GetRecipients()[0].GetAcknowledgeDeadline().AsTime().Sub(rep.GetSubmitTime().AsTime()); d != 10*time.Minute {
		t.Errorf("acknowledgement window %s, want 10m", d)
	}
	if resp.GetWeapon().GetStatus() != sinergiv1.WeaponStatus_WEAPON_STATUS_STOLEN || resp.GetWeapon().GetCurrentAssignment() != nil {
		t.Fatalf("the weapon after the theft: %v", resp.GetWeapon())
	}
	again, err := permisan.ReportWeaponIncident(ctx, req)
	if err != nil || !again.GetReplayed() || again.GetReport().GetId() != rep.GetId() {
		t.Fatalf("retry: %v %v", again, err)
	}
	changed := proto.Clone(req).(*sinergiv1.ReportWeaponIncidentRequest)
	changed.Narrative = "Lain"
	_, err = permisan.ReportWeaponIncident(ctx, changed)
	wantCode(t, "the key with other content", err, codes.AlreadyExists)
	other := proto.Clone(req).(*sinergiv1.ReportWeaponIncidentRequest)
	other.IdempotencyKey = "theft-again-" + pistol.GetId()
	_, err = permisan.ReportWeaponIncident(ctx, other)
	wantRefused(t, "stolen twice", err, "reported stolen already")

	// The police read it through ReportService, and acknowledge it.
	mabes := sinergiv1.NewReportServiceClient(env.ConnAs(t, "mabes-polri"))
	got, err := mabes.GetReport(ctx, &sinergiv1.GetReportRequest{Access: &sinergiv1.AccessContext{OperatorId: "85051234",
		Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}, Id: rep.GetId()})
	if err != nil || got.GetReport().GetItems()[0].GetWeapon().GetSerialNumber() != pistol.GetSerialNumber() {
		t.Fatalf("Mabes reads the report: %v %v", got, err)
	}
	if _, err := mabes.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: &sinergiv1.AccessContext{OperatorId: "85051234",
		Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: "LP/A/12/XII/2026/SPKT"}, Id: rep.GetId()}); err != nil {
		t.Fatalf("acknowledge: %v", err)
	}
	// A Polres of another region does not.
	_, err = sinergiv1.NewReportServiceClient(env.ConnAs(t, "polres-metro")).GetReport(ctx, &sinergiv1.GetReportRequest{
		Access: &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}, Id: rep.GetId()})
	wantCode(t, "a Polres of another region", err, codes.NotFound)
	// The weapon's history names the report.
	evs, err := permisan.ListFirearmEvents(ctx, &sinergiv1.ListFirearmEventsRequest{Access: keeper, WeaponId: pistol.GetId(),
		Kind: sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_INCIDENT_REPORTED})
	if err != nil || len(evs.GetEvents()) != 1 || evs.GetEvents()[0].GetReportId() != rep.GetId() {
		t.Fatalf("incident event: %v %v", evs, err)
	}
	// Recovered, it comes back into service.
	if _, err := permisan.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: pistol.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE, Note: "Ditemukan kembali oleh Polres Cilacap"}); err != nil {
		t.Fatalf("recovered: %v", err)
	}
}

// TestEquipmentLossAndDischarge: equipment that is not a firearm goes to the
// regional police only, at high severity when lost, medium when
// discharged; a discharge in the armoury counts against the stock.
func TestEquipmentLossAndDischarge(t *testing.T) {
	env, now := start(t, db)
	ctx := context.Background()
	metro := as(t, env, "lapas-metro")
	calibre := "GAS-" + serial(t)
	r, err := metro.RegisterWeapon(ctx, &sinergiv1.RegisterWeaponRequest{Access: keeper, Category: sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS,
		Make: "Pindad", Model: "Gas gun", Calibre: calibre, SerialNumber: serial(t), Armoury: "Gudang"})
	if err != nil {
		t.Fatal(err)
	}
	gas := r.GetWeapon()
	receive(t, metro, "lapas-metro", calibre, 5)
	dis, err := metro.ReportWeaponIncident(ctx, &sinergiv1.ReportWeaponIncidentRequest{Access: keeper, IdempotencyKey: "dis-" + gas.GetId(),
		WeaponId: gas.GetId(), Incident: sinergiv1.WeaponIncident_WEAPON_INCIDENT_DISCHARGE, OccurTime: timestamppb.New(now.Add(-time.Hour)),
		Place: "Gudang", Narrative: "Tertembak saat pembersihan", RoundsDischarged: 2})
	if err != nil {
		t.Fatal(err)
	}
	if dis.GetReport().GetSeverity() != sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM || slices.Contains(recipients(dis.GetReport()), "mabes-polri") ||
		!slices.Contains(recipients(dis.GetReport()), "polres-metro") || dis.GetWeapon().GetStatus() != sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE {
		t.Fatalf("discharge: %v", dis)
	}
	list, err := metro.ListAmmunition(ctx, &sinergiv1.ListAmmunitionRequest{Access: keeper})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list.GetStocks() {
		if m.GetCalibre() == calibre && m.GetRounds() != 3 {
			t.Errorf("stock after an armoury discharge: %d, want 3", m.GetRounds())
		}
	}
	_, err = metro.ReportWeaponIncident(ctx, &sinergiv1.ReportWeaponIncidentRequest{Access: keeper, IdempotencyKey: "dis2-" + gas.GetId(),
		WeaponId: gas.GetId(), Incident: sinergiv1.WeaponIncident_WEAPON_INCIDENT_DISCHARGE, OccurTime: timestamppb.New(now.Add(-time.Hour)),
		Place: "Gudang", Narrative: "x", RoundsDischarged: 4})
	wantRefused(t, "more fired than held", err, "cannot have been fired")
	lost, err := metro.ReportWeaponIncident(ctx, &sinergiv1.ReportWeaponIncidentRequest{Access: keeper, IdempotencyKey: "loss-" + gas.GetId(),
		WeaponId: gas.GetId(), Incident: sinergiv1.WeaponIncident_WEAPON_INCIDENT_LOSS, OccurTime: timestamppb.New(now.Add(-time.Hour)),
		Place: "Gudang", Narrative: "Tidak ditemukan saat apel pagi"})
	if err != nil || lost.GetReport().GetSeverity() != sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH || lost.GetWeapon().GetStatus() != sinergiv1.WeaponStatus_WEAPON_STATUS_LOST {
		t.Fatalf("loss: %v %v", lost, err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*sinergiv1.ReportWeaponIncidentRequest)
		field string
	}{
		{"no key", func(r *sinergiv1.ReportWeaponIncidentRequest) { r.IdempotencyKey = "" }, "idempotency_key"},
		{"no incident", func(r *sinergiv1.ReportWeaponIncidentRequest) { r.Incident = 0 }, "incident"},
		{"rounds for a loss", func(r *sinergiv1.ReportWeaponIncidentRequest) { r.RoundsDischarged = 3 }, "rounds_discharged"},
		{"in the future", func(r *sinergiv1.ReportWeaponIncidentRequest) { r.OccurTime = timestamppb.New(now.Add(time.Hour)) }, "occur_time"},
		{"no narrative", func(r *sinergiv1.ReportWeaponIncidentRequest) { r.Narrative = "" }, "narrative"},
	} {
		req := &sinergiv1.ReportWeaponIncidentRequest{Access: keeper, IdempotencyKey: "bad-" + serial(t), WeaponId: gas.GetId(),
			Incident: sinergiv1.WeaponIncident_WEAPON_INCIDENT_THEFT, OccurTime: timestamppb.New(now.Add(-time.Hour)), Place: "x", Narrative: "x"}
		tc.edit(req)
		_, err := metro.ReportWeaponIncident(ctx, req)
		wantCode(t, tc.name, err, codes.InvalidArgument, tc.field)
	}
	// SubmitReport files no firearms report of its own making.
	_, err = sinergiv1.NewReportServiceClient(env.ConnAs(t, "lapas-metro")).SubmitReport(ctx, &sinergiv1.SubmitReportRequest{Access: keeper,
		IdempotencyKey: "fake-" + serial(t), Kind: sinergiv1.ReportKind_REPORT_KIND_FIREARMS, Type: sinergiv1.ReportType_REPORT_TYPE_WEAPON_LOST,
		Severity: sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH, Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_BIASA,
		OccurTime: timestamppb.New(now.Add(-time.Hour)), Place: "x", Narrative: "x",
		Items: []*sinergiv1.ReportItem{{Item: &sinergiv1.ReportItem_Weapon{Weapon: &sinergiv1.ReportWeaponItem{WeaponId: gas.GetId(), SerialNumber: "FAKE"}}}}})
	wantCode(t, "SubmitReport of a firearms report", err, codes.InvalidArgument, "kind", "items[0].weapon")
}
