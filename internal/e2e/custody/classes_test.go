package custody_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// classesEnv is a directory where Polda Metro Jaya reaches three facilities
// under three kinds of agreement and nothing else: the national data PKS is
// revoked, so what remains are the demo's PKS naming it (custody events
// only with Lapas Permisan; detainee data without children's data with LPKA
// Tenggarong) and one with Lapas Cipinang that covers children's data too.
// Mabes Polri then has no agreement for detainee data at all.
type classesEnv struct {
	env *servertest.Env
	// The people: an adult at Permisan (events only), a child at the LPKA
	// (detainee data, no children's data), a 17-year-old at Cipinang
	// (children's data).
	events, detainee, children *sinergiv1.CustodyRecord
	pmj                        sinergiv1.CustodyServiceClient
}

const childrenPKS = "pks-test-cipinang-pmj-children"

func newClassesEnv(t *testing.T) *classesEnv {
	t.Helper()
	env := servertest.Start(t, freshDB(t), servertest.Options{})
	ctx := context.Background()
	ministry := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "kemenimipas"))
	if _, err := ministry.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: ministryAdmin, Id: "pks-2025-kemenimipas-polri-data"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := ministry.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: ministryAdmin, Agreement: &sinergiv1.Agreement{
		Id: childrenPKS, Number: "PKS/TEST/ANAK", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
		Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "lapas-cipinang"}},
			{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "polda-metro-jaya"}}},
		Scopes:        []sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA, sinergiv1.Scope_SCOPE_CHILDREN_DATA, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS},
		EffectiveTime: timestamppb.New(now.Add(-time.Hour)),
	}}); err != nil {
		t.Fatal(err)
	}
	confirm(t, env, childrenPKS)

	e := &classesEnv{env: env, pmj: custodyAs(t, env, "polda-metro-jaya")}
	upsert := func(code string, rec *sinergiv1.CustodyRecord) *sinergiv1.CustodyRecord {
		r, err := custodyAs(t, env, code).UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetRecord()
	}
	e.events = upsert("lapas-permisan", person(unique("PE."), "Yusuf Hidayat "+randomWord(6), date("1979-07-07"), sinergiv1.Sex_SEX_MALE, "317501"))
	child := person(unique("AN."), "Rizky Maulana "+randomWord(6), now.AddDate(-15, 0, 0), sinergiv1.Sex_SEX_MALE, "317501")
	child.LegalStatus = &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CHILD}
	e.detainee = upsert("lpka-tenggarong", child)
	young := person(unique("CI."), "Fajar Nugroho "+randomWord(6), now.AddDate(-17, -1, 0), sinergiv1.Sex_SEX_MALE, "317501")
	e.children = upsert("lapas-cipinang", young)
	return e
}

