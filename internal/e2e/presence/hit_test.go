package presence_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestRemoteHitSaysTheProvinceOnly: Polres Metro Jakarta Timur asks about a
// person held at Lapas Tenggarong, in East Kalimantan, far beyond its
// jurisdiction. Under the national data agreement it learns that the
// person is held, in province 64 (Kalimantan Timur), and a hit reference:
// nothing in the answer names the facility, its region below the province,
// or the person. Lapas Tenggarong is told of the hit on its stream, with
// who checked and why. The check's audit record names the record and the
// agreement.
func TestRemoteHitSaysTheProvinceOnly(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	p := admit(t, env, "lapas-tenggarong", "640201")
	told := watchNotices(t, env, "lapas-tenggarong", warden)
	jaktim := custodyAs(t, env, "polres-metro-jakarta-timur")

	ctx, rid := tagged(context.Background())
	resp, err := jaktim.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: investigator, Nik: p.nik})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetHeld() || len(resp.GetPlacements()) != 0 || len(resp.GetRemoteHits()) != 1 {
		t.Fatalf("answer %v, want held with one remote hit and no placement", resp)
	}
	hit := resp.GetRemoteHits()[0]
	if hit.GetProvinceCode() != "64" || hit.GetProvinceName() != "Kalimantan Timur" || hit.GetHitReference() == "" || hit.GetExpireTime() == nil {
		t.Fatalf("remote hit %v, want province 64 Kalimantan Timur with a reference and its expiry", hit)
	}
	text := protojson.Format(resp)
	for _, leak := range []string{"tenggarong", "64.02", p.record.GetId(), p.record.GetRegisterNumber(), p.nik, "Rahmat"} {
		if strings.Contains(strings.ToLower(text), strings.ToLower(leak)) {
			t.Errorf("the answer carries %q: %s", leak, text)
		}
	}

	n := told.next(p.record.GetId())
	if n.GetKind() != sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_HIT || n.GetFacilityCode() != "lapas-tenggarong" ||
		n.GetRequesterCode() != "polres-metro-jakarta-timur" || n.GetOperatorId() != investigator.GetOperatorId() ||
		n.GetPurpose() != investigator.GetPurpose() || n.GetCaseReference() != investigator.GetCaseReference() {
		t.Fatalf("the facility was told %v", n)
	}

	rows := mustAudit(t, env, rid)
	if len(rows) != 1 || rows[0].Status != "OK" || !slices.Contains(rows[0].Subjects, "custody/"+p.record.GetId()) ||
		!slices.Contains(rows[0].Agreements, "pks-2025-kemenimipas-polri-data") || rows[0].Case != investigator.GetCaseReference() {
		t.Fatalf("audit %+v, want the check naming the record under the national data agreement", rows)
	}
}

// TestInsideTheJurisdictionReadsAsToday: Polres Kutai Kartanegara, whose
// jurisdiction holds Lapas Tenggarong, gets the facility and the time as
// before, and no hit reference; a person held nowhere is no hit for
// anyone; the facility's own check stays within its own records.
func TestInsideTheJurisdictionReadsAsToday(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	p := admit(t, env, "lapas-tenggarong", "640201")
	resp, err := custodyAs(t, env, "polres-kutai-kartanegara").CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: investigator, Nik: p.nik})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetHeld() || len(resp.GetRemoteHits()) != 0 || len(resp.GetPlacements()) != 1 ||
		resp.GetPlacements()[0].GetFacilityCode() != "lapas-tenggarong" || resp.GetPlacements()[0].GetHeldSince() == nil {
		t.Fatalf("inside the jurisdiction: %v, want the placement at lapas-tenggarong", resp)
	}

	nobody := nik.Make("317501", p.record.GetStatusTime().AsTime(), nik.Male, 9999)
	for _, unit := range []string{"polres-metro-jakarta-timur", "polres-kutai-kartanegara", "mabes-polri"} {
		resp, err := custodyAs(t, env, unit).CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: investigator, Nik: nobody})
		if err != nil || resp.GetHeld() || len(resp.GetPlacements())+len(resp.GetRemoteHits()) != 0 {
			t.Fatalf("%s about a person held nowhere: %v, %v", unit, resp, err)
		}
	}

	resp, err = custodyAs(t, env, "lapas-metro").CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: warden, Nik: p.nik})
	if err != nil || resp.GetHeld() || len(resp.GetRemoteHits()) != 0 {
		t.Fatalf("another facility checks: %v, %v, want no hit (its reach is its own records)", resp, err)
	}
}

// TestNameAndBirthDateHitNationally: a check by name and birth date hits
// nationally as one by NIK does.
func TestNameAndBirthDateHitNationally(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	p := admit(t, env, "lapas-tenggarong", "640201")
	resp, err := custodyAs(t, env, "polres-metro").CheckPresence(context.Background(), &sinergiv1.CheckPresenceRequest{Access: analyst,
		FullName: p.record.GetIdentity().GetFullName(), BirthDate: p.record.GetIdentity().GetBirthDate()})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetHeld() || len(resp.GetRemoteHits()) != 1 || resp.GetRemoteHits()[0].GetProvinceCode() != "64" {
		t.Fatalf("by name and birth date: %v", resp)
	}
}
