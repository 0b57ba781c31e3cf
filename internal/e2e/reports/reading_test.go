package reports_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// listAll pages through ListReports.
func listAll(t *testing.T, c sinergiv1.ReportServiceClient, req *sinergiv1.ListReportsRequest) []*sinergiv1.Report {
	t.Helper()
	var out []*sinergiv1.Report
	for {
		resp, err := c.ListReports(context.Background(), req)
		if err != nil {
			t.Fatalf("ListReports: %v", err)
		}
		out = append(out, resp.GetReports()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		if len(resp.GetReports()) != int(req.GetPageSize()) && req.GetPageSize() > 0 {
			t.Errorf("a page of %d reports before the last, want %d", len(resp.GetReports()), req.GetPageSize())
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func ids(rs []*sinergiv1.Report) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.GetId())
	}
	return out
}

// TestListReports: filters, order (latest occurrence first), pagination and
// its tokens, for the facility and for the police.
func TestListReports(t *testing.T) {
	env, t0 := start(t, db)
	ctx := context.Background()
	tenggarong := reportsAs(t, env, "lapas-tenggarong")
	polres := reportsAs(t, env, "polres-kutai-kartanegara")
	// A window of time no other test files in.
	from := t0.AddDate(-2, 0, 0)
	type spec struct {
		typ sinergiv1.ReportType
		sev sinergiv1.ReportSeverity
	}
	specs := []spec{
		{sinergiv1.ReportType_REPORT_TYPE_NARCOTICS_SEIZURE, sinergiv1.ReportSeverity_REPORT_SEVERITY_LOW},
		{sinergiv1.ReportType_REPORT_TYPE_FIGHT, sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM},
		{sinergiv1.ReportType_REPORT_TYPE_THREAT_TO_OFFICERS, sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH},
		{sinergiv1.ReportType_REPORT_TYPE_TRADE_FROM_INSIDE, sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM},
		{sinergiv1.ReportType_REPORT_TYPE_DRONE_SIGHTING, sinergiv1.ReportSeverity_REPORT_SEVERITY_LOW},
		{sinergiv1.ReportType_REPORT_TYPE_NARCOTICS_SEIZURE, sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL},
	}
	var filed []*sinergiv1.Report // newest occurrence first
	for i, s := range specs {
		req := submission(t, t0)
		req.Type, req.Kind, req.Severity = s.typ, kindOf(s.typ), s.sev
		req.OccurTime = timestamppb.New(from.Add(time.Duration(i) * time.Hour))
		filed = append([]*sinergiv1.Report{submit(t, tenggarong, req)}, filed...)
	}
	window := func(r *sinergiv1.ListReportsRequest) *sinergiv1.ListReportsRequest {
		r.StartTime, r.EndTime = timestamppb.New(from), timestamppb.New(from.Add(24*time.Hour))
		return r
	}
	pick := func(keep func(*sinergiv1.Report) bool) []string {
		var out []string
		for _, r := range filed {
			if keep(r) {
				out = append(out, r.GetId())
			}
		}
		return out
	}
	toPolice := func(r *sinergiv1.Report) bool { return len(r.GetRecipients()) > 0 }
	if _, err := polres.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer, Id: filed[0].GetId()}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		c    sinergiv1.ReportServiceClient
		req  *sinergiv1.ListReportsRequest
		want []string
	}{
		{"facility, all, by 4", tenggarong, window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, PageSize: 4}), pick(func(*sinergiv1.Report) bool { return true })},
		{"facility, by 1", tenggarong, window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, PageSize: 1}), pick(func(*sinergiv1.Report) bool { return true })},
		{"kind narcotics", tenggarong, window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, Kind: sinergiv1.ReportKind_REPORT_KIND_NARCOTICS}),
			pick(func(r *sinergiv1.Report) bool { return r.GetKind() == sinergiv1.ReportKind_REPORT_KIND_NARCOTICS })},
		{"type seizure", tenggarong, window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, Type: sinergiv1.ReportType_REPORT_TYPE_NARCOTICS_SEIZURE}),
			pick(func(r *sinergiv1.Report) bool {
				return r.GetType() == sinergiv1.ReportType_REPORT_TYPE_NARCOTICS_SEIZURE
			})},
		{"severity medium", tenggarong, window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, Severity: sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM}),
			pick(func(r *sinergiv1.Report) bool {
				return r.GetSeverity() == sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM
			})},
		{"status acknowledged", tenggarong, window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, Status: sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED}),
			[]string{filed[0].GetId()}},
		{"first three hours", tenggarong, &sinergiv1.ListReportsRequest{Access: facilityOfficer, StartTime: timestamppb.New(from), EndTime: timestamppb.New(from.Add(3 * time.Hour))},
			ids(filed[3:])},
		{"police: only what reached it", polres, window(&sinergiv1.ListReportsRequest{Access: policeOfficer, PageSize: 2}), pick(toPolice)},
		{"police: by facility", polres, window(&sinergiv1.ListReportsRequest{Access: policeOfficer, FacilityCode: "lapas-tenggarong"}), pick(toPolice)},
		{"police: another facility", polres, window(&sinergiv1.ListReportsRequest{Access: policeOfficer, FacilityCode: "lpp-tenggarong"}), nil},
		{"police of another region", reportsAs(t, env, "polres-cilacap"), window(&sinergiv1.ListReportsRequest{Access: policeOfficer}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ids(listAll(t, tc.c, tc.req))); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}

	first, err := tenggarong.ListReports(ctx, window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, PageSize: 2}))
	if err != nil {
		t.Fatal(err)
	}
	tok := []byte(first.GetNextPageToken())
	tok[len(tok)/2] ^= 1
	for _, tc := range []struct {
		name   string
		c      sinergiv1.ReportServiceClient
		req    *sinergiv1.ListReportsRequest
		fields []string
	}{
		{"altered token", tenggarong, window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, PageSize: 2, PageToken: string(tok)}), []string{"page_token"}},
		{"token of another query", tenggarong, window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, PageSize: 2, Kind: sinergiv1.ReportKind_REPORT_KIND_THREAT, PageToken: first.GetNextPageToken()}), []string{"page_token"}},
		{"token of another caller", reportsAs(t, env, "lpp-tenggarong"), window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, PageSize: 2, PageToken: first.GetNextPageToken()}), []string{"page_token"}},
		{"type of another kind", tenggarong, &sinergiv1.ListReportsRequest{Access: facilityOfficer, Kind: sinergiv1.ReportKind_REPORT_KIND_THREAT, Type: sinergiv1.ReportType_REPORT_TYPE_RIOT}, []string{"type"}},
		{"unknown status", tenggarong, &sinergiv1.ListReportsRequest{Access: facilityOfficer, Status: 12}, []string{"status"}},
		{"end before start", tenggarong, &sinergiv1.ListReportsRequest{Access: facilityOfficer, StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(-time.Hour))}, []string{"end_time"}},
		{"negative page size", tenggarong, &sinergiv1.ListReportsRequest{Access: facilityOfficer, PageSize: -1}, []string{"page_size"}},
		{"facility code not a code", tenggarong, &sinergiv1.ListReportsRequest{Access: facilityOfficer, FacilityCode: "Lapas Tenggarong"}, []string{"facility_code"}},
		{"no access context", tenggarong, &sinergiv1.ListReportsRequest{}, []string{"access"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.ListReports(ctx, tc.req)
			if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), tc.fields) {
				t.Errorf("%v (fields %v), want InvalidArgument naming %v", err, validate.FieldsOf(err), tc.fields)
			}
		})
	}
	// The ministry oversees its facilities: it lists their reports as they do.
	if diff := cmp.Diff(pick(func(*sinergiv1.Report) bool { return true }),
		ids(listAll(t, reportsAs(t, env, "kemenimipas"), window(&sinergiv1.ListReportsRequest{Access: facilityOfficer, FacilityCode: "lapas-tenggarong"})))); diff != "" {
		t.Errorf("the ministry's list of Lapas Tenggarong's reports (-want +got):\n%s", diff)
	}
}

