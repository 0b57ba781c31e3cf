package presence_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestReleaseToldAhead: a man from Kota Metro (his NIK's region) is held
// at Lapas Cipinang, to be released in 20 days; Polres Cilacap watches his
// NIK. Polres Metro and Polda Lampung (his home region) and Polres Cilacap
// are told now (within 30 days), again at 7 days and at 1, once each;
// Polres Kutai Kartanegara, neither home nor watching, is never told. At
// the release itself, Polres Metro's event stream tells it (home region).
func TestReleaseToldAhead(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	ctx := context.Background()
	wib := time.FixedZone("WIB", 7*3600)
	now := time.Now()
	y, m, d := now.In(wib).Date()
	release := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 20)
	birth := time.Date(1984, 4, 4, 0, 0, 0, 0, time.UTC)
	id := nik.Make("187201", birth, nik.Male, 4321)
	c := custodyAs(t, env, "lapas-cipinang")
	up, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: &sinergiv1.CustodyRecord{RegisterNumber: "REL.0001",
		Identity: &sinergiv1.Identity{FullName: "Bagus Prasetyo", Nik: id, BirthDate: "1984-04-04", Sex: sinergiv1.Sex_SEX_MALE, Nationality: "IDN"},
		LegalStatus: &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED, SentenceMonths: 24,
			ExpectedReleaseDate: release.Format("2006-01-02")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := custodyAs(t, env, "polres-cilacap").AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, Nik: id, Reason: "saksi perkara",
		ExpireTime: timestamppb.New(now.Add(300 * 24 * time.Hour))}); err != nil {
		t.Fatal(err)
	}
	told := map[string]*notices{}
	for _, unit := range []string{"polres-metro", "polda-lampung", "polres-cilacap"} {
		told[unit] = watchNotices(t, env, unit, analyst)
	}
	rec := up.GetRecord().GetId()
	if _, err := c.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RecordId: rec,
		Event: &sinergiv1.CustodyEvent{Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION, EffectiveTime: timestamppb.New(now.Add(-time.Hour))}}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		at   time.Time
		left int32
	}{{now, 20}, {release.Add(-7*24*time.Hour + 12*time.Hour), 7}, {release.Add(-24*time.Hour + 12*time.Hour), 1}} {
		env.Clock.Set(step.at)
		for unit, s := range told {
			n := s.next(rec)
			if n.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_RELEASE_DUE || n.GetDaysLeft() != step.left ||
				n.GetExpectedReleaseDate() != release.Format("2006-01-02") || n.GetFacilityCode() != "lapas-cipinang" {
				t.Fatalf("%s at %d days: told %v", unit, step.left, n)
			}
		}
	}
	var far, total int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE audience = 'polres-kutai-kartanegara'), count(*) FROM hit_notices
		WHERE record_id = $1 AND kind = 'RELEASE_DUE'`, rec).Scan(&far, &total); err != nil {
		t.Fatal(err)
	}
	if far != 0 || total != 9 {
		t.Fatalf("%d notices to an unconcerned unit, %d in all; want 0 and 9 (3 units, 3 times)", far, total)
	}

	// At the release, Polres Metro is told again: the person is from its
	// region, though held far outside its jurisdiction.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	w, err := custodyAs(t, env, "polres-metro").WatchCustodyEvents(wctx, &sinergiv1.WatchCustodyEventsRequest{Access: analyst})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	freed, err := c.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RecordId: rec, Event: &sinergiv1.CustodyEvent{
		Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE, ReleaseReason: sinergiv1.ReleaseReason_RELEASE_REASON_END_OF_SENTENCE,
		EffectiveTime: timestamppb.New(env.Clock.Now().Add(-time.Minute))}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := w.Recv()
		if err != nil {
			t.Fatalf("waiting for the release: %v", err)
		}
		if m.GetEvent().GetRecordId() != rec {
			continue
		}
		if m.GetEvent().GetId() != freed.GetEvent().GetId() || m.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_HOME_REGION ||
			m.GetSubject().GetNik() != id {
			t.Fatalf("Polres Metro was told %v, want the release, by home region", m)
		}
		break
	}
}