// TestDataClassMatrix: each class of data needs the scope that covers it,
// the same way in every read, search, stream, watch and report. Under custody
// events alone, an event says what happened where, never who; under detainee
// data without children's data, a child's identity is initials; under
// children's data, everything.
func TestDataClassMatrix(t *testing.T) {
	e := newClassesEnv(t)
	env, pmj, ctx := e.env, e.pmj, context.Background()
	at := time.Now().Add(-2 * time.Hour).Truncate(time.Second)

	// Watch lists: by NIK, the three of them.
	for _, r := range []*sinergiv1.CustodyRecord{e.events, e.detainee, e.children} {
		if _, err := pmj.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, Nik: r.GetIdentity().GetNik(), Reason: "DPO",
			ExpireTime: timestamppb.New(time.Now().Add(24 * time.Hour))}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, rid := withRequestID(ctx)
	w := watch(t, wctx, pmj, analyst, "")
	admit := func(code string, r *sinergiv1.CustodyRecord) {
		t.Helper()
		if _, err := event(ctx, custodyAs(t, env, code), r.GetId(), admission, at); err != nil {
			t.Fatal(err)
		}
	}
	admit("lapas-permisan", e.events)
	admit("lpka-tenggarong", e.detainee)
	admit("lapas-cipinang", e.children)
	got := w.next(3)
	byRecord := map[string]*sinergiv1.WatchCustodyEventsResponse{}
	for _, m := range got {
		byRecord[m.GetEvent().GetRecordId()] = m
	}

	t.Run("events only", func(t *testing.T) {
		m := byRecord[e.events.GetId()]
		ev := m.GetEvent()
		// The watch matched the NIK the unit gave, yet the delivery names nobody.
		if m.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_WATCH || m.GetSubject() != nil || ev.GetRegisterNumber() != "" ||
			!slices.Equal(m.GetWithheldClasses(), []sinergiv1.DataClass{sinergiv1.DataClass_DATA_CLASS_IDENTITY}) {
			t.Errorf("delivery %v, want no subject, no register number, identity withheld", m)
		}
		if ev.GetFacilityCode() != "lapas-permisan" || ev.GetType() != admission || !ev.GetEffectiveTime().AsTime().Equal(at) || ev.GetStatusAfter() != heldSt {
			t.Errorf("event %v lacks its facility, type, time or status", ev)
		}
		// Reads and searches: nothing, as for a record that does not exist.
		_, err := pmj.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: e.events.GetId()})
		_, missing := pmj.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: "00000000-0000-4000-8000-000000000000"})
		if status.Code(err) != codes.NotFound || err.Error() != missing.Error() {
			t.Errorf("read: %v, want exactly %v", err, missing)
		}
		if _, err := pmj.ListCustodyEvents(ctx, &sinergiv1.ListCustodyEventsRequest{Access: analyst, RecordId: e.events.GetId()}); status.Code(err) != codes.NotFound {
			t.Errorf("events of the record: %v, want NotFound", err)
		}
		for _, req := range []*sinergiv1.SearchCustodyRecordsRequest{{Nik: e.events.GetIdentity().GetNik()}, {FacilityCode: "lapas-permisan"}} {
			req.Access = analyst
			if r, err := pmj.SearchCustodyRecords(ctx, req); err != nil || len(r.GetRecords()) != 0 {
				t.Errorf("search %v: %v %v, want nothing", req, r, err)
			}
		}
		// Presence is what custody events cover: where, since when.
		p, err := pmj.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, Nik: e.events.GetIdentity().GetNik()})
		if err != nil || !p.GetHeld() || len(p.GetPlacements()) != 1 || p.GetPlacements()[0].GetFacilityCode() != "lapas-permisan" {
			t.Errorf("presence: %v %v, want held at lapas-permisan", p, err)
		}
	})

	t.Run("detainee data without children's data", func(t *testing.T) {
		m := byRecord[e.detainee.GetId()]
		// A NIK watch does not find a child the unit may not identify: the
		// event comes for its jurisdiction, masked.
		if m.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_JURISDICTION || !m.GetIdentityMasked() || m.GetSubject().GetNik() != "" ||
			m.GetSubject().GetFullName() == e.detainee.GetIdentity().GetFullName() || !strings.HasPrefix(m.GetSubject().GetFullName(), "R. M.") {
			t.Errorf("delivery %v, want a masked jurisdiction delivery", m)
		}
		r, err := pmj.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: e.detainee.GetId()})
		if err != nil || !r.GetRecord().GetIdentityMasked() || r.GetRecord().GetIdentity().GetNik() != "" || r.GetRecord().GetLegalStatus().GetKind() != sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CHILD {
			t.Errorf("read: %v %v, want the record with the child's identity masked", r, err)
		}
		if s, err := pmj.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Nik: e.detainee.GetIdentity().GetNik()}); err != nil || len(s.GetRecords()) != 0 {
			t.Errorf("search by the child's NIK: %v %v, want nothing", s, err)
		}
		s, err := pmj.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, FacilityCode: "lpka-tenggarong"})
		if err != nil || len(s.GetRecords()) != 1 || !s.GetRecords()[0].GetIdentityMasked() {
			t.Errorf("search by facility: %v %v, want the record, masked", s, err)
		}
		if p, err := pmj.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, Nik: e.detainee.GetIdentity().GetNik()}); err != nil || p.GetHeld() {
			t.Errorf("presence by the child's NIK: %v %v, want not held", p, err)
		}
	})

	t.Run("children's data", func(t *testing.T) {
		m := byRecord[e.children.GetId()]
		if m.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_WATCH || m.GetIdentityMasked() || m.GetSubject().GetNik() != e.children.GetIdentity().GetNik() ||
			len(m.GetWithheldClasses()) != 0 {
			t.Errorf("delivery %v, want the watched child's full identity", m)
		}
		r, err := pmj.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: e.children.GetId()})
		if err != nil || !r.GetRecord().GetChild() || r.GetRecord().GetIdentityMasked() || r.GetRecord().GetIdentity().GetFullName() != e.children.GetIdentity().GetFullName() {
			t.Errorf("read: %v %v, want the child's record in full", r, err)
		}
		s, err := pmj.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Nik: e.children.GetIdentity().GetNik()})
		if err != nil || len(s.GetRecords()) != 1 || s.GetRecords()[0].GetIdentityMasked() {
			t.Errorf("search by NIK: %v %v", s, err)
		}
		if p, err := pmj.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, Nik: e.children.GetIdentity().GetNik()}); err != nil || !p.GetHeld() {
			t.Errorf("presence: %v %v, want held", p, err)
		}
	})

	t.Run("each delivery audited under the agreement that covers it", func(t *testing.T) {
		want := map[string][]string{
			e.events.GetId():   {"pks-2026-lapas-permisan-polda-metro-jaya-events"},
			e.detainee.GetId(): {"pks-2026-lpka-tenggarong-polda-metro-jaya"},
			e.children.GetId(): {childrenPKS},
		}
		seen := 0
		for _, a := range auditOf(t, env, rid) {
			for id, ags := range want {
				if n := countOf(a.Subjects, subject(id)); n > 0 {
					seen += n // a record of several deliveries names each
					sort.Strings(a.Agreements)
					if !cmp.Equal(a.Agreements, ags) {
						t.Errorf("delivery of %s audited under %v, want %v", id, a.Agreements, ags)
					}
				}
			}
		}
		if seen != 3 {
			t.Errorf("%d deliveries audited, want 3", seen)
		}
	})

	t.Run("reports", func(t *testing.T) {
		// Reports travel under their own scope: the MoU's narcotics
		// intelligence reaches Polda Metro Jaya from Cipinang (its
		// jurisdiction), never from the facilities its PKS name.
		rep := sinergiv1.NewReportServiceClient(env.ConnAs(t, "polda-metro-jaya"))
		officer := &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}
		for _, tc := range []struct {
			facility string
			rec      *sinergiv1.CustodyRecord
			visible  bool
		}{{"lapas-cipinang", e.children, true}, {"lapas-permisan", e.events, false}, {"lpka-tenggarong", e.detainee, false}} {
			filed, err := sinergiv1.NewReportServiceClient(env.ConnAs(t, tc.facility)).SubmitReport(ctx, &sinergiv1.SubmitReportRequest{
				Access: officer, IdempotencyKey: unique("classes-report-"), Kind: sinergiv1.ReportKind_REPORT_KIND_NARCOTICS,
				Type: sinergiv1.ReportType_REPORT_TYPE_TRADE_FROM_INSIDE, Severity: sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM,
				Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_BIASA, OccurTime: timestamppb.New(at), Place: "Blok A",
				Narrative: "Transaksi dikendalikan dari dalam.",
				People: []*sinergiv1.ReportPerson{{Person: &sinergiv1.ReportPerson_CustodyRecordId{CustodyRecordId: tc.rec.GetId()},
					Role: sinergiv1.ReportPersonRole_REPORT_PERSON_ROLE_ORGANIZER}},
			})
			if err != nil {
				t.Fatalf("%s files: %v", tc.facility, err)
			}
			got, err := rep.GetReport(ctx, &sinergiv1.GetReportRequest{Access: analyst, Id: filed.GetReport().GetId()})
			switch {
			case tc.visible && (err != nil || got.GetReport().GetPeople()[0].GetCustodyRecordId() != tc.rec.GetId()):
				t.Errorf("report of %s: %v %v, want it with its link", tc.facility, got, err)
			case !tc.visible && status.Code(err) != codes.NotFound:
				t.Errorf("report of %s: %v, want NotFound", tc.facility, err)
			}
		}
	})
}

