// Package reports_test proves ReportService end to end, through the
// generated client over mutual TLS against a real server on a real
// PostgreSQL: filing and its validation field by field, idempotent retries,
// routing for every facility of the demo directory, acknowledgement
// deadlines and the escalation chain under an injected clock, the workflow
// and its append-only history, watching with resumable cursors across
// server processes, statistics, and what each institution may see.
package reports_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/reports"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// freshDB gives a test its own database (see pgtest.Fresh).
func freshDB(t *testing.T) *pgtest.DB { return pgtest.Fresh(t) }

// Officers: an NIP (facility staff, civil servants) and an NRP (police).
var (
	facilityOfficer = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}
	policeOfficer   = &sinergiv1.AccessContext{OperatorId: "85031234", Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}
	// Administrators of each side.
	ministryAdmin = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
	policeAdmin   = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
)

// accessFor is the access context an institution's officer uses.
func accessFor(code string) *sinergiv1.AccessContext {
	if strings.HasPrefix(code, "pol") || code == "mabes-polri" {
		return policeOfficer
	}
	return facilityOfficer
}

// start runs a server whose clock stands at now (to the second), so that
// deadlines and event times are exact.
func start(t *testing.T, d *pgtest.DB) (*servertest.Env, time.Time) {
	t.Helper()
	env := servertest.Start(t, d, servertest.Options{})
	now := time.Now().Truncate(time.Second)
	env.Clock.Set(now)
	return env, now
}

func reportsAs(t *testing.T, env *servertest.Env, code string) sinergiv1.ReportServiceClient {
	t.Helper()
	return sinergiv1.NewReportServiceClient(env.ConnAs(t, code))
}

// escalator is a pass of the escalation worker on env's database at env's
// clock, run by the test itself instead of waiting for the worker.
func escalator(env *servertest.Env) *reports.Escalator {
	return &reports.Escalator{Store: env.Server.Store, Audit: env.Server.Writer.Sealer(), Directory: env.Server.Directory, Now: env.Clock.Now, Log: env.Server.Config().Log}
}

func tick(t *testing.T, env *servertest.Env) int {
	t.Helper()
	n, err := escalator(env).Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var (
	keySeq    atomic.Int64
	keyUnsafe = regexp.MustCompile(`[^A-Za-z0-9._:-]`)
)

// key is a fresh idempotency key.
func key(t *testing.T) string {
	name := keyUnsafe.ReplaceAllString(t.Name(), "_")
	if len(name) > 80 {
		name = name[:80]
	}
	return fmt.Sprintf("%s:%d:%d", name, time.Now().UnixNano(), keySeq.Add(1))
}

// submission is a valid narcotics report.
func submission(t *testing.T, at time.Time) *sinergiv1.SubmitReportRequest {
	return &sinergiv1.SubmitReportRequest{
		Access:         facilityOfficer,
		IdempotencyKey: key(t),
		Kind:           sinergiv1.ReportKind_REPORT_KIND_NARCOTICS,
		Type:           sinergiv1.ReportType_REPORT_TYPE_SMUGGLING_VIA_VISITOR,
		Severity:       sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH,
		Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_TERBATAS,
		OccurTime:      timestamppb.New(at.Add(-time.Hour)),
		Place:          "Ruang kunjungan blok B",
		Narrative:      "Pengunjung kedapatan menyelipkan paket sabu di dalam sandal saat pemeriksaan.",
		People: []*sinergiv1.ReportPerson{
			{Person: &sinergiv1.ReportPerson_Outsider{Outsider: &sinergiv1.ReportOutsider{Name: "Bayu Saputra"}}, Role: sinergiv1.ReportPersonRole_REPORT_PERSON_ROLE_ORGANIZER},
			{Person: &sinergiv1.ReportPerson_Outsider{Outsider: &sinergiv1.ReportOutsider{Name: "Siti Rahayu", Nik: "3301124508900001", Phone: "081234567890"}},
				Role: sinergiv1.ReportPersonRole_REPORT_PERSON_ROLE_COURIER},
		},
		Items: []*sinergiv1.ReportItem{
			{Item: &sinergiv1.ReportItem_Substance{Substance: &sinergiv1.ReportSubstanceItem{
				Substance: sinergiv1.ReportSubstance_REPORT_SUBSTANCE_METHAMPHETAMINE, Quantity: 12.5, Unit: sinergiv1.ReportQuantityUnit_REPORT_QUANTITY_UNIT_GRAM}}},
			{Item: &sinergiv1.ReportItem_Phone{Phone: &sinergiv1.ReportPhoneItem{Imei: "490154203237518"}}},
		},
	}
}

func submit(t *testing.T, c sinergiv1.ReportServiceClient, req *sinergiv1.SubmitReportRequest) *sinergiv1.Report {
	t.Helper()
	resp, err := c.SubmitReport(context.Background(), req)
	if err != nil {
		t.Fatalf("SubmitReport: %v", err)
	}
	return resp.GetReport()
}

func get(t *testing.T, c sinergiv1.ReportServiceClient, code, id string) *sinergiv1.Report {
	t.Helper()
	resp, err := c.GetReport(context.Background(), &sinergiv1.GetReportRequest{Access: accessFor(code), Id: id})
	if err != nil {
		t.Fatalf("GetReport(%s) as %s: %v", id, code, err)
	}
	return resp.GetReport()
}

func recipientCodes(r *sinergiv1.Report) []string {
	var out []string
	for _, rc := range r.GetRecipients() {
		out = append(out, rc.GetInstitutionCode())
	}
	return out
}

func codeOf(err error) codes.Code { return status.Code(err) }

func wib(date string) time.Time {
	t, err := time.ParseInLocation("2006-01-02", date, directory.WIB)
	if err != nil {
		panic(err)
	}
	return t
}

// missing is the answer to GetReport for a report that does not exist.
func missing(t *testing.T, c sinergiv1.ReportServiceClient, code string) error {
	t.Helper()
	_, err := c.GetReport(context.Background(), &sinergiv1.GetReportRequest{Access: accessFor(code), Id: "01900000-0000-7000-8000-000000000000"})
	if codeOf(err) != codes.NotFound {
		t.Fatalf("GetReport of a report that does not exist: %v, want NotFound", err)
	}
	return err
}
