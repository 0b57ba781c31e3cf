package reports_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestSubmitReportValidation: every field of a submission is checked, and a
// bad one is INVALID_ARGUMENT naming exactly the bad fields; nothing of a
// refused submission is stored.
func TestSubmitReportValidation(t *testing.T) {
	env, now := start(t, db)
	c := reportsAs(t, env, "lapas-permisan")
	ctx := context.Background()

	outsider := func(r *sinergiv1.SubmitReportRequest) *sinergiv1.ReportOutsider { return r.People[1].GetOutsider() }
	substance := func(r *sinergiv1.SubmitReportRequest) *sinergiv1.ReportSubstanceItem {
		return r.Items[0].GetSubstance()
	}
	attach := func(r *sinergiv1.SubmitReportRequest, as ...*sinergiv1.ReportAttachment) { r.Attachments = as }
	jpeg := func(n int) *sinergiv1.ReportAttachment {
		return &sinergiv1.ReportAttachment{Filename: "foto.jpg", MediaType: "image/jpeg", Content: bytes.Repeat([]byte{0xff}, n)}
	}
	var keys []string
	for _, tc := range []struct {
		name   string
		change func(r *sinergiv1.SubmitReportRequest)
		fields []string
	}{
		{"no idempotency key", func(r *sinergiv1.SubmitReportRequest) { r.IdempotencyKey = "" }, []string{"idempotency_key"}},
		{"idempotency key too short", func(r *sinergiv1.SubmitReportRequest) { r.IdempotencyKey = "abc" }, []string{"idempotency_key"}},
		{"idempotency key with a space", func(r *sinergiv1.SubmitReportRequest) { r.IdempotencyKey = "abc def ghi" }, []string{"idempotency_key"}},
		{"idempotency key too long", func(r *sinergiv1.SubmitReportRequest) { r.IdempotencyKey = strings.Repeat("k", 129) }, []string{"idempotency_key"}},
		{"no kind", func(r *sinergiv1.SubmitReportRequest) { r.Kind = 0 }, []string{"kind"}},
		{"unknown kind", func(r *sinergiv1.SubmitReportRequest) { r.Kind = 99 }, []string{"kind"}},
		{"no type", func(r *sinergiv1.SubmitReportRequest) { r.Type = 0 }, []string{"type"}},
		{"unknown type", func(r *sinergiv1.SubmitReportRequest) { r.Type = 999 }, []string{"type"}},
		{"type of another kind", func(r *sinergiv1.SubmitReportRequest) { r.Type = sinergiv1.ReportType_REPORT_TYPE_RIOT }, []string{"type"}},
		{"no severity", func(r *sinergiv1.SubmitReportRequest) { r.Severity = 0 }, []string{"severity"}},
		{"unknown severity", func(r *sinergiv1.SubmitReportRequest) { r.Severity = 9 }, []string{"severity"}},
		{"no classification", func(r *sinergiv1.SubmitReportRequest) { r.Classification = 0 }, []string{"classification"}},
		{"unknown classification", func(r *sinergiv1.SubmitReportRequest) { r.Classification = 7 }, []string{"classification"}},
		{"no occur time", func(r *sinergiv1.SubmitReportRequest) { r.OccurTime = nil }, []string{"occur_time"}},
		{"occur time not a time", func(r *sinergiv1.SubmitReportRequest) { r.OccurTime = &timestamppb.Timestamp{Nanos: -1} }, []string{"occur_time"}},
		{"occur time before 2000", func(r *sinergiv1.SubmitReportRequest) { r.OccurTime = timestamppb.New(wib("1999-12-31")) }, []string{"occur_time"}},
		{"occur time in the future", func(r *sinergiv1.SubmitReportRequest) { r.OccurTime = timestamppb.New(now.Add(time.Hour)) }, []string{"occur_time"}},
		{"no place", func(r *sinergiv1.SubmitReportRequest) { r.Place = "" }, []string{"place"}},
		{"blank place", func(r *sinergiv1.SubmitReportRequest) { r.Place = "   " }, []string{"place"}},
		{"place with a control character", func(r *sinergiv1.SubmitReportRequest) { r.Place = "blok\x07B" }, []string{"place"}},
		{"place too long", func(r *sinergiv1.SubmitReportRequest) { r.Place = strings.Repeat("é", 201) }, []string{"place"}},
		{"no narrative", func(r *sinergiv1.SubmitReportRequest) { r.Narrative = "" }, []string{"narrative"}},
		{"narrative too long", func(r *sinergiv1.SubmitReportRequest) { r.Narrative = strings.Repeat("a", 20001) }, []string{"narrative"}},
		{"person neither in custody nor outsider", func(r *sinergiv1.SubmitReportRequest) { r.People[0].Person = nil }, []string{"people[0]"}},
		{"empty custody record reference", func(r *sinergiv1.SubmitReportRequest) {
			r.People[0].Person = &sinergiv1.ReportPerson_CustodyRecordId{}
		}, []string{"people[0].custody_record_id"}},
		{"custody record reference with a space", func(r *sinergiv1.SubmitReportRequest) {
			r.People[0].Person = &sinergiv1.ReportPerson_CustodyRecordId{CustodyRecordId: "a b"}
		}, []string{"people[0].custody_record_id"}},
		{"person without role", func(r *sinergiv1.SubmitReportRequest) { r.People[0].Role = 0 }, []string{"people[0].role"}},
		{"person with unknown role", func(r *sinergiv1.SubmitReportRequest) { r.People[1].Role = 42 }, []string{"people[1].role"}},
		{"outsider without name", func(r *sinergiv1.SubmitReportRequest) { outsider(r).Name = "" }, []string{"people[1].outsider.name"}},
		{"outsider NIK too short", func(r *sinergiv1.SubmitReportRequest) { outsider(r).Nik = "33011245" }, []string{"people[1].outsider.nik"}},
		{"outsider NIK of no province", func(r *sinergiv1.SubmitReportRequest) { outsider(r).Nik = "9901124508900001" }, []string{"people[1].outsider.nik"}},
		{"outsider NIK with day 32", func(r *sinergiv1.SubmitReportRequest) { outsider(r).Nik = "3301123208900001" }, []string{"people[1].outsider.nik"}},
		{"outsider phone not Indonesian", func(r *sinergiv1.SubmitReportRequest) { outsider(r).Phone = "+31612345678" }, []string{"people[1].outsider.phone"}},
		{"outsider phone with letters", func(r *sinergiv1.SubmitReportRequest) { outsider(r).Phone = "0812-abc" }, []string{"people[1].outsider.phone"}},
		{"too many people", func(r *sinergiv1.SubmitReportRequest) {
			for len(r.People) <= 100 {
				r.People = append(r.People, proto.Clone(r.People[0]).(*sinergiv1.ReportPerson))
			}
		}, []string{"people"}},
		{"substance unspecified", func(r *sinergiv1.SubmitReportRequest) { substance(r).Substance = 0 }, []string{"items[0].substance.substance"}},
		{"quantity zero", func(r *sinergiv1.SubmitReportRequest) { substance(r).Quantity = 0 }, []string{"items[0].substance.quantity"}},
		{"quantity negative", func(r *sinergiv1.SubmitReportRequest) { substance(r).Quantity = -3 }, []string{"items[0].substance.quantity"}},
		{"quantity NaN", func(r *sinergiv1.SubmitReportRequest) { substance(r).Quantity = math.NaN() }, []string{"items[0].substance.quantity"}},
		{"quantity infinite", func(r *sinergiv1.SubmitReportRequest) { substance(r).Quantity = math.Inf(1) }, []string{"items[0].substance.quantity"}},
		{"no unit", func(r *sinergiv1.SubmitReportRequest) { substance(r).Unit = 0 }, []string{"items[0].substance.unit"}},
		{"other substance without description", func(r *sinergiv1.SubmitReportRequest) {
			substance(r).Substance = sinergiv1.ReportSubstance_REPORT_SUBSTANCE_OTHER
		}, []string{"items[0].description"}},
		{"IMEI with a wrong check digit", func(r *sinergiv1.SubmitReportRequest) { r.Items[1].GetPhone().Imei = "490154203237519" }, []string{"items[1].phone.imei"}},
		{"IMEI of 14 digits", func(r *sinergiv1.SubmitReportRequest) { r.Items[1].GetPhone().Imei = "49015420323751" }, []string{"items[1].phone.imei"}},
		{"item neither substance nor phone, undescribed", func(r *sinergiv1.SubmitReportRequest) {
			r.Items = append(r.Items, &sinergiv1.ReportItem{})
		}, []string{"items[2].description"}},
		{"attachment without file name", func(r *sinergiv1.SubmitReportRequest) {
			a := jpeg(10)
			a.Filename = ""
			attach(r, a)
		}, []string{"attachments[0].filename"}},
		{"attachment file name with a directory", func(r *sinergiv1.SubmitReportRequest) {
			a := jpeg(10)
			a.Filename = "../etc/passwd"
			attach(r, jpeg(1), a)
		}, []string{"attachments[1].filename"}},
		{"attachment media type not one", func(r *sinergiv1.SubmitReportRequest) {
			a := jpeg(10)
			a.MediaType = "JPEG"
			attach(r, a)
		}, []string{"attachments[0].media_type"}},
		{"attachment empty", func(r *sinergiv1.SubmitReportRequest) { attach(r, jpeg(0)) }, []string{"attachments[0].content"}},
		{"attachment digest not hexadecimal", func(r *sinergiv1.SubmitReportRequest) {
			a := jpeg(10)
			a.Sha256 = strings.Repeat("z", 64)
			attach(r, a)
		}, []string{"attachments[0].sha256"}},
		{"attachment digest of other content", func(r *sinergiv1.SubmitReportRequest) {
			a := jpeg(10)
			sum := sha256.Sum256([]byte("other"))
			a.Sha256 = hex.EncodeToString(sum[:])
			attach(r, a)
		}, []string{"attachments[0].sha256"}},
		{"attachment number set by the client", func(r *sinergiv1.SubmitReportRequest) {
			a := jpeg(10)
			a.Number = 3
			attach(r, a)
		}, []string{"attachments[0].number"}},
		{"attachment over 10 MiB", func(r *sinergiv1.SubmitReportRequest) { attach(r, jpeg(10<<20+1)) }, []string{"attachments[0].content"}},
		{"attachments over 15 MiB together", func(r *sinergiv1.SubmitReportRequest) { attach(r, jpeg(8<<20), jpeg(7<<20+512<<10)) }, []string{"attachments"}},
		{"no access context", func(r *sinergiv1.SubmitReportRequest) { r.Access = nil }, []string{"access"}},
		{"officer id neither NIP nor NRP", func(r *sinergiv1.SubmitReportRequest) {
			r.Access = &sinergiv1.AccessContext{OperatorId: "12345", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}
		}, []string{"access.operator_id"}},
		{"several at once", func(r *sinergiv1.SubmitReportRequest) {
			r.IdempotencyKey, r.Severity, r.Place = "", 0, ""
			substance(r).Quantity = -1
		}, []string{"idempotency_key", "severity", "place", "items[0].substance.quantity"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := submission(t, now)
			tc.change(req)
			keys = append(keys, req.GetIdempotencyKey())
			_, err := c.SubmitReport(ctx, req, grpc.MaxCallSendMsgSize(32<<20))
			if codeOf(err) != codes.InvalidArgument {
				t.Fatalf("SubmitReport: %v, want InvalidArgument", err)
			}
			if diff := cmp.Diff(tc.fields, validate.FieldsOf(err)); diff != "" {
				t.Errorf("bad fields (-want +got):\n%s\n(%v)", diff, err)
			}
		})
	}
	var stored int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM reports WHERE idempotency_key = ANY($1)`, keys).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("%d refused submissions were stored", stored)
	}

	t.Run("valid with line breaks, several attachments and every kind of person and item", func(t *testing.T) {
		req := submission(t, now)
		req.Narrative = "Baris satu.\nBaris dua,\tdengan tab."
		req.Items = append(req.Items, &sinergiv1.ReportItem{Description: "Timbangan digital kecil"})
		content := []byte("JFIF… bukan foto sungguhan")
		sum := sha256.Sum256(content)
		req.Attachments = []*sinergiv1.ReportAttachment{
			{Filename: "barang-bukti.jpg", MediaType: "image/jpeg", Content: content, Sha256: strings.ToUpper(hex.EncodeToString(sum[:]))},
			{Filename: "berita acara.pdf", MediaType: "application/pdf", Content: []byte("%PDF-1.7")},
		}
		resp, err := c.SubmitReport(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.GetReport()
		if resp.GetReplayed() {
			t.Error("a first submission reads as replayed")
		}
		pdf := sha256.Sum256([]byte("%PDF-1.7"))
		want := &sinergiv1.Report{
			Id: got.GetId(), FacilityCode: "lapas-permisan", Kind: req.Kind, Type: req.Type, Severity: req.Severity,
			Classification: req.Classification, OccurTime: req.OccurTime, Place: req.Place, Narrative: req.Narrative,
			People: req.People, Items: req.Items, OperatorId: facilityOfficer.OperatorId, SubmitTime: timestamppb.New(now),
			Status: sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED, AuthorCode: "lapas-permisan",
			Attachments: []*sinergiv1.ReportAttachment{
				{Number: 1, Filename: "barang-bukti.jpg", MediaType: "image/jpeg", SizeBytes: int64(len(content)), Sha256: hex.EncodeToString(sum[:])},
				{Number: 2, Filename: "berita acara.pdf", MediaType: "application/pdf", SizeBytes: 8, Sha256: hex.EncodeToString(pdf[:])},
			},
			Events: []*sinergiv1.ReportEvent{{ReportId: got.GetId(), Number: 1, Kind: sinergiv1.ReportEventKind_REPORT_EVENT_KIND_SUBMITTED,
				Time: timestamppb.New(now), ActorCode: "lapas-permisan", OperatorId: facilityOfficer.OperatorId, Status: sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED}},
		}
		if diff := cmp.Diff(want, got, protocmp.Transform(), protocmp.IgnoreFields(&sinergiv1.Report{}, "recipients")); diff != "" {
			t.Errorf("filed report (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(got, get(t, c, "lapas-permisan", got.GetId()), protocmp.Transform()); diff != "" {
			t.Errorf("GetReport differs from the submission's answer (-submit +get):\n%s", diff)
		}
	})

	t.Run("facilities file, police units warn a facility they name", func(t *testing.T) {
		for _, code := range []string{"polres-cilacap", "mabes-polri"} {
			req := submission(t, now)
			req.Access = accessFor(code)
			if _, err := reportsAs(t, env, code).SubmitReport(ctx, req); codeOf(err) != codes.InvalidArgument ||
				!slices.Contains(validate.FieldsOf(err), "facility_code") {
				t.Errorf("SubmitReport as %s without a facility: %v, want InvalidArgument naming facility_code", code, err)
			}
		}
		req := submission(t, now)
		req.Access = accessFor("kemenimipas")
		if _, err := reportsAs(t, env, "kemenimipas").SubmitReport(ctx, req); codeOf(err) != codes.PermissionDenied {
			t.Errorf("SubmitReport as the ministry: %v, want PermissionDenied", err)
		}
	})
}

// TestSubmitIdempotent: a retry with the same key and content returns the
// same report and files nothing more, even when the retries race; the same
// key with other content is ALREADY_EXISTS; keys are per facility.
func TestSubmitIdempotent(t *testing.T) {
	env, now := start(t, db)
	permisan := reportsAs(t, env, "lapas-permisan")
	ctx := context.Background()

	req := submission(t, now)
	first, err := permisan.SubmitReport(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Minute) // a retry comes later
	again, err := permisan.SubmitReport(ctx, proto.Clone(req).(*sinergiv1.SubmitReportRequest))
	if err != nil {
		t.Fatal(err)
	}
	if !again.GetReplayed() || first.GetReplayed() {
		t.Errorf("replayed: first %v, retry %v; want false, true", first.GetReplayed(), again.GetReplayed())
	}
	if diff := cmp.Diff(first.GetReport(), again.GetReport(), protocmp.Transform()); diff != "" {
		t.Errorf("retry returned another report (-first +retry):\n%s", diff)
	}

	other := proto.Clone(req).(*sinergiv1.SubmitReportRequest)
	other.Narrative += " Ditambah kalimat."
	if _, err := permisan.SubmitReport(ctx, other); codeOf(err) != codes.AlreadyExists {
		t.Errorf("same key, other content: %v, want AlreadyExists", err)
	}
	other = proto.Clone(req).(*sinergiv1.SubmitReportRequest)
	other.Items[0].GetSubstance().Quantity = 12.25
	if _, err := permisan.SubmitReport(ctx, other); codeOf(err) != codes.AlreadyExists {
		t.Errorf("same key, other quantity: %v, want AlreadyExists", err)
	}

	elsewhere, err := reportsAs(t, env, "lapas-metro").SubmitReport(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if elsewhere.GetReplayed() || elsewhere.GetReport().GetId() == first.GetReport().GetId() || elsewhere.GetReport().GetFacilityCode() != "lapas-metro" {
		t.Errorf("the same key at another facility: %v", elsewhere)
	}

	// Blind retries racing each other: one files, the rest get its report.
	race := submission(t, now)
	const n = 12
	var wg sync.WaitGroup
	results := make([]*sinergiv1.SubmitReportResponse, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = permisan.SubmitReport(ctx, proto.Clone(race).(*sinergiv1.SubmitReportRequest))
		}()
	}
	wg.Wait()
	filed := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("racing retry %d: %v", i, errs[i])
		}
		if !results[i].GetReplayed() {
			filed++
		}
		if results[i].GetReport().GetId() != results[0].GetReport().GetId() {
			t.Errorf("racing retry %d got report %s, another %s", i, results[i].GetReport().GetId(), results[0].GetReport().GetId())
		}
	}
	if filed != 1 {
		t.Errorf("%d of the racing retries filed a report, want 1", filed)
	}
	for _, k := range []string{req.GetIdempotencyKey(), race.GetIdempotencyKey()} {
		var rows, events int
		if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(DISTINCT r.id), count(e.id) FROM reports r JOIN report_events e ON e.report_id = r.id
			WHERE r.facility_code = 'lapas-permisan' AND r.idempotency_key = $1`, k).Scan(&rows, &events); err != nil {
			t.Fatal(err)
		}
		if rows != 1 || events != 1 {
			t.Errorf("key %s: %d reports with %d events stored, want 1 and 1", k, rows, events)
		}
	}
}