// TestNoPresenceOracles: no call tells a caller where or whether a person
// is held when CheckPresence could not: a record, a NIK or a report link
// outside the caller's reach answers exactly as one that does not exist,
// and leaves an audit record of the same shape. The time each takes is
// measured over 200 calls and logged (not asserted: see make bench).
func TestNoPresenceOracles(t *testing.T) {
	e := newClassesEnv(t)
	env, pmj, ctx := e.env, e.pmj, context.Background()
	// In Lampung: outside Polda Metro Jaya's reach; and no agreement gives
	// Mabes detainee data any more.
	elsewhere := admitted(t, custodyAs(t, env, "lapas-metro"), person(unique("OR."), "Slamet Widodo "+randomWord(6), date("1975-05-05"), sinergiv1.Sex_SEX_MALE, "187201"), time.Now().Add(-time.Hour))
	const missingID = "00000000-0000-4000-8000-00000000abcd"
	unknownNIK := person(unique("X."), "x", date("1975-05-05"), sinergiv1.Sex_SEX_MALE, "187201").GetIdentity().GetNik()

	// same asserts that two calls answered alike and were audited alike.
	same := func(t *testing.T, name string, a, b func(ctx context.Context) (any, error)) {
		t.Helper()
		ctxA, ridA := withRequestID(ctx)
		ctxB, ridB := withRequestID(ctx)
		ra, errA := a(ctxA)
		rb, errB := b(ctxB)
		if status.Code(errA) != status.Code(errB) || (errA != nil && errA.Error() != errB.Error()) ||
			!cmp.Equal(validate.FieldsOf(errA), validate.FieldsOf(errB)) {
			t.Errorf("%s: %v and %v, want the same answer", name, errA, errB)
		}
		if errA == nil && !protoEqual(ra, rb) {
			t.Errorf("%s: %v and %v, want the same answer", name, ra, rb)
		}
		shape := func(rows []auditRow) []auditRow {
			for i := range rows {
				rows[i].Subjects, rows[i].Agreements = nil, nil
			}
			return rows
		}
		auditA, auditB := auditOf(t, env, ridA), auditOf(t, env, ridB)
		if len(auditA) != 1 || len(auditB) != 1 || len(auditA[0].Subjects) != 0 || len(auditB[0].Subjects) != 0 ||
			!cmp.Equal(shape(auditA), shape(auditB)) {
			t.Errorf("%s: audited as %+v and %+v, want one record each, alike, naming no subject", name, auditA, auditB)
		}
		// Time, over many calls of each, interleaved, logged for the reader.
		const n = 200
		da, db := make([]time.Duration, n), make([]time.Duration, n)
		for i := range n {
			start := time.Now()
			_, _ = a(ctx)
			da[i] = time.Since(start)
			start = time.Now()
			_, _ = b(ctx)
			db[i] = time.Since(start)
		}
		slices.Sort(da)
		slices.Sort(db)
		t.Logf("%s, over %d calls each: median %v and %v, 90th percentile %v and %v (out of reach, missing)",
			name, n, da[n/2], db[n/2], da[n*9/10], db[n*9/10])
	}

	t.Run("AddWatch by record", func(t *testing.T) {
		addWatch := func(id string) func(context.Context) (any, error) {
			return func(ctx context.Context) (any, error) {
				return pmj.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, RecordId: id, Reason: "probe",
					ExpireTime: timestamppb.New(time.Now().Add(time.Hour))})
			}
		}
		same(t, "AddWatch", addWatch(elsewhere.GetId()), addWatch(missingID))
		// One in reach (custody events, Permisan) can be watched.
		if _, err := addWatch(e.events.GetId())(ctx); err != nil {
			t.Errorf("AddWatch of a record in reach: %v", err)
		}
	})

	t.Run("ListSubjectAccess", func(t *testing.T) {
		mabes := sinergiv1.NewAuditServiceClient(env.ConnAs(t, "mabes-polri"))
		dsr := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST, CaseReference: "PDP/0042/XI/2026"}
		byNIK := func(n string) func(context.Context) (any, error) {
			return func(ctx context.Context) (any, error) {
				return mabes.ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: dsr, Nik: n})
			}
		}
		bySubject := func(id string) func(context.Context) (any, error) {
			return func(ctx context.Context) (any, error) {
				return mabes.ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: dsr, Subject: subject(id)})
			}
		}
		same(t, "ListSubjectAccess by NIK", byNIK(elsewhere.GetIdentity().GetNik()), byNIK(unknownNIK))
		same(t, "ListSubjectAccess by record", bySubject(elsewhere.GetId()), bySubject(missingID))
		// A child's NIK, to one that may not identify children: the same.
		same(t, "ListSubjectAccess by a child's NIK", byNIK(e.detainee.GetIdentity().GetNik()), byNIK(unknownNIK))
		// The ministry, whose records they are, is answered.
		ministry := sinergiv1.NewAuditServiceClient(env.ConnAs(t, "kemenimipas"))
		r, err := ministry.ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: &sinergiv1.AccessContext{OperatorId: "198503152010011001",
			Purpose: sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST, CaseReference: "PDP/0042/XI/2026"}, Nik: elsewhere.GetIdentity().GetNik()})
		if err != nil || len(r.GetAccesses()) == 0 {
			t.Errorf("the ministry's question: %v %v, want the accesses (the facility's own writes at least)", r, err)
		}
	})

	t.Run("report links", func(t *testing.T) {
		permisan := sinergiv1.NewReportServiceClient(env.ConnAs(t, "lapas-permisan"))
		submit := func(id string) func(context.Context) (any, error) {
			return func(ctx context.Context) (any, error) {
				return permisan.SubmitReport(ctx, &sinergiv1.SubmitReportRequest{
					Access:         &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION},
					IdempotencyKey: "oracle-probe-key", Kind: sinergiv1.ReportKind_REPORT_KIND_INCIDENT, Type: sinergiv1.ReportType_REPORT_TYPE_FIGHT,
					Severity: sinergiv1.ReportSeverity_REPORT_SEVERITY_LOW, Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_BIASA,
					OccurTime: timestamppb.New(time.Now().Add(-time.Hour)), Place: "Blok C", Narrative: "Perkelahian.",
					People: []*sinergiv1.ReportPerson{{Person: &sinergiv1.ReportPerson_CustodyRecordId{CustodyRecordId: id},
						Role: sinergiv1.ReportPersonRole_REPORT_PERSON_ROLE_WITNESS}},
				})
			}
		}
		same(t, "SubmitReport linking another facility's record", submit(elsewhere.GetId()), submit(missingID))
		_, err := submit(elsewhere.GetId())(ctx)
		if status.Code(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"people[0].custody_record_id"}) {
			t.Errorf("link to another facility's record: %v, want InvalidArgument naming people[0].custody_record_id", err)
		}
	})

	t.Run("a watch ends with its agreement", func(t *testing.T) {
		byNIK, err := pmj.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, Nik: e.events.GetIdentity().GetNik(), Reason: "DPO",
			ExpireTime: timestamppb.New(time.Now().Add(24 * time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		byRecord, err := pmj.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, RecordId: e.events.GetId(), Reason: "DPO",
			ExpireTime: timestamppb.New(time.Now().Add(24 * time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		const eventsPKS = "pks-2026-lapas-permisan-polda-metro-jaya-events"
		if !cmp.Equal(byRecord.GetWatch().GetAgreementIds(), []string{eventsPKS}) || !slices.Contains(byNIK.GetWatch().GetAgreementIds(), eventsPKS) {
			t.Fatalf("watches %v and %v do not keep the agreements they rest on", byRecord.GetWatch(), byNIK.GetWatch())
		}
		w := watch(t, ctx, pmj, analyst, "")
		at := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
		first, err := event(ctx, custodyAs(t, env, "lapas-permisan"), e.events.GetId(), admission, at)
		if err != nil {
			t.Fatal(err)
		}
		if m := w.next(1)[0]; m.GetEvent().GetId() != first.GetEvent().GetId() || m.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_WATCH {
			t.Fatalf("before the revocation: %v", m)
		}
		ministry := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "kemenimipas"))
		if _, err := ministry.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: ministryAdmin, Id: eventsPKS}); err != nil {
			t.Fatal(err)
		}
		// The open stream ends with an agreement behind it (the stream
		// recheck); opened again from its cursor, it rests on the rest.
		if _, err := w.stream.Recv(); status.Code(err) != codes.Aborted || servertest.ReasonOf(err) != "AGREEMENT_ENDED" {
			t.Fatalf("stream after the revocation: %v, want it ended, Aborted AGREEMENT_ENDED", err)
		}
		w = watch(t, ctx, pmj, analyst, w.cursor)
		if _, err := event(ctx, custodyAs(t, env, "lapas-permisan"), e.events.GetId(), release, at.Add(time.Minute),
			withReason(sinergiv1.ReleaseReason_RELEASE_REASON_END_OF_SENTENCE, "")); err != nil {
			t.Fatal(err)
		}
		sentinel, err := event(ctx, custodyAs(t, env, "lapas-cipinang"), e.children.GetId(), admission, time.Now().Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if m := w.next(1)[0]; m.GetEvent().GetId() != sentinel.GetEvent().GetId() {
			t.Fatalf("after the revocation a watch delivered %v, want nothing before the sentinel", m)
		}
		// The record's watch has ended with its only agreement; the NIK's
		// rests on others still, and tells nothing of Permisan.
		active, err := pmj.ListWatches(ctx, &sinergiv1.ListWatchesRequest{Access: investigator, PageSize: 500})
		if err != nil || slices.ContainsFunc(active.GetWatches(), func(x *sinergiv1.Watch) bool { return x.GetId() == byRecord.GetWatch().GetId() }) ||
			!slices.ContainsFunc(active.GetWatches(), func(x *sinergiv1.Watch) bool { return x.GetId() == byNIK.GetWatch().GetId() }) {
			t.Errorf("active watches %v %v: want the NIK's, not the record's", active, err)
		}
		all, err := pmj.ListWatches(ctx, &sinergiv1.ListWatchesRequest{Access: investigator, IncludeInactive: true, PageSize: 500})
		i := slices.IndexFunc(all.GetWatches(), func(x *sinergiv1.Watch) bool { return x.GetId() == byRecord.GetWatch().GetId() })
		if err != nil || i < 0 || !all.GetWatches()[i].GetAgreementEnded() {
			t.Errorf("all watches %v %v: the ended one should say its agreement ended", all, err)
		}
	})
}

func protoEqual(a, b any) bool {
	ma, okA := a.(proto.Message)
	mb, okB := b.(proto.Message)
	return okA && okB && proto.Equal(ma, mb)
}

// countOf is how many times s is in l.
func countOf(l []string, s string) int {
	n := 0
	for _, x := range l {
		if x == s {
			n++
		}
	}
	return n
}
