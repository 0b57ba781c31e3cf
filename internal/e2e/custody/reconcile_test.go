package custody_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// noticeStream opens code's hit notice stream (the notices of releases and
// reconciliation travel on it).
func noticeStream(t *testing.T, env *servertest.Env, code string, ac *sinergiv1.AccessContext) func(item string) *sinergiv1.HitNotice {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	s, err := custodyAs(t, env, code).WatchHitNotices(ctx, &sinergiv1.WatchHitNoticesRequest{Access: ac})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	return func(item string) *sinergiv1.HitNotice {
		t.Helper()
		for {
			m, err := s.Recv()
			if err != nil {
				t.Fatalf("%s's notices: %v", code, err)
			}
			if m.GetNotice().GetReconciliationItemId() == item {
				return m.GetNotice()
			}
		}
	}
}

// TestReconciliationReachesPeople: a person Lapas Metro holds on record is
// missing from its full roster: an item is opened (one, however often the
// roster misses them) for the facility to resolve within a day. Left
// unresolved, it is escalated to the ministry (the demo directory has no
// regional office for Lampung), and Polres Cilacap, which watches the
// person, is told it is unresolved; the facility then resolves it, once.
func TestReconciliationReachesPeople(t *testing.T) {
	env := servertest.Start(t, freshDB(t), servertest.Options{})
	ctx := context.Background()
	metro := custodyAs(t, env, "lapas-metro")
	recs := roster("RC", 2)
	full := &sinergiv1.RosterHeader{Full: true}
	if _, err := upload(ctx, t, metro, full, recs); err != nil {
		t.Fatal(err)
	}
	missing := recs[1]
	if _, err := custodyAs(t, env, "polres-cilacap").AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, Nik: missing.GetIdentity().GetNik(),
		Reason: "DPO perkara LP/B/9", ExpireTime: timestamppb.New(time.Now().Add(30 * 24 * time.Hour))}); err != nil {
		t.Fatal(err)
	}
	ministry := noticeStream(t, env, "kemenimipas", &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT})
	police := noticeStream(t, env, "polres-cilacap", analyst)

	res, err := upload(ctx, t, metro, full, recs[:1])
	if err != nil || res.GetMissingCount() != 1 || res.GetReconciliationItemsOpened() != 1 {
		t.Fatalf("the roster without the person: %v, %v", res, err)
	}
	if res, err := upload(ctx, t, metro, full, recs[:1]); err != nil || res.GetReconciliationItemsOpened() != 0 {
		t.Fatalf("missed again: %v, %v; want no second item", res, err)
	}
	list, err := metro.ListReconciliationItems(ctx, &sinergiv1.ListReconciliationItemsRequest{Access: warden})
	if err != nil || len(list.GetItems()) != 1 || list.GetItems()[0].GetRegisterNumber() != missing.GetRegisterNumber() {
		t.Fatalf("the facility's items: %v, %v", list, err)
	}
	item := list.GetItems()[0]
	if d := item.GetDueTime().AsTime().Sub(item.GetOpenTime().AsTime()); d != 24*time.Hour {
		t.Fatalf("due in %v, want a day", d)
	}

	env.Clock.Set(item.GetDueTime().AsTime().Add(time.Minute))
	if n := ministry(item.GetId()); n.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_RECONCILIATION_ESCALATED || n.GetFacilityCode() != "lapas-metro" {
		t.Fatalf("the ministry was told %v", n)
	}
	if n := police(item.GetId()); n.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_RECONCILIATION_UNRESOLVED || n.GetRecordId() != item.GetRecordId() {
		t.Fatalf("the watching unit was told %v", n)
	}
	escalated, err := custodyAs(t, env, "kemenimipas").ListReconciliationItems(ctx, &sinergiv1.ListReconciliationItemsRequest{
		Access: &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}})
	if err != nil || len(escalated.GetItems()) != 1 || escalated.GetItems()[0].GetEscalatedToCode() != "kemenimipas" {
		t.Fatalf("the ministry's items: %v, %v", escalated, err)
	}

	_, err = metro.ResolveReconciliationItem(ctx, &sinergiv1.ResolveReconciliationItemRequest{Access: warden, Id: item.GetId(),
		Resolution: sinergiv1.ReconciliationResolution_RECONCILIATION_RESOLUTION_TRANSFERRED})
	if f := validate.FieldsOf(err); !slices.Equal(f, []string{"note"}) {
		t.Fatalf("without a note: %v", err)
	}
	if _, err := custodyAs(t, env, "lapas-cipinang").ResolveReconciliationItem(ctx, &sinergiv1.ResolveReconciliationItemRequest{Access: warden,
		Id: item.GetId(), Resolution: sinergiv1.ReconciliationResolution_RECONCILIATION_RESOLUTION_ERROR, Note: "bukan warga kami"}); status.Code(err) != codes.NotFound {
		t.Fatalf("another facility resolves: %v", err)
	}
	done, err := metro.ResolveReconciliationItem(ctx, &sinergiv1.ResolveReconciliationItemRequest{Access: warden, Id: item.GetId(),
		Resolution: sinergiv1.ReconciliationResolution_RECONCILIATION_RESOLUTION_TRANSFERRED, Note: "dipindahkan ke Lapas Cipinang, pencatatan menyusul"})
	if err != nil || done.GetItem().GetResolveTime() == nil || done.GetItem().GetResolveOperatorId() != warden.GetOperatorId() {
		t.Fatalf("resolve: %v, %v", done, err)
	}
	if _, err := metro.ResolveReconciliationItem(ctx, &sinergiv1.ResolveReconciliationItemRequest{Access: warden, Id: item.GetId(),
		Resolution: sinergiv1.ReconciliationResolution_RECONCILIATION_RESOLUTION_ERROR, Note: "lagi"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("resolved twice: %v", err)
	}
	if open, err := metro.ListReconciliationItems(ctx, &sinergiv1.ListReconciliationItemsRequest{Access: warden}); err != nil || len(open.GetItems()) != 0 {
		t.Fatalf("open items once resolved: %v, %v", open, err)
	}
}
