package reports_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// createKanwil registers the regional office code for province region, as
// the ministry, and issues its certificate.
func createKanwil(t *testing.T, env *servertest.Env, url, code, region string) {
	t.Helper()
	ctx := context.Background()
	inst := sinergiv1.NewInstitutionServiceClient(env.ConnAs(t, "kemenimipas"))
	if _, err := inst.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: ministryAdmin, Institution: &sinergiv1.Institution{
		Code: code, Name: "Kanwil Kemenimipas " + region, Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL,
		RegionCode: region, ParentCode: "kemenimipas"}}); err != nil {
		t.Fatal(err)
	}
	if err := devenv.DevPKI(ctx, url, env.PKIDir, pki.DefaultTrustDomain); err != nil {
		t.Fatal(err)
	}
}

// warning is a valid police warning to facility: a courier known to the
// police visits on Thursday.
func warning(t *testing.T, at time.Time, facility string) *sinergiv1.SubmitReportRequest {
	return &sinergiv1.SubmitReportRequest{
		Access:         policeOfficer,
		IdempotencyKey: key(t),
		FacilityCode:   facility,
		Kind:           sinergiv1.ReportKind_REPORT_KIND_NARCOTICS,
		Type:           sinergiv1.ReportType_REPORT_TYPE_SMUGGLING_VIA_VISITOR,
		Severity:       sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH,
		Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_TERBATAS,
		OccurTime:      timestamppb.New(at.Add(-time.Hour)),
		Place:          "Ruang kunjungan",
		Narrative:      "Kurir jaringan sabu dijadwalkan berkunjung Kamis pagi; paket disembunyikan di bawah alas kaki.",
		People: []*sinergiv1.ReportPerson{{Person: &sinergiv1.ReportPerson_Outsider{Outsider: &sinergiv1.ReportOutsider{Name: "Rudi Hartono", Phone: "081298765432"}},
			Role: sinergiv1.ReportPersonRole_REPORT_PERSON_ROLE_COURIER}},
	}
}