func kindOf(t sinergiv1.ReportType) sinergiv1.ReportKind {
	switch {
	case t >= 60:
		return sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST
	case t >= 40:
		return sinergiv1.ReportKind_REPORT_KIND_THREAT
	case t >= 20:
		return sinergiv1.ReportKind_REPORT_KIND_NARCOTICS
	}
	return sinergiv1.ReportKind_REPORT_KIND_INCIDENT
}

type countKey struct {
	facility string
	kind     sinergiv1.ReportKind
	typ      sinergiv1.ReportType
	severity sinergiv1.ReportSeverity
	month    string
}

type seizedKey struct {
	substance sinergiv1.ReportSubstance
	unit      sinergiv1.ReportQuantityUnit
}

type sums struct {
	counts map[countKey]int64
	seized map[seizedKey][2]float64 // quantity, items
	phones int64
	total  int64
}

// sumsOf computes the statistics from the reports themselves.
func sumsOf(rs []*sinergiv1.Report) sums {
	s := sums{counts: map[countKey]int64{}, seized: map[seizedKey][2]float64{}}
	for _, r := range rs {
		s.total++
		s.counts[countKey{r.GetFacilityCode(), r.GetKind(), r.GetType(), r.GetSeverity(), r.GetOccurTime().AsTime().In(directory.WIB).Format("2006-01")}]++
		for _, it := range r.GetItems() {
			if sb := it.GetSubstance(); sb != nil {
				k := seizedKey{sb.GetSubstance(), sb.GetUnit()}
				v := s.seized[k]
				s.seized[k] = [2]float64{v[0] + sb.GetQuantity(), v[1] + 1}
			}
			if it.GetPhone() != nil {
				s.phones++
			}
		}
	}
	return s
}

