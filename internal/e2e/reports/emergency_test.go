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

// tenggarongRiot is a critical riot at LPKA Tenggarong, whose only incident
// agreement expired on 25 January 2025.
func tenggarongRiot(t *testing.T, at time.Time, justification string) *sinergiv1.SubmitReportRequest {
	return &sinergiv1.SubmitReportRequest{
		Access:         facilityOfficer,
		IdempotencyKey: key(t),
		Kind:           sinergiv1.ReportKind_REPORT_KIND_INCIDENT,
		Type:           sinergiv1.ReportType_REPORT_TYPE_RIOT,
		Severity:       sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL,
		Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_TERBATAS,
		OccurTime:      timestamppb.New(at.Add(-2 * time.Minute)),
		Place:          "Wisma anak blok B",
		Narrative:      "Perkelahian massal meluas menjadi kerusuhan; dua petugas terluka, api di ruang makan.",
		People: []*sinergiv1.ReportPerson{{Person: &sinergiv1.ReportPerson_Outsider{Outsider: &sinergiv1.ReportOutsider{Name: "Petugas Jaga Ahmad"}},
			Role: sinergiv1.ReportPersonRole_REPORT_PERSON_ROLE_VICTIM}},
		Attachments:            []*sinergiv1.ReportAttachment{{Filename: "cctv.jpg", MediaType: "image/jpeg", Content: []byte("bukan foto sungguhan")}},
		EmergencyJustification: justification,
	}
}