// TestPoliceWarnsFacility: a police unit warns a facility of its
// jurisdiction under the agreement in force for the kind's scope; the
// facility, watching, receives the warning and acknowledges it within the
// severity's deadline; the unit sees the acknowledgement live and in the
// report; the facility's regional office is told of every event; nobody
// else reads it; a warning left unacknowledged escalates to the regional
// office.
func TestPoliceWarnsFacility(t *testing.T) {
	d := freshDB(t)
	env, now := start(t, d)
	ctx := context.Background()
	createKanwil(t, env, d.URL, "kanwil-jateng", "33")
	polres, permisan := reportsAs(t, env, "polres-cilacap"), reportsAs(t, env, "lapas-permisan")
	kanwil := reportsAs(t, env, "kanwil-jateng")
	oversight := &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}

	facilityWatch := openWatch(t, permisan, facilityOfficer, "")
	policeWatch := openWatch(t, polres, policeOfficer, "")
	kanwilWatch := openWatch(t, kanwil, oversight, "")

	req := warning(t, now, "lapas-permisan")
	resp, err := polres.SubmitReport(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetReport()
	id := got.GetId()
	wantRecipients := []*sinergiv1.ReportRecipient{{InstitutionCode: "lapas-permisan", AgreementIds: []string{"mou-2025-kemenimipas-polri"},
		Reason: sinergiv1.ReportRecipientReason_REPORT_RECIPIENT_REASON_ROUTED, AddTime: timestamppb.New(now),
		AcknowledgeDeadline: timestamppb.New(now.Add(time.Hour))}}
	if diff := cmp.Diff(wantRecipients, got.GetRecipients(), protocmp.Transform()); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	if got.GetAuthorCode() != "polres-cilacap" || got.GetFacilityCode() != "lapas-permisan" || !cmp.Equal(got.GetObserverCodes(), []string{"kanwil-jateng"}) {
		t.Errorf("author %q facility %q observers %v, want polres-cilacap, lapas-permisan, [kanwil-jateng]", got.GetAuthorCode(), got.GetFacilityCode(), got.GetObserverCodes())
	}
	if diff := cmp.Diff(got, get(t, polres, "polres-cilacap", id), protocmp.Transform()); diff != "" {
		t.Errorf("GetReport differs from the submission's answer (-submit +get):\n%s", diff)
	}
	names := map[string]string{id: "W"}
	for who, w := range map[string]*watch{"facility": facilityWatch, "police": policeWatch, "regional office": kanwilWatch} {
		if diff := cmp.Diff([]string{"W/1 REPORT_EVENT_KIND_SUBMITTED"}, w.next(1, names)); diff != "" {
			t.Errorf("%s's watch (-want +got):\n%s", who, diff)
		}
	}

	// The facility acknowledges; the unit sees it live and in the report.
	env.Clock.Set(now.Add(20 * time.Minute))
	ack, err := permisan.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: facilityOfficer, Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if ack.GetReport().GetStatus() != sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED {
		t.Errorf("after the facility's acknowledgement: %v", ack.GetReport().GetStatus())
	}
	msg, err := policeWatch.stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ev := msg.GetEvent(); ev.GetKind() != sinergiv1.ReportEventKind_REPORT_EVENT_KIND_ACKNOWLEDGED || ev.GetRecipientCode() != "lapas-permisan" ||
		ev.GetOperatorId() != facilityOfficer.OperatorId {
		t.Errorf("the unit was told %v, want the facility's acknowledgement", ev)
	}
	rc := get(t, polres, "polres-cilacap", id).GetRecipients()[0]
	if !rc.GetAcknowledgeTime().AsTime().Equal(now.Add(20*time.Minute)) || rc.GetAcknowledgeOperatorId() != facilityOfficer.OperatorId {
		t.Errorf("the unit reads the recipient as %v", rc)
	}
	if diff := cmp.Diff([]string{"W/2 REPORT_EVENT_KIND_ACKNOWLEDGED"}, kanwilWatch.next(1, names)); diff != "" {
		t.Errorf("regional office's watch (-want +got):\n%s", diff)
	}
	// The facility acts on it and closes it; the unit may not (it is no recipient).
	if _, err := polres.UpdateReportStatus(ctx, &sinergiv1.UpdateReportStatusRequest{Access: policeOfficer, Id: id,
		Status: sinergiv1.ReportStatus_REPORT_STATUS_IN_ACTION}); codeOf(err) != codes.FailedPrecondition {
		t.Errorf("the author changing the status: %v, want FailedPrecondition", err)
	}
	if _, err := permisan.UpdateReportStatus(ctx, &sinergiv1.UpdateReportStatusRequest{Access: facilityOfficer, Id: id,
		Status: sinergiv1.ReportStatus_REPORT_STATUS_CLOSED, Outcome: sinergiv1.ReportOutcome_REPORT_OUTCOME_ITEMS_SEIZED}); err != nil {
		t.Fatal(err)
	}
	if _, err := polres.AddReportAddendum(ctx, &sinergiv1.AddReportAddendumRequest{Access: policeOfficer, Id: id, Text: "Terima kasih; kurir ditangkap di pintu masuk."}); err != nil {
		t.Errorf("the author's addendum: %v", err)
	}
	if diff := cmp.Diff([]string{"W/3 REPORT_EVENT_KIND_STATUS_CHANGED", "W/4 REPORT_EVENT_KIND_ADDENDUM_ADDED"}, facilityWatch.next(3, names)[1:]); diff != "" {
		t.Errorf("facility's watch (-want +got):\n%s", diff)
	}

	// Nobody else reads it: another unit, the Polda above, another facility.
	for _, code := range []string{"polda-jawa-tengah", "polsek-nusakambangan", "polres-metro", "lapas-metro"} {
		c := reportsAs(t, env, code)
		_, err := c.GetReport(ctx, &sinergiv1.GetReportRequest{Access: accessFor(code), Id: id})
		if want := missing(t, c, code); err == nil || err.Error() != want.Error() {
			t.Errorf("read by %s: %v, want exactly %v", code, err, want)
		}
	}
	// The regional office and the ministry read it as their own data.
	for _, code := range []string{"kanwil-jateng", "kemenimipas"} {
		if _, err := reportsAs(t, env, code).GetReport(ctx, &sinergiv1.GetReportRequest{Access: oversight, Id: id}); err != nil {
			t.Errorf("read by %s: %v", code, err)
		}
	}

	// A retry returns the same warning; keys are the author's own.
	again, err := polres.SubmitReport(ctx, req)
	if err != nil || !again.GetReplayed() || again.GetReport().GetId() != id {
		t.Errorf("retry: %v %v, want the same report replayed", again, err)
	}
	mine := submission(t, now)
	mine.IdempotencyKey = req.GetIdempotencyKey()
	if r, err := permisan.SubmitReport(ctx, mine); err != nil || r.GetReplayed() {
		t.Errorf("the facility's own report under the unit's key: %v %v, want a new report", r, err)
	}

	// Left unacknowledged past its deadline, a warning escalates to the
	// regional office, which is told.
	env.Clock.Set(now)
	late := submit(t, polres, warning(t, now, "lapas-permisan")).GetId()
	names[late] = "L"
	env.Clock.Set(now.Add(time.Hour))
	if n := tick(t, env); n != 1 {
		t.Fatalf("escalated %d, want 1", n)
	}
	evs := get(t, polres, "polres-cilacap", late).GetEvents()
	if last := evs[len(evs)-1]; last.GetKind() != sinergiv1.ReportEventKind_REPORT_EVENT_KIND_ESCALATED ||
		last.GetEscalatedFromCode() != "lapas-permisan" || last.GetRecipientCode() != "kanwil-jateng" {
		t.Errorf("last event %v, want the escalation past the facility to its regional office", last)
	}
	if diff := cmp.Diff([]string{"L/1 REPORT_EVENT_KIND_SUBMITTED", "L/2 REPORT_EVENT_KIND_ESCALATED"}, kanwilWatch.next(4, names)[2:]); diff != "" {
		t.Errorf("regional office's watch (-want +got):\n%s", diff)
	}
}