func sumsOfStats(st *sinergiv1.ReportStatsResponse) sums {
	s := sums{counts: map[countKey]int64{}, seized: map[seizedKey][2]float64{}, phones: st.GetPhonesSeized(), total: st.GetTotal()}
	for _, c := range st.GetCounts() {
		s.counts[countKey{c.GetFacilityCode(), c.GetKind(), c.GetType(), c.GetSeverity(), c.GetMonth()}] += c.GetCount()
	}
	for _, q := range st.GetSeized() {
		s.seized[seizedKey{q.GetSubstance(), q.GetUnit()}] = [2]float64{q.GetQuantity(), float64(q.GetItems())}
	}
	return s
}

// TestReportStats: the statistics equal the sums over the stored reports
// each caller can list, with and without filters, for facilities and police;
// and for a window of known reports, they are the figures expected.
func TestReportStats(t *testing.T) {
	env, t0 := start(t, db)
	ctx := context.Background()
	lpp := reportsAs(t, env, "lpp-tenggarong")
	submit(t, reportsAs(t, env, "lapas-permisan"), submission(t, t0)) // something for Lapas Permisan and its police to count
	from := t0.AddDate(-3, 0, 0)                                      // a window of time no other test files in
	gram, tablet := sinergiv1.ReportQuantityUnit_REPORT_QUANTITY_UNIT_GRAM, sinergiv1.ReportQuantityUnit_REPORT_QUANTITY_UNIT_TABLET
	meth, ecstasy := sinergiv1.ReportSubstance_REPORT_SUBSTANCE_METHAMPHETAMINE, sinergiv1.ReportSubstance_REPORT_SUBSTANCE_ECSTASY
	subst := func(s sinergiv1.ReportSubstance, q float64, u sinergiv1.ReportQuantityUnit) *sinergiv1.ReportItem {
		return &sinergiv1.ReportItem{Item: &sinergiv1.ReportItem_Substance{Substance: &sinergiv1.ReportSubstanceItem{Substance: s, Quantity: q, Unit: u}}}
	}
	phone := &sinergiv1.ReportItem{Item: &sinergiv1.ReportItem_Phone{Phone: &sinergiv1.ReportPhoneItem{Imei: "356938035643809"}}}
	for i, items := range [][]*sinergiv1.ReportItem{
		{subst(meth, 1.5, gram), phone},
		{subst(meth, 0.25, gram), subst(ecstasy, 10, tablet)},
		{subst(ecstasy, 4, tablet), phone, phone},
		{},
	} {
		req := submission(t, t0)
		req.Items = items
		// Two in one month (WIB), two in the next: the 1st at 06:00 WIB is
		// still the previous day in UTC.
		month := from.AddDate(0, i/2, 0)
		req.OccurTime = timestamppb.New(time.Date(month.Year(), month.Month(), 1, 6, i, 0, 0, directory.WIB))
		submit(t, lpp, req)
	}
	m1 := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, directory.WIB)
	m2 := m1.AddDate(0, 1, 0)
	win := &sinergiv1.ReportStatsRequest{StartTime: timestamppb.New(m1), EndTime: timestamppb.New(m2.AddDate(0, 1, 0))}
	st, err := lpp.ReportStats(ctx, win)
	if err != nil {
		t.Fatal(err)
	}
	key := func(m time.Time) countKey {
		return countKey{"lpp-tenggarong", sinergiv1.ReportKind_REPORT_KIND_NARCOTICS, sinergiv1.ReportType_REPORT_TYPE_SMUGGLING_VIA_VISITOR,
			sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH, m.Format("2006-01")}
	}
	want := sums{
		counts: map[countKey]int64{key(m1): 2, key(m2): 2},
		seized: map[seizedKey][2]float64{{meth, gram}: {1.75, 2}, {ecstasy, tablet}: {14, 2}},
		phones: 3, total: 4,
	}
	if diff := cmp.Diff(want, sumsOfStats(st), cmp.AllowUnexported(sums{})); diff != "" {
		t.Errorf("statistics of the known window (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		code  string
		stats *sinergiv1.ReportStatsRequest
		list  *sinergiv1.ListReportsRequest
	}{
		{"lpp-tenggarong", &sinergiv1.ReportStatsRequest{}, &sinergiv1.ListReportsRequest{Access: facilityOfficer, PageSize: 7}},
		{"lapas-permisan", &sinergiv1.ReportStatsRequest{}, &sinergiv1.ListReportsRequest{Access: facilityOfficer, PageSize: 50}},
		{"polres-kutai-kartanegara", &sinergiv1.ReportStatsRequest{}, &sinergiv1.ListReportsRequest{Access: policeOfficer, PageSize: 9}},
		{"polres-kutai-kartanegara", &sinergiv1.ReportStatsRequest{FacilityCode: "lpp-tenggarong"}, &sinergiv1.ListReportsRequest{Access: policeOfficer, FacilityCode: "lpp-tenggarong"}},
		{"mabes-polri", &sinergiv1.ReportStatsRequest{}, &sinergiv1.ListReportsRequest{Access: policeOfficer, PageSize: 500}},
		{"mabes-polri", &sinergiv1.ReportStatsRequest{StartTime: win.StartTime, EndTime: win.EndTime},
			&sinergiv1.ListReportsRequest{Access: policeOfficer, StartTime: win.StartTime, EndTime: win.EndTime}},
		{"polda-jawa-tengah", &sinergiv1.ReportStatsRequest{}, &sinergiv1.ListReportsRequest{Access: policeOfficer}},
	} {
		t.Run(tc.code+" "+tc.stats.String(), func(t *testing.T) {
			c := reportsAs(t, env, tc.code)
			st, err := c.ReportStats(ctx, tc.stats)
			if err != nil {
				t.Fatal(err)
			}
			listed := listAll(t, c, tc.list)
			if len(listed) == 0 {
				t.Fatal("nothing to sum: the case proves nothing")
			}
			if diff := cmp.Diff(sumsOf(listed), sumsOfStats(st), cmp.AllowUnexported(sums{}), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("statistics differ from the sums over %d reports (-sums +stats):\n%s", len(listed), diff)
			}
		})
	}
	_, err = lpp.ReportStats(ctx, &sinergiv1.ReportStatsRequest{StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0)})
	if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"end_time"}) {
		t.Errorf("empty range: %v", err)
	}
}

