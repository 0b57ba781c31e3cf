package firearms_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestWatchFirearms: a watch delivers the events the caller is told of as
// they commit; resuming from a cursor gives the later ones once; another
// facility and a unit outside the region hear nothing of them; a cursor is
// the institution's own; every delivery is audited.
func TestWatchFirearms(t *testing.T) {
	env, now := start(t, db)
	ctx := context.Background()
	permisan := as(t, env, "lapas-permisan")
	live := openWatch(t, permisan, keeper, "")
	lampung := openWatch(t, as(t, env, "polda-lampung"), supervisor, "")
	cipinang := openWatch(t, as(t, env, "lapas-cipinang"), keeper, "")

	a := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_AIR)
	ev, _ := live.until(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_REGISTERED, a.GetId())
	resumeFrom := live.cursor
	if ev.GetFacilityCode() != "lapas-permisan" || ev.GetOperatorId() != keeper.GetOperatorId() {
		t.Fatalf("event: %v", ev)
	}
	b := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_AIR)
	l := applyOwnership(t, permisan, b)
	approve(t, as(t, env, "polda-jawa-tengah"), l, time.Time{}, now.AddDate(1, 0, 0))
	live.until(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_APPROVED, l.GetId())

	// Resumed from after the first weapon: the later events, in order, once.
	again := openWatch(t, permisan, keeper, resumeFrom)
	var kinds []sinergiv1.FirearmEventKind
	for range 3 {
		msg, err := again.stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if msg.GetEvent().GetWeaponId() == b.GetId() {
			kinds = append(kinds, msg.GetEvent().GetKind())
		}
	}
	want := []sinergiv1.FirearmEventKind{sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_REGISTERED,
		sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_APPLIED, sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_APPROVED}
	if !slices.Equal(kinds, want) {
		t.Fatalf("resumed watch: %v, want %v", kinds, want)
	}

	// Others heard nothing of Permisan's register: each hears next its own.
	mine := register(t, as(t, env, "lapas-cipinang"), sinergiv1.WeaponCategory_WEAPON_CATEGORY_AIR)
	if _, before := cipinang.until(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_REGISTERED, mine.GetId()); len(before) != 0 {
		t.Fatalf("Lapas Cipinang was told of %v", before)
	}
	lampungWeapon := register(t, as(t, env, "lapas-metro"), sinergiv1.WeaponCategory_WEAPON_CATEGORY_AIR)
	_, before := lampung.until(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_REGISTERED, lampungWeapon.GetId())
	for _, e := range before {
		if e.GetFacilityCode() != "lapas-metro" {
			t.Fatalf("Polda Lampung was told of %v", e)
		}
	}

	// A cursor is its watch's own.
	stream, err := as(t, env, "lapas-cipinang").WatchFirearms(ctx, &sinergiv1.WatchFirearmsRequest{Access: keeper, Cursor: resumeFrom})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, "another institution's cursor", err, codes.InvalidArgument, "cursor")

	// Deliveries are in the audit trail, each naming the weapon (a record
	// of several deliveries names it once for each).
	env.WaitIntegrated(t)
	var n int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records, unnest(subjects) s WHERE method = $1 AND caller_code = 'lapas-permisan' AND s = $2`,
		sinergiv1.FirearmsService_WatchFirearms_FullMethodName, "weapon/"+b.GetId()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 6 { // three to the live watch, three to the resumed one
		t.Errorf("%d audited deliveries of weapon %s, want 6 or more", n, b.GetId())
	}
}

// TestWritesAudited: a write's audit record commits with it, naming the
// weapon, and for an incident the report and the agreements it travels
// by; a read's records name what it returned.
func TestWritesAudited(t *testing.T) {
	env, now := start(t, db)
	ctx := context.Background()
	metro := as(t, env, "lapas-metro")
	w := register(t, metro, sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM)
	inc, err := metro.ReportWeaponIncident(ctx, &sinergiv1.ReportWeaponIncidentRequest{Access: keeper, IdempotencyKey: "audit-" + w.GetId(),
		WeaponId: w.GetId(), Incident: sinergiv1.WeaponIncident_WEAPON_INCIDENT_LOSS, OccurTime: timestamppb.New(now.Add(-time.Hour)),
		Place: "Gudang", Narrative: "Hilang"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := as(t, env, "polres-metro").GetWeapon(ctx, &sinergiv1.GetWeaponRequest{Access: supervisor, Id: w.GetId()}); err != nil {
		t.Fatal(err)
	}
	env.WaitIntegrated(t)
	record := func(method, caller string) ([]string, []string) {
		t.Helper()
		var subjects, agreements []string
		if err := env.Owner.Pool.QueryRow(ctx, `SELECT subjects, agreement_ids FROM audit_records WHERE method = $1 AND caller_code = $2
			AND $3 = ANY(subjects) ORDER BY id DESC LIMIT 1`, method, caller, "weapon/"+w.GetId()).Scan(&subjects, &agreements); err != nil {
			t.Fatalf("audit record of %s by %s: %v", method, caller, err)
		}
		return subjects, agreements
	}
	subjects, _ := record(sinergiv1.FirearmsService_RegisterWeapon_FullMethodName, "lapas-metro")
	if !slices.Equal(subjects, []string{"weapon/" + w.GetId()}) {
		t.Errorf("RegisterWeapon's subjects: %v", subjects)
	}
	subjects, agreements := record(sinergiv1.FirearmsService_ReportWeaponIncident_FullMethodName, "lapas-metro")
	if !slices.Contains(subjects, "report/"+inc.GetReport().GetId()) || !slices.Contains(agreements, "pks-2025-kemenimipas-polri-data") {
		t.Errorf("ReportWeaponIncident's record: subjects %v, agreements %v", subjects, agreements)
	}
	_, agreements = record(sinergiv1.FirearmsService_GetWeapon_FullMethodName, "polres-metro")
	if !slices.Equal(agreements, []string{"pks-2025-kemenimipas-polri-data"}) {
		t.Errorf("a police read's agreements: %v", agreements)
	}
}

// TestOfficersNotInLogs: holders' NIPs and names reach no log line, even of
// refused and failed calls, at the most talkative level.
func TestOfficersNotInLogs(t *testing.T) {
	var logs servertest.LogBuffer
	env := servertest.Start(t, db, servertest.Options{Configure: func(c *server.Config) {
		c.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	now := time.Now()
	ctx := context.Background()
	w, nip := licensed(t, env, "lapas-tenggarong", "polda-kalimantan-timur", sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS, now)
	f := as(t, env, "lapas-tenggarong")
	stranger := freshNIP()
	_, err := f.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: w.GetId(), HolderNip: stranger, Duty: "Pos"})
	wantRefused(t, "an officer without a licence", err, "holder_nip")
	if _, err := f.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: w.GetId(), HolderNip: nip, Duty: "Pos"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.ApplyForLicence(ctx, &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER,
		HolderNip: nip + "9", HolderName: holderName, Category: sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS})
	wantCode(t, "a bad NIP", err, codes.InvalidArgument, "holder_nip")
	if _, err := f.ReturnWeapon(ctx, &sinergiv1.ReturnWeaponRequest{Access: keeper, WeaponId: w.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: w.GetId(), HolderNip: nip, Duty: "Pos"}); err != nil {
		t.Fatal(err)
	}
	// Nor in a page token, which carries its query.
	page, err := f.ListAssignments(ctx, &sinergiv1.ListAssignmentsRequest{Access: keeper, HolderNip: nip, PageSize: 1})
	if err != nil || page.GetNextPageToken() == "" {
		t.Fatalf("a first page of one: %v %v", page, err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(page.GetNextPageToken()); err != nil || strings.Contains(string(raw), nip) {
		t.Errorf("the page token carries the NIP (or is not what the test expects: %v)", err)
	}
	if _, err := f.ListAssignments(ctx, &sinergiv1.ListAssignmentsRequest{Access: keeper, HolderNip: nip, PageSize: 1, PageToken: page.GetNextPageToken()}); err != nil {
		t.Fatalf("the next page: %v", err)
	}
	env.Server.Stop()
	out := logs.String()
	if !strings.Contains(out, w.GetId()) {
		t.Fatal("the log has nothing of the calls: the test looks in the wrong place")
	}
	for _, secret := range []string{nip, stranger, holderName, "Rahmat"} {
		if strings.Contains(out, secret) {
			i := strings.Index(out, secret)
			t.Errorf("the log carries %q: ...%s...", secret, out[max(0, i-200):min(len(out), i+100)])
		}
	}
}
