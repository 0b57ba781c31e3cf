package presence_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestConfirmReleasesTheRecord is the whole exchange: Polres Metro Jakarta
// Timur learns that a person is held in East Kalimantan, asks for the
// record for its investigation, urgently; the request names neither the
// facility nor the record. Lapas Tenggarong is asked on its stream, sees
// the request (who, why, which record, by when), and confirms; the Polres
// is told, and reads the record with its identity, legal status and case.
// A second answer is refused; nobody else sees the request.
func TestConfirmReleasesTheRecord(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	p := admit(t, env, "lapas-tenggarong", "640201")
	facility := watchNotices(t, env, "lapas-tenggarong", warden)
	requester := watchNotices(t, env, "polres-metro-jakarta-timur", analyst)
	jaktim := custodyAs(t, env, "polres-metro-jakarta-timur")
	tenggarong := custodyAs(t, env, "lapas-tenggarong")

	hit := remoteHit(t, jaktim, p.nik)
	if n := facility.next(p.record.GetId()); n.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_HIT {
		t.Fatalf("first notice %v, want the hit", n)
	}
	rctx, rid := tagged(ctx)
	resp, err := jaktim.RequestHitRecord(rctx, &sinergiv1.RequestHitRecordRequest{Access: investigator, HitReference: hit.GetHitReference(),
		Urgency: sinergiv1.HitUrgency_HIT_URGENCY_URGENT, Reason: "tersangka perkara narkotika LP/B/123/VIII/2026/SPKT"})
	if err != nil {
		t.Fatal(err)
	}
	req := resp.GetRequest()
	if req.GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_PENDING || req.GetFacilityCode() != "" || req.GetRecordId() != "" ||
		req.GetRecord() != nil || req.GetProvinceCode() != "64" || resp.GetReplayed() {
		t.Fatalf("request %v, want PENDING in province 64 without the facility or the record", resp)
	}
	if due := req.GetDueTime().AsTime().Sub(req.GetRequestTime().AsTime()); due != 10*time.Minute {
		t.Fatalf("an urgent request is due in %v, want 10m", due)
	}
	// The same hit asked again is the same request.
	again, err := jaktim.RequestHitRecord(ctx, &sinergiv1.RequestHitRecordRequest{Access: investigator, HitReference: hit.GetHitReference(),
		Urgency: sinergiv1.HitUrgency_HIT_URGENCY_URGENT, Reason: "tersangka perkara narkotika LP/B/123/VIII/2026/SPKT"})
	if err != nil || again.GetRequest().GetId() != req.GetId() || !again.GetReplayed() {
		t.Fatalf("asked again: %v, %v, want the same request, replayed", again, err)
	}

	asked := facility.nextOf(req.GetId())
	if asked.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_CONFIRMATION_REQUESTED || asked.GetRecordId() != p.record.GetId() ||
		asked.GetRequesterCode() != "polres-metro-jakarta-timur" || asked.GetUrgency() != sinergiv1.HitUrgency_HIT_URGENCY_URGENT ||
		asked.GetCaseReference() != investigator.GetCaseReference() || asked.GetDueTime() == nil {
		t.Fatalf("the facility was asked %v", asked)
	}
	seen, err := tenggarong.GetHitRequest(ctx, &sinergiv1.GetHitRequestRequest{Access: warden, Id: req.GetId()})
	if err != nil || seen.GetRequest().GetRecordId() != p.record.GetId() || seen.GetRequest().GetReason() == "" {
		t.Fatalf("the facility reads the request: %v, %v", seen, err)
	}
	for _, other := range []string{"lapas-cipinang", "polres-metro", "polres-kutai-kartanegara"} {
		access := investigator
		if other == "lapas-cipinang" {
			access = warden
		}
		if _, err := custodyAs(t, env, other).GetHitRequest(ctx, &sinergiv1.GetHitRequestRequest{Access: access, Id: req.GetId()}); codeOf(err) != codes.NotFound {
			t.Errorf("%s reads another's request: %v, want NOT_FOUND", other, err)
		}
	}
	if _, err := custodyAs(t, env, "lapas-cipinang").AnswerHitRequest(ctx, &sinergiv1.AnswerHitRequestRequest{Access: warden, Id: req.GetId(),
		Answer: sinergiv1.HitAnswer_HIT_ANSWER_CONFIRM}); codeOf(err) != codes.NotFound {
		t.Fatalf("another facility answers: %v, want NOT_FOUND", err)
	}
	// Before the answer, the requester has nothing of the record.
	before, err := jaktim.GetHitRequest(ctx, &sinergiv1.GetHitRequestRequest{Access: investigator, Id: req.GetId()})
	if err != nil || before.GetRequest().GetRecord() != nil || before.GetRequest().GetFacilityCode() != "" {
		t.Fatalf("the requester before the answer: %v, %v", before, err)
	}

	actx, aid := tagged(ctx)
	ans, err := tenggarong.AnswerHitRequest(actx, &sinergiv1.AnswerHitRequestRequest{Access: warden, Id: req.GetId(), Answer: sinergiv1.HitAnswer_HIT_ANSWER_CONFIRM})
	if err != nil || ans.GetRequest().GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_CONFIRMED ||
		ans.GetRequest().GetAnsweredByCode() != "lapas-tenggarong" || ans.GetRequest().GetAnswerOperatorId() != warden.GetOperatorId() {
		t.Fatalf("confirm: %v, %v", ans, err)
	}
	if _, err := tenggarong.AnswerHitRequest(ctx, &sinergiv1.AnswerHitRequestRequest{Access: warden, Id: req.GetId(),
		Answer: sinergiv1.HitAnswer_HIT_ANSWER_DENY, DenyReason: "salah orang"}); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("a second answer: %v, want FAILED_PRECONDITION", err)
	}

	told := requester.nextOf(req.GetId())
	if told.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_ANSWERED || told.GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_CONFIRMED ||
		told.GetRecordId() != p.record.GetId() {
		t.Fatalf("the requester was told %v", told)
	}
	gctx, gid := tagged(ctx)
	got, err := jaktim.GetHitRequest(gctx, &sinergiv1.GetHitRequestRequest{Access: investigator, Id: req.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	rec := got.GetRequest().GetRecord()
	if got.GetRequest().GetFacilityCode() != "lapas-tenggarong" || rec.GetId() != p.record.GetId() ||
		rec.GetIdentity().GetNik() != p.nik || !proto.Equal(rec.GetLegalStatus(), p.record.GetLegalStatus()) ||
		!slices.Equal(rec.GetOffenceArticles(), p.record.GetOffenceArticles()) || len(rec.GetWithheldClasses()) != 0 {
		t.Fatalf("the released record: %v", got)
	}

	for what, id := range map[string]string{"request": rid, "answer": aid, "read": gid} {
		rows := mustAudit(t, env, id)
		if len(rows) != 1 || rows[0].Status != "OK" || !slices.Contains(rows[0].Subjects, "custody/"+p.record.GetId()) ||
			!slices.Contains(rows[0].Subjects, "hit-request/"+req.GetId()) {
			t.Errorf("audit of the %s: %+v, want the record and the request named", what, rows)
		}
	}
	if rows := auditOf(t, env, rid); len(rows) == 1 && (rows[0].Case != investigator.GetCaseReference() ||
		!slices.Contains(rows[0].Agreements, "pks-2025-kemenimipas-polri-data")) {
		t.Errorf("the request's audit %+v, want its case and the national data agreement", rows[0])
	}
}

// TestDenyWithAReason: a facility denies, and must say why; the requester
// is told of the denial without the facility or the record, and never
// reads the record. A routine request is due in an hour.
func TestDenyWithAReason(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	p := admit(t, env, "lpp-tenggarong", "640201")
	requester := watchNotices(t, env, "polres-metro", analyst)
	metro := custodyAs(t, env, "polres-metro")
	lpp := custodyAs(t, env, "lpp-tenggarong")

	req := ask(t, metro, remoteHit(t, metro, p.nik).GetHitReference(), sinergiv1.HitUrgency_HIT_URGENCY_ROUTINE)
	if due := req.GetDueTime().AsTime().Sub(req.GetRequestTime().AsTime()); due != time.Hour {
		t.Fatalf("a routine request is due in %v, want 1h", due)
	}
	_, err := lpp.AnswerHitRequest(ctx, &sinergiv1.AnswerHitRequestRequest{Access: warden, Id: req.GetId(), Answer: sinergiv1.HitAnswer_HIT_ANSWER_DENY})
	refusedOn(t, "deny without a reason", err, "deny_reason")
	_, err = lpp.AnswerHitRequest(ctx, &sinergiv1.AnswerHitRequestRequest{Access: warden, Id: req.GetId()})
	refusedOn(t, "no answer", err, "answer")
	ans, err := lpp.AnswerHitRequest(ctx, &sinergiv1.AnswerHitRequestRequest{Access: warden, Id: req.GetId(), Answer: sinergiv1.HitAnswer_HIT_ANSWER_DENY,
		DenyReason: "identitas tidak cocok dengan surat perintah"})
	if err != nil || ans.GetRequest().GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_DENIED {
		t.Fatalf("deny: %v, %v", ans, err)
	}
	told := requester.nextOf(req.GetId())
	if told.GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_DENIED || told.GetFacilityCode() != "" || told.GetRecordId() != "" {
		t.Fatalf("the requester was told %v, want the denial alone", told)
	}
	got, err := metro.GetHitRequest(ctx, &sinergiv1.GetHitRequestRequest{Access: investigator, Id: req.GetId()})
	if err != nil || got.GetRequest().GetRecord() != nil || got.GetRequest().GetFacilityCode() != "" ||
		got.GetRequest().GetDenyReason() != "identitas tidak cocok dengan surat perintah" {
		t.Fatalf("the requester reads a denied request: %v, %v", got, err)
	}
}

// TestSecondStepRefusals: no hit reference, an altered one, another unit's,
// a purpose that does not justify the second step, a case reference
// missing: each INVALID_ARGUMENT naming its field, and nothing is asked
// of the facility.
func TestSecondStepRefusals(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	p := admit(t, env, "lapas-tenggarong", "640201")
	jaktim := custodyAs(t, env, "polres-metro-jakarta-timur")
	ref := remoteHit(t, jaktim, p.nik).GetHitReference()
	reason := "tersangka perkara narkotika LP/B/123/VIII/2026/SPKT"
	urgent := sinergiv1.HitUrgency_HIT_URGENCY_URGENT

	_, err := jaktim.RequestHitRecord(ctx, &sinergiv1.RequestHitRecordRequest{Access: investigator, Urgency: urgent, Reason: reason})
	refusedOn(t, "no hit reference", err, "hit_reference")

	altered := []byte(ref)
	altered[len(altered)/2] ^= 1
	_, err = jaktim.RequestHitRecord(ctx, &sinergiv1.RequestHitRecordRequest{Access: investigator, HitReference: string(altered), Urgency: urgent, Reason: reason})
	refusedOn(t, "an altered hit reference", err, "hit_reference")

	_, err = custodyAs(t, env, "polres-metro").RequestHitRecord(ctx, &sinergiv1.RequestHitRecordRequest{Access: investigator,
		HitReference: ref, Urgency: urgent, Reason: reason})
	refusedOn(t, "another unit's hit reference", err, "hit_reference")
	if !strings.Contains(err.Error(), "another unit") {
		t.Errorf("another unit's reference: %v, want it said", err)
	}

	_, err = jaktim.RequestHitRecord(ctx, &sinergiv1.RequestHitRecordRequest{Access: analyst, HitReference: ref, Urgency: urgent, Reason: reason})
	refusedOn(t, "intelligence analysis", err, "access.purpose")
	noCase := proto.Clone(investigator).(*sinergiv1.AccessContext)
	noCase.CaseReference = ""
	_, err = jaktim.RequestHitRecord(ctx, &sinergiv1.RequestHitRecordRequest{Access: noCase, HitReference: ref, Urgency: urgent, Reason: reason})
	refusedOn(t, "no case reference", err, "access.case_reference")
	_, err = jaktim.RequestHitRecord(ctx, &sinergiv1.RequestHitRecordRequest{Access: investigator, HitReference: ref, Reason: reason})
	refusedOn(t, "no urgency", err, "urgency")
	_, err = jaktim.RequestHitRecord(ctx, &sinergiv1.RequestHitRecordRequest{Access: investigator, HitReference: ref, Urgency: urgent})
	refusedOn(t, "no reason", err, "reason")
	// A facility does not ask.
	if _, err := custodyAs(t, env, "lapas-metro").RequestHitRecord(ctx, &sinergiv1.RequestHitRecordRequest{Access: warden,
		HitReference: ref, Urgency: urgent, Reason: reason}); codeOf(err) != codes.PermissionDenied {
		t.Fatalf("a facility asks: %v, want PERMISSION_DENIED", err)
	}

	var n int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM hit_requests WHERE record_id = $1`, p.record.GetId()).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d requests written after refusals (%v), want none", n, err)
	}
}

// TestExpiredHitReference: a hit reference serves an hour; after it, the
// second step is refused on hit_reference, and a new check gives a new one.
func TestExpiredHitReference(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	p := admit(t, env, "lapas-tenggarong", "640201")
	jaktim := custodyAs(t, env, "polres-metro-jakarta-timur")
	hit := remoteHit(t, jaktim, p.nik)
	env.Clock.Set(hit.GetExpireTime().AsTime())
	_, err := jaktim.RequestHitRecord(context.Background(), &sinergiv1.RequestHitRecordRequest{Access: investigator,
		HitReference: hit.GetHitReference(), Urgency: sinergiv1.HitUrgency_HIT_URGENCY_ROUTINE, Reason: "tersangka perkara narkotika"})
	refusedOn(t, "an expired hit reference", err, "hit_reference")
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired reference: %v, want it said", err)
	}
	fresh := remoteHit(t, jaktim, p.nik)
	if req := ask(t, jaktim, fresh.GetHitReference(), sinergiv1.HitUrgency_HIT_URGENCY_ROUTINE); req.GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_PENDING {
		t.Fatalf("with a fresh reference: %v", req)
	}
}

// TestUnansweredEscalatesToTheKanwil: an urgent request Lapas Tenggarong
// leaves unanswered for ten minutes is escalated to the regional office of
// East Kalimantan, which is told, reads it and answers in the facility's
// stead; the facility and the requester are told. A routine one is not
// escalated at ten minutes.
func TestUnansweredEscalatesToTheKanwil(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	ctx := context.Background()
	ministry := env.As(t, "kemenimipas")
	if _, err := ministry.Institutions.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: admin, Institution: &sinergiv1.Institution{
		Code: "kanwil-kaltim", Name: "Kanwil Ditjenpas Kalimantan Timur", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL, RegionCode: "64"}}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := env.Fresh(t, "kanwil-kaltim")
	kanwil := sinergiv1.NewCustodyServiceClient(servertest.Dial(t, env.Addr(), cfg))
	// Its directory entry reaches the server's cache within a second.
	var office *notices
	waitFor(t, "the regional office to be known", func() bool {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		s, err := kanwil.WatchHitNotices(ctx, &sinergiv1.WatchHitNoticesRequest{Access: overseer})
		if err == nil {
			if _, err = s.Recv(); err == nil {
				t.Cleanup(cancel)
				office = &notices{t: t, stream: s}
				return true
			}
		}
		cancel()
		return false
	})
	p := admit(t, env, "lapas-tenggarong", "640201")
	q := admit(t, env, "lapas-tenggarong", "640201")
	facility := watchNotices(t, env, "lapas-tenggarong", warden)
	requester := watchNotices(t, env, "polres-metro-jakarta-timur", analyst)
	jaktim := custodyAs(t, env, "polres-metro-jakarta-timur")
	urgent := ask(t, jaktim, remoteHit(t, jaktim, p.nik).GetHitReference(), sinergiv1.HitUrgency_HIT_URGENCY_URGENT)
	routine := ask(t, jaktim, remoteHit(t, jaktim, q.nik).GetHitReference(), sinergiv1.HitUrgency_HIT_URGENCY_ROUTINE)

	env.Clock.Set(urgent.GetDueTime().AsTime().Add(time.Second))
	n := office.nextOf(urgent.GetId())
	if n.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_ESCALATED || n.GetRecordId() != p.record.GetId() ||
		n.GetFacilityCode() != "lapas-tenggarong" || n.GetRequesterCode() != "polres-metro-jakarta-timur" {
		t.Fatalf("the office was told %v", n)
	}
	// The facility was asked, then told of the escalation.
	if n := facility.nextOf(urgent.GetId()); n.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_CONFIRMATION_REQUESTED {
		t.Fatalf("the facility was first told %v", n)
	}
	if n := facility.nextOf(urgent.GetId()); n.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_ESCALATED {
		t.Fatalf("the facility was then told %v", n)
	}
	seen, err := kanwil.GetHitRequest(ctx, &sinergiv1.GetHitRequestRequest{Access: overseer, Id: urgent.GetId()})
	if err != nil || seen.GetRequest().GetEscalatedToCode() != "kanwil-kaltim" || seen.GetRequest().GetEscalateTime() == nil {
		t.Fatalf("the office reads the request: %v, %v", seen, err)
	}
	other, err := kanwil.GetHitRequest(ctx, &sinergiv1.GetHitRequestRequest{Access: overseer, Id: routine.GetId()})
	if codeOf(err) != codes.NotFound {
		t.Fatalf("the routine request, not yet due, read by the office: %v, %v; want NOT_FOUND", other, err)
	}
	ans, err := kanwil.AnswerHitRequest(ctx, &sinergiv1.AnswerHitRequestRequest{Access: overseer, Id: urgent.GetId(), Answer: sinergiv1.HitAnswer_HIT_ANSWER_CONFIRM})
	if err != nil || ans.GetRequest().GetAnsweredByCode() != "kanwil-kaltim" {
		t.Fatalf("the office confirms: %v, %v", ans, err)
	}
	if n := requester.nextOf(urgent.GetId()); n.GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_CONFIRMED {
		t.Fatalf("the requester was told %v", n)
	}
	if n := facility.nextOf(urgent.GetId()); n.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_ANSWERED {
		t.Fatalf("the facility was told %v", n)
	}
	got, err := jaktim.GetHitRequest(ctx, &sinergiv1.GetHitRequestRequest{Access: investigator, Id: urgent.GetId()})
	if err != nil || got.GetRequest().GetRecord().GetId() != p.record.GetId() {
		t.Fatalf("the requester reads the record: %v, %v", got, err)
	}
	// Past the routine request's hour, it is escalated too.
	env.Clock.Set(routine.GetDueTime().AsTime().Add(time.Second))
	if n := office.nextOf(routine.GetId()); n.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_ESCALATED {
		t.Fatalf("the routine request: %v", n)
	}
}