// TestAttachmentsAndReach: attachments up to 10 MiB come back whole with
// their digest; a RAHASIA report reaches its recipients (the MoU covers the
// scope) and nobody else; a report out of reach answers exactly as one that
// does not exist, on every method.
func TestAttachmentsAndReach(t *testing.T) {
	env, t0 := start(t, db)
	ctx := context.Background()
	permisan := reportsAs(t, env, "lapas-permisan")
	big := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16) // exactly 10 MiB
	small := []byte("berita acara penggeledahan")
	req := submission(t, t0)
	req.Kind, req.Type = sinergiv1.ReportKind_REPORT_KIND_THREAT, sinergiv1.ReportType_REPORT_TYPE_PLANNED_ATTACK
	req.Classification = sinergiv1.ReportClassification_REPORT_CLASSIFICATION_RAHASIA
	req.Attachments = []*sinergiv1.ReportAttachment{
		{Filename: "rekaman.mp4", MediaType: "video/mp4", Content: big},
		{Filename: "ba.txt", MediaType: "text/plain", Content: small},
	}
	rep := submit(t, permisan, req)
	id := rep.GetId()
	recv := grpc.MaxCallRecvMsgSize(16 << 20)
	for _, code := range []string{"lapas-permisan", "polsek-nusakambangan", "mabes-polri"} {
		c := reportsAs(t, env, code)
		for i, content := range [][]byte{big, small} {
			resp, err := c.GetReportAttachment(ctx, &sinergiv1.GetReportAttachmentRequest{Access: accessFor(code), ReportId: id, Number: int32(i + 1)}, recv)
			if err != nil {
				t.Fatalf("%s attachment %d: %v", code, i+1, err)
			}
			sum := sha256.Sum256(content)
			a := resp.GetAttachment()
			if !bytes.Equal(a.GetContent(), content) || a.GetSha256() != hex.EncodeToString(sum[:]) || a.GetSizeBytes() != int64(len(content)) || a.GetNumber() != int32(i+1) {
				t.Errorf("%s attachment %d: %d bytes, digest %s, size %d", code, i+1, len(a.GetContent()), a.GetSha256(), a.GetSizeBytes())
			}
		}
	}
	if len(rep.GetAttachments()) != 2 || len(rep.GetAttachments()[0].GetContent()) != 0 {
		t.Error("a report carries its attachments' content")
	}

	// Out of reach: Polres Cilacap's neighbours in Lampung and Kutai
	// Kartanegara received nothing; a facility sees only its own.
	for _, code := range []string{"polres-metro", "polda-lampung", "polres-kutai-kartanegara", "lapas-cipinang"} {
		c := reportsAs(t, env, code)
		acc := accessFor(code)
		t.Run(code, func(t *testing.T) {
			want := missing(t, c, code)
			_, err := c.GetReport(ctx, &sinergiv1.GetReportRequest{Access: acc, Id: id})
			if codeOf(err) != codes.NotFound || err.Error() != want.Error() {
				t.Errorf("GetReport: %v, want exactly %v", err, want)
			}
			_, err = c.GetReportAttachment(ctx, &sinergiv1.GetReportAttachmentRequest{Access: acc, ReportId: id, Number: 2})
			_, errMissing := c.GetReportAttachment(ctx, &sinergiv1.GetReportAttachmentRequest{Access: acc, ReportId: id, Number: 9})
			if codeOf(err) != codes.NotFound || err.Error() != errMissing.Error() {
				t.Errorf("GetReportAttachment: %v, want exactly %v", err, errMissing)
			}
			_, err = c.AddReportAddendum(ctx, &sinergiv1.AddReportAddendumRequest{Access: acc, Id: id, Text: "?"})
			if codeOf(err) != codes.NotFound || err.Error() != want.Error() {
				t.Errorf("AddReportAddendum: %v, want exactly %v", err, want)
			}
			for _, r := range listAll(t, c, &sinergiv1.ListReportsRequest{Access: acc, PageSize: 500}) {
				if r.GetId() == id {
					t.Error("listed")
				}
			}
		})
	}

	// The audit trail names the report and the agreement for each read.
	var subjects, agreements []string
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT subjects, agreement_ids FROM audit_records
		WHERE method = '/sinergi.v1.ReportService/GetReportAttachment' AND caller_code = 'mabes-polri' AND $1 = ANY(subjects) LIMIT 1`,
		"report/"+id).Scan(&subjects, &agreements); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(agreements, []string{mou}) {
		t.Errorf("Mabes's read recorded under %v, want the MoU", agreements)
	}
}

// TestNoPersonalDataInLogs: narratives, names, NIKs, phone numbers and
// addenda never reach the logs, whatever happens to the call; and every
// call is in the audit trail with the officer and purpose.
func TestNoPersonalDataInLogs(t *testing.T) {
	var logs servertest.LogBuffer
	env := servertest.Start(t, db, servertest.Options{Configure: func(c *server.Config) {
		c.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	t0 := time.Now().Truncate(time.Second)
	env.Clock.Set(t0)
	ctx := context.Background()
	permisan := reportsAs(t, env, "lapas-permisan")
	secrets := []string{"NARASI-RAHASIA-7781", "Bambang Sutrisno", "3301120101800007", "081298765432", "ADENDUM-RAHASIA-4420"}
	req := submission(t, t0)
	req.Narrative = "Laporan " + secrets[0]
	req.People[1].GetOutsider().Name, req.People[1].GetOutsider().Nik, req.People[1].GetOutsider().Phone = secrets[1], secrets[2], secrets[3]
	rep := submit(t, permisan, req)
	if _, err := permisan.AddReportAddendum(ctx, &sinergiv1.AddReportAddendumRequest{Access: facilityOfficer, Id: rep.GetId(), Text: secrets[4]}); err != nil {
		t.Fatal(err)
	}
	bad := submission(t, t0)
	bad.Narrative = req.Narrative
	bad.People[1].GetOutsider().Name, bad.People[1].GetOutsider().Nik = secrets[1], secrets[2][:15]
	if _, err := permisan.SubmitReport(ctx, bad); codeOf(err) != codes.InvalidArgument || strings.Contains(err.Error(), secrets[2][:15]) {
		t.Errorf("bad NIK: %v (the error must not repeat it)", err)
	}
	other := submission(t, t0)
	other.IdempotencyKey = req.IdempotencyKey
	if _, err := permisan.SubmitReport(ctx, other); codeOf(err) != codes.AlreadyExists {
		t.Errorf("reused key: %v", err)
	}
	w := openWatch(t, permisan, facilityOfficer, "")
	if _, err := permisan.AddReportAddendum(ctx, &sinergiv1.AddReportAddendumRequest{Access: facilityOfficer, Id: rep.GetId(), Text: secrets[4]}); err != nil {
		t.Fatal(err)
	}
	w.next(1, map[string]string{})
	w.cancel()
	env.Server.Stop() // flush the last lines
	out := logs.String()
	if !strings.Contains(out, rep.GetId()) {
		t.Fatalf("the logs do not mention the report at all; the check proves nothing:\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%q is in the logs", s)
		}
	}

	var operator, purpose, status string
	var agreements, subjects []string
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT operator_id, purpose, status_code, agreement_ids, subjects FROM audit_records
		WHERE method = '/sinergi.v1.ReportService/SubmitReport' AND $1 = ANY(subjects)`, "report/"+rep.GetId()).
		Scan(&operator, &purpose, &status, &agreements, &subjects); err != nil {
		t.Fatal(err)
	}
	if operator != facilityOfficer.OperatorId || purpose != "SECURITY_COORDINATION" || status != "OK" || !cmp.Equal(subjects, []string{"report/" + rep.GetId()}) ||
		!cmp.Equal(agreements, []string{mou}) {
		t.Errorf("audit of the filing: %s %s %s %v %v", operator, purpose, status, agreements, subjects)
	}
}
