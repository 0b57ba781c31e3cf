package api

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func TestIMEI(t *testing.T) {
	for imei, want := range map[string]bool{
		"490154203237518":  true,
		"356938035643809":  true,
		"490154203237519":  false, // check digit off by one
		"49015420323751":   false,
		"4901542032375180": false,
		"49015420323751a":  false,
		"":                 false,
	} {
		if got := reportIMEIValid(imei); got != want {
			t.Errorf("reportIMEIValid(%q) = %v, want %v", imei, got, want)
		}
	}
}

func validSubmission() *sinergiv1.SubmitReportRequest {
	return &sinergiv1.SubmitReportRequest{
		Access:         &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION},
		IdempotencyKey: "lapas-permisan:2025-09-01:0001",
		Kind:           sinergiv1.ReportKind_REPORT_KIND_NARCOTICS,
		Type:           sinergiv1.ReportType_REPORT_TYPE_NARCOTICS_SEIZURE,
		Severity:       sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH,
		Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_BIASA,
		OccurTime:      timestamppb.New(time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)),
		Place:          "Blok C",
		Narrative:      "Ditemukan paket di saluran air.",
		People: []*sinergiv1.ReportPerson{{Person: &sinergiv1.ReportPerson_Outsider{Outsider: &sinergiv1.ReportOutsider{
			Name: "A", Nik: "3301124508900001", Phone: "+6281234567890"}}, Role: sinergiv1.ReportPersonRole_REPORT_PERSON_ROLE_COURIER}},
		Items: []*sinergiv1.ReportItem{{Item: &sinergiv1.ReportItem_Substance{Substance: &sinergiv1.ReportSubstanceItem{
			Substance: sinergiv1.ReportSubstance_REPORT_SUBSTANCE_CANNABIS, Quantity: 3, Unit: sinergiv1.ReportQuantityUnit_REPORT_QUANTITY_UNIT_GRAM}}}},
		Attachments: []*sinergiv1.ReportAttachment{{Filename: "a.jpg", MediaType: "image/jpeg", Content: []byte{1, 2, 3}}},
	}
}

func TestValidSubmissionPasses(t *testing.T) {
	if err := validate.Request(validSubmission()); err != nil {
		t.Fatal(err)
	}
}

// FuzzSubmitReportValidator: whatever bytes arrive as a submission, the
// validator answers nil or INVALID_ARGUMENT naming fields; it never panics.
func FuzzSubmitReportValidator(f *testing.F) {
	valid, err := proto.Marshal(validSubmission())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte{})
	bad := validSubmission()
	bad.Items[0].GetSubstance().Quantity = -1
	bad.People[0].GetOutsider().Nik = "9999999999999999"
	b, _ := proto.Marshal(bad)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req sinergiv1.SubmitReportRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		err := validate.Request(&req)
		if err != nil && (status.Code(err) != codes.InvalidArgument || len(validate.FieldsOf(err)) == 0) {
			t.Fatalf("validator answered %v", err)
		}
	})
}