// TestEmergencyOverride: a riot at LPKA Tenggarong reaches the Polres and
// the Polda of its region although no agreement in force covers incident
// reports there: flagged as an emergency override, without the people and
// attachments, on the facility's justification. The facility sees at once
// which units no agreement covered and why; its regional office is told;
// the units acknowledge as any recipient; the ministry and Mabes list it
// for review. Without a justification the riot reaches nobody, as before,
// and the misses still alert the regional office. A suspended unit is a
// miss the facility sees.
func TestEmergencyOverride(t *testing.T) {
	d := freshDB(t)
	env, now := start(t, d)
	ctx := context.Background()
	createKanwil(t, env, d.URL, "kanwil-kaltim", "64")
	lpka, polres := reportsAs(t, env, "lpka-tenggarong"), reportsAs(t, env, "polres-kutai-kartanegara")
	kanwil := reportsAs(t, env, "kanwil-kaltim")
	oversightNIP := &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
	oversightNRP := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
	polresWatch := openWatch(t, polres, policeOfficer, "")
	kanwilWatch := openWatch(t, kanwil, oversightNIP, "")

	const why = "Kerusuhan dengan korban luka; PKS keamanan dan ketertiban dengan Polres Kukar telah berakhir."
	resp, err := lpka.SubmitReport(ctx, tenggarongRiot(t, now, why))
	if err != nil {
		t.Fatal(err)
	}
	rep := resp.GetReport()
	id := rep.GetId()
	override := func(code string) *sinergiv1.ReportRecipient {
		return &sinergiv1.ReportRecipient{InstitutionCode: code, Reason: sinergiv1.ReportRecipientReason_REPORT_RECIPIENT_REASON_EMERGENCY_OVERRIDE,
			AddTime: timestamppb.New(now), AcknowledgeDeadline: timestamppb.New(now.Add(10 * time.Minute))}
	}
	wantRecipients := []*sinergiv1.ReportRecipient{override("polres-kutai-kartanegara"), override("polda-kalimantan-timur")}
	if diff := cmp.Diff(wantRecipients, rep.GetRecipients(), protocmp.Transform()); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	// At once: the facility sees why no agreement covered them.
	wantMisses := []*sinergiv1.ReportRoutingMiss{
		{InstitutionCode: "polres-kutai-kartanegara", Gap: sinergiv1.CoverageGap_COVERAGE_GAP_EXPIRED, AgreementId: "pks-2024-lpka-tenggarong-polres-kukar",
			GapTime: timestamppb.New(wib("2025-01-25"))},
		{InstitutionCode: "polda-kalimantan-timur", Gap: sinergiv1.CoverageGap_COVERAGE_GAP_SCOPE_NOT_COVERED},
	}
	if diff := cmp.Diff(wantMisses, rep.GetRoutingMisses(), protocmp.Transform()); diff != "" {
		t.Errorf("routing misses (-want +got):\n%s", diff)
	}
	if rep.GetEmergencyJustification() != why || !cmp.Equal(rep.GetObserverCodes(), []string{"kanwil-kaltim"}) {
		t.Errorf("justification %q observers %v", rep.GetEmergencyJustification(), rep.GetObserverCodes())
	}

	// The Polres is told, with only what the emergency needs.
	names := map[string]string{id: "E"}
	msg, err := polresWatch.stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	seen := msg.GetReport()
	if seen.GetId() != id || seen.GetNarrative() == "" || len(seen.GetPeople()) != 0 || len(seen.GetAttachments()) != 0 || len(seen.GetRoutingMisses()) != 0 {
		t.Errorf("the Polres received %v", seen)
	}
	if r := get(t, polres, "polres-kutai-kartanegara", id); len(r.GetPeople()) != 0 || len(r.GetAttachments()) != 0 || r.GetPlace() == "" {
		t.Errorf("the Polres reads %v", r)
	}
	if _, err := polres.GetReportAttachment(ctx, &sinergiv1.GetReportAttachmentRequest{Access: policeOfficer, ReportId: id, Number: 1}); codeOf(err) != codes.NotFound {
		t.Errorf("the Polres reading the attachment: %v, want NotFound", err)
	}
	// The facility keeps it whole, and the regional office is alerted with the misses.
	if r := get(t, lpka, "lpka-tenggarong", id); len(r.GetPeople()) != 1 || len(r.GetAttachments()) != 1 {
		t.Errorf("the facility reads %v", r)
	}
	kmsg, err := kanwilWatch.stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if kmsg.GetReport().GetId() != id || len(kmsg.GetReport().GetRoutingMisses()) != 2 {
		t.Errorf("the regional office was told %v", kmsg.GetReport())
	}
	// Another unit reads nothing of it.
	other := reportsAs(t, env, "polres-metro")
	if _, err := other.GetReport(ctx, &sinergiv1.GetReportRequest{Access: policeOfficer, Id: id}); codeOf(err) != codes.NotFound {
		t.Errorf("read by another unit: %v, want NotFound", err)
	}

	// The units acknowledge and act as any recipient.
	env.Clock.Set(now.Add(4 * time.Minute))
	if _, err := polres.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer, Id: id}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"E/2 REPORT_EVENT_KIND_ACKNOWLEDGED"}, kanwilWatch.next(1, names)); diff != "" {
		t.Errorf("regional office's watch (-want +got):\n%s", diff)
	}

	// Without a justification: nobody, and the regional office alerted.
	env.Clock.Set(now.Add(5 * time.Minute))
	plain := submit(t, lpka, tenggarongRiot(t, now.Add(5*time.Minute), ""))
	if len(plain.GetRecipients()) != 0 || len(plain.GetRoutingMisses()) != 2 || !cmp.Equal(plain.GetObserverCodes(), []string{"kanwil-kaltim"}) {
		t.Errorf("without a justification: recipients %v misses %v observers %v", plain.GetRecipients(), plain.GetRoutingMisses(), plain.GetObserverCodes())
	}
	names[plain.GetId()] = "P"
	if diff := cmp.Diff([]string{"P/1 REPORT_EVENT_KIND_SUBMITTED"}, kanwilWatch.next(1, names)); diff != "" {
		t.Errorf("regional office's watch (-want +got):\n%s", diff)
	}

	// Both sides' oversight reviews the override.
	for code, access := range map[string]*sinergiv1.AccessContext{"kemenimipas": oversightNIP, "mabes-polri": oversightNRP} {
		list, err := reportsAs(t, env, code).ListEmergencyOverrides(ctx, &sinergiv1.ListEmergencyOverridesRequest{Access: access})
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if len(list.GetOverrides()) != 1 {
			t.Fatalf("%s lists %v, want the one override", code, list.GetOverrides())
		}
		o := list.GetOverrides()[0]
		acked := override("polres-kutai-kartanegara")
		acked.AcknowledgeTime, acked.AcknowledgeOperatorId = timestamppb.New(now.Add(4*time.Minute)), policeOfficer.OperatorId
		want := &sinergiv1.EmergencyOverride{ReportId: id, FacilityCode: "lpka-tenggarong", Kind: sinergiv1.ReportKind_REPORT_KIND_INCIDENT,
			Type: sinergiv1.ReportType_REPORT_TYPE_RIOT, Severity: sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL, SubmitTime: timestamppb.New(now),
			OperatorId: facilityOfficer.OperatorId, Justification: why, OverrideRecipients: []*sinergiv1.ReportRecipient{acked, override("polda-kalimantan-timur")},
			RoutingMisses: wantMisses, Status: sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED}
		if diff := cmp.Diff(want, o, protocmp.Transform()); diff != "" {
			t.Errorf("%s reviews (-want +got):\n%s", code, diff)
		}
	}
	for _, code := range []string{"lpka-tenggarong", "polres-kutai-kartanegara", "kanwil-kaltim"} {
		if _, err := reportsAs(t, env, code).ListEmergencyOverrides(ctx, &sinergiv1.ListEmergencyOverridesRequest{Access: accessFor(code)}); codeOf(err) != codes.PermissionDenied {
			t.Errorf("%s listing overrides: %v, want PermissionDenied", code, err)
		}
	}

	// A justification only for an emergency, never for a secret report,
	// never from the police.
	for name, edit := range map[string]func(r *sinergiv1.SubmitReportRequest){
		"not critical": func(r *sinergiv1.SubmitReportRequest) { r.Severity = sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH },
		"not life-threatening": func(r *sinergiv1.SubmitReportRequest) {
			r.Type = sinergiv1.ReportType_REPORT_TYPE_DRONE_SIGHTING
		},
		"secret": func(r *sinergiv1.SubmitReportRequest) {
			r.Classification = sinergiv1.ReportClassification_REPORT_CLASSIFICATION_RAHASIA
		},
	} {
		req := tenggarongRiot(t, now, why)
		edit(req)
		_, err := lpka.SubmitReport(ctx, req)
		if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"emergency_justification"}) {
			t.Errorf("%s: %v, want InvalidArgument naming emergency_justification", name, err)
		}
	}
	w := warning(t, now, "lapas-tenggarong")
	w.EmergencyJustification = why
	if _, err := polres.SubmitReport(ctx, w); codeOf(err) != codes.InvalidArgument {
		t.Errorf("a police warning with a justification: %v, want InvalidArgument", err)
	}

	// A suspended unit is a miss the facility sees at once.
	admin := sinergiv1.NewInstitutionServiceClient(env.ConnAs(t, "mabes-polri"))
	if _, err := admin.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Code: "polres-kutai-kartanegara",
		Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED, Access: policeAdmin}); err != nil {
		t.Fatal(err)
	}
	if err := env.Server.Directory.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	narcotics := submit(t, reportsAs(t, env, "lapas-tenggarong"), submission(t, now))
	if diff := cmp.Diff([]string{"polda-kalimantan-timur", "mabes-polri"}, recipientCodes(narcotics)); diff != "" {
		t.Errorf("recipients with the Polres suspended (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*sinergiv1.ReportRoutingMiss{{InstitutionCode: "polres-kutai-kartanegara", Suspended: true}}, narcotics.GetRoutingMisses(), protocmp.Transform()); diff != "" {
		t.Errorf("misses with the Polres suspended (-want +got):\n%s", diff)
	}
	// An emergency passes over a suspended unit.
	again := submit(t, lpka, tenggarongRiot(t, now, why))
	if diff := cmp.Diff([]string{"polda-kalimantan-timur"}, recipientCodes(again)); diff != "" {
		t.Errorf("override recipients with the Polres suspended (-want +got):\n%s", diff)
	}
}