// TestWarningRules: what a police warning may be, field by field, and
// where a unit may send one.
func TestWarningRules(t *testing.T) {
	d := freshDB(t)
	env, now := start(t, d)
	ctx := context.Background()
	polres := reportsAs(t, env, "polres-cilacap")
	for _, tc := range []struct {
		name   string
		as     string
		edit   func(r *sinergiv1.SubmitReportRequest)
		code   codes.Code
		fields []string
	}{
		{"no facility", "polres-cilacap", func(r *sinergiv1.SubmitReportRequest) { r.FacilityCode = "" }, codes.InvalidArgument, []string{"facility_code"}},
		{"not a facility", "polres-cilacap", func(r *sinergiv1.SubmitReportRequest) { r.FacilityCode = "polsek-nusakambangan" }, codes.InvalidArgument, []string{"facility_code"}},
		{"an incident", "polres-cilacap", func(r *sinergiv1.SubmitReportRequest) {
			r.Kind, r.Type = sinergiv1.ReportKind_REPORT_KIND_INCIDENT, sinergiv1.ReportType_REPORT_TYPE_RIOT
		}, codes.InvalidArgument, []string{"kind"}},
		{"a custody record", "polres-cilacap", func(r *sinergiv1.SubmitReportRequest) {
			r.People = append(r.People, &sinergiv1.ReportPerson{Person: &sinergiv1.ReportPerson_CustodyRecordId{CustodyRecordId: "01900000-0000-7000-8000-000000000000"},
				Role: sinergiv1.ReportPersonRole_REPORT_PERSON_ROLE_SUSPECT})
		}, codes.InvalidArgument, []string{"people[1].custody_record_id"}},
		// Lampung is outside Polres Cilacap's jurisdiction, and no
		// agreement names the two.
		{"outside its reach", "polres-cilacap", func(r *sinergiv1.SubmitReportRequest) { r.FacilityCode = "lapas-metro" }, codes.FailedPrecondition, nil},
		// Mabes' jurisdiction is the whole country.
		{"Mabes anywhere", "mabes-polri", func(r *sinergiv1.SubmitReportRequest) { r.FacilityCode = "lapas-metro" }, codes.OK, nil},
		{"a facility naming another", "lapas-permisan", func(r *sinergiv1.SubmitReportRequest) { r.Access, r.FacilityCode = facilityOfficer, "lapas-metro" },
			codes.InvalidArgument, []string{"facility_code"}},
		{"the ministry", "kemenimipas", func(r *sinergiv1.SubmitReportRequest) { r.Access = facilityOfficer; r.FacilityCode = "" }, codes.PermissionDenied, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := warning(t, now, "lapas-permisan")
			tc.edit(req)
			c := polres
			if tc.as != "polres-cilacap" {
				c = reportsAs(t, env, tc.as)
			}
			_, err := c.SubmitReport(ctx, req)
			if codeOf(err) != tc.code {
				t.Fatalf("%v, want %v", err, tc.code)
			}
			if tc.fields != nil && !cmp.Equal(validate.FieldsOf(err), tc.fields) {
				t.Errorf("fields %v, want %v", validate.FieldsOf(err), tc.fields)
			}
		})
	}
}
