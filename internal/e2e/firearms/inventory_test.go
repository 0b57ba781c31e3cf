package firearms_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestRegisterAndHistory: a facility registers a weapon, which enters its
// register in service, unlicensed, with the police unit that licenses its
// category; its status and armoury change through events only, in order;
// the same make and serial number is refused anywhere, however written.
func TestRegisterAndHistory(t *testing.T) {
	env, _ := start(t, db)
	ctx := context.Background()
	permisan := as(t, env, "lapas-permisan")

	gun := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_RUBBER_BULLET)
	if gun.GetStatus() != sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE || gun.GetLicenceState() != sinergiv1.LicenceState_LICENCE_STATE_NONE ||
		gun.GetLicensingCode() != "polda-jawa-tengah" || gun.GetFacilityCode() != "lapas-permisan" || gun.GetRegisterOperatorId() != keeper.GetOperatorId() {
		t.Fatalf("registered weapon: %v", gun)
	}
	pistol := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM)
	if pistol.GetLicensingCode() != "mabes-polri" {
		t.Errorf("a firearm is licensed by %s, want mabes-polri (national)", pistol.GetLicensingCode())
	}

	// The same make and serial, in other spelling, at another facility.
	metro := as(t, env, "lapas-metro")
	_, err := metro.RegisterWeapon(ctx, &sinergiv1.RegisterWeaponRequest{Access: keeper, Category: sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM,
		Make: " pindad ", Model: "G2", Calibre: "9 x 19 mm", SerialNumber: strings.ToLower(strings.ReplaceAll(gun.GetSerialNumber(), "-", " ")), Armoury: "Gudang"})
	wantCode(t, "a serial registered already", err, codes.AlreadyExists)

	// Status and armoury through events.
	r, err := permisan.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: gun.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_UNDER_REPAIR, Note: "Pelatuk macet"})
	if err != nil || r.GetWeapon().GetStatus() != sinergiv1.WeaponStatus_WEAPON_STATUS_UNDER_REPAIR {
		t.Fatalf("to repair: %v %v", r, err)
	}
	r, err = permisan.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: gun.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE, Armoury: "Gudang senjata blok C", Note: "Selesai diperbaiki"})
	if err != nil || r.GetWeapon().GetArmoury() != "Gudang senjata blok C" || r.GetWeapon().GetStatus() != sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE {
		t.Fatalf("back in service, moved: %v %v", r, err)
	}
	_, err = permisan.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: gun.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE, Note: "x"})
	wantRefused(t, "in service twice", err, "in service already")
	_, err = permisan.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: gun.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_LOST, Note: "hilang"})
	wantCode(t, "lost without a report", err, codes.InvalidArgument, "status")
	_, err = permisan.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: gun.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_TRANSFERRED, CounterpartCode: "lapas-atlantis", Note: "x"})
	wantCode(t, "a transfer to nowhere", err, codes.InvalidArgument, "counterpart_code")

	want := []sinergiv1.FirearmEventKind{sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_REGISTERED,
		sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_STATUS_CHANGED, sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_STATUS_CHANGED}
	if diff := cmp.Diff(want, events(t, permisan, keeper, gun.GetId(), "")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}

	// Transferred: out of the register for good, and its serial free for
	// the facility that received it.
	if _, err := permisan.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: pistol.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_TRANSFERRED, CounterpartCode: "lapas-metro", Note: "Mutasi ke Lapas Metro"}); err != nil {
		t.Fatal(err)
	}
	_, err = permisan.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: pistol.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE, Note: "kembali"})
	wantRefused(t, "a transferred weapon changed", err, "no longer in the register")
	if _, err := metro.RegisterWeapon(ctx, &sinergiv1.RegisterWeaponRequest{Access: keeper, Category: pistol.GetCategory(), Make: pistol.GetMake(),
		Model: pistol.GetModel(), Calibre: pistol.GetCalibre(), SerialNumber: pistol.GetSerialNumber(), Armoury: "Gudang"}); err != nil {
		t.Fatalf("the receiving facility registers the transferred weapon: %v", err)
	}

	// GetWeapon reads back what the writes answered.
	got, err := permisan.GetWeapon(ctx, &sinergiv1.GetWeaponRequest{Access: keeper, Id: gun.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r.GetWeapon(), got.GetWeapon(), protocmp.Transform()); diff != "" {
		t.Errorf("GetWeapon differs from the last write's answer (-write +get):\n%s", diff)
	}
}

// TestRegisterValidation: bad input names the field, and nothing is written.
func TestRegisterValidation(t *testing.T) {
	env, _ := start(t, db)
	ctx := context.Background()
	permisan := as(t, env, "lapas-permisan")
	good := func() *sinergiv1.RegisterWeaponRequest {
		return &sinergiv1.RegisterWeaponRequest{Access: keeper, Category: sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS, Make: "Pindad",
			Model: "Gas gun", Calibre: "37mm", SerialNumber: serial(t), Armoury: "Gudang"}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*sinergiv1.RegisterWeaponRequest)
		field string
	}{
		{"no category", func(r *sinergiv1.RegisterWeaponRequest) { r.Category = 0 }, "category"},
		{"unknown category", func(r *sinergiv1.RegisterWeaponRequest) { r.Category = 99 }, "category"},
		{"no serial", func(r *sinergiv1.RegisterWeaponRequest) { r.SerialNumber = "" }, "serial_number"},
		{"punctuation serial", func(r *sinergiv1.RegisterWeaponRequest) { r.SerialNumber = "-- / --" }, "serial_number"},
		{"NUL in make", func(r *sinergiv1.RegisterWeaponRequest) { r.Make = "Pin\x00dad" }, "make"},
		{"huge model", func(r *sinergiv1.RegisterWeaponRequest) { r.Model = strings.Repeat("m", 5000) }, "model"},
		{"gas gun without calibre", func(r *sinergiv1.RegisterWeaponRequest) { r.Calibre = "" }, "calibre"},
		{"no armoury", func(r *sinergiv1.RegisterWeaponRequest) { r.Armoury = "  " }, "armoury"},
		{"acquired in the future", func(r *sinergiv1.RegisterWeaponRequest) {
			r.Acquisition = &sinergiv1.WeaponAcquisition{AcquireTime: timestamppbIn(48 * time.Hour)}
		}, "acquisition.acquire_time"},
		{"no access", func(r *sinergiv1.RegisterWeaponRequest) { r.Access = nil }, "access"},
		{"a police purpose", func(r *sinergiv1.RegisterWeaponRequest) {
			r.Access = &sinergiv1.AccessContext{OperatorId: keeper.GetOperatorId(), Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: "LP/B/1/I/2026/X"}
		}, "access.purpose"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := good()
			tc.edit(req)
			_, err := permisan.RegisterWeapon(ctx, req)
			wantCode(t, tc.name, err, codes.InvalidArgument, tc.field)
			if req.GetSerialNumber() != "" {
				list, err := permisan.ListWeapons(ctx, &sinergiv1.ListWeaponsRequest{Access: keeper, SerialNumber: req.GetSerialNumber()})
				if err == nil && len(list.GetWeapons()) != 0 {
					t.Errorf("a refused registration was written: %v", list.GetWeapons())
				}
			}
		})
	}
	// Only facilities keep a register.
	_, err := as(t, env, "polda-jawa-tengah").RegisterWeapon(ctx, good())
	wantCode(t, "a Polda registering", err, codes.PermissionDenied)
}

// TestWhoSeesTheRegister: a facility its own; the police units whose
// jurisdiction covers it under the firearms PKS; the ministry every
// facility's, a unit outside the region none; what is out of reach answers
// as what does not exist.
func TestWhoSeesTheRegister(t *testing.T) {
	env, _ := start(t, db)
	ctx := context.Background()
	w := register(t, as(t, env, "lapas-permisan"), sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK)
	const missing = "01900000-0000-7000-8000-000000000000"
	for _, tc := range []struct {
		code string
		sees bool
	}{
		{"lapas-permisan", true},
		{"polsek-nusakambangan", true},
		{"polres-cilacap", true},
		{"polda-jawa-tengah", true},
		{"mabes-polri", true},
		{"kemenimipas", true},
		// Another facility; a Polda and a Polres of other provinces.
		{"lapas-cipinang", false},
		{"polda-lampung", false},
		{"polres-metro-jakarta-timur", false},
		// Polda Metro Jaya's agreements with Lapas Permisan cover custody events, not firearms.
		{"polda-metro-jaya", false},
	} {
		t.Run(tc.code, func(t *testing.T) {
			c := as(t, env, tc.code)
			_, err := c.GetWeapon(ctx, &sinergiv1.GetWeaponRequest{Access: accessFor(tc.code), Id: w.GetId()})
			list, lerr := c.ListWeapons(ctx, &sinergiv1.ListWeaponsRequest{Access: accessFor(tc.code), FacilityCode: "lapas-permisan", PageSize: 500})
			if lerr != nil {
				t.Fatal(lerr)
			}
			listed := slices.ContainsFunc(list.GetWeapons(), func(x *sinergiv1.Weapon) bool { return x.GetId() == w.GetId() })
			if tc.sees {
				if err != nil || !listed {
					t.Fatalf("get %v, listed %v: want the weapon", err, listed)
				}
				return
			}
			_, missingErr := c.GetWeapon(ctx, &sinergiv1.GetWeaponRequest{Access: accessFor(tc.code), Id: missing})
			if codeOf(err) != codes.NotFound || listed || err.Error() != missingErr.Error() {
				t.Fatalf("get %v (missing: %v), listed %v: want NOT_FOUND as for a weapon that does not exist", err, missingErr, listed)
			}
		})
	}
	// Another facility cannot change it either, and learns nothing more.
	_, err := as(t, env, "lapas-cipinang").UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: w.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_DESTROYED, Note: "x"})
	wantCode(t, "another facility's weapon", err, codes.NotFound)
}

// TestRegisterNeverForgets: the server's own database role cannot delete
// a weapon, change its identity, change its state without an event, or
// change or delete an event.
func TestRegisterNeverForgets(t *testing.T) {
	env, _ := start(t, db)
	w := register(t, as(t, env, "lapas-permisan"), sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS)
	ctx := context.Background()
	app := env.Server.Store.Pool
	for _, q := range []string{
		`DELETE FROM firearm_weapons WHERE id = $1`,
		`UPDATE firearm_weapons SET serial_number = 'X' WHERE id = $1`,
		`UPDATE firearm_weapons SET status = 'DESTROYED' WHERE id = $1`,
		`UPDATE firearm_events SET note = 'x' WHERE weapon_id = $1`,
		`DELETE FROM firearm_events WHERE weapon_id = $1`,
	} {
		if _, err := app.Exec(ctx, q, w.GetId()); err == nil {
			t.Errorf("the server's role ran %s", q)
		}
	}
	for _, q := range []string{`TRUNCATE firearm_events`, `TRUNCATE firearm_weapons CASCADE`} {
		if _, err := app.Exec(ctx, q); err == nil {
			t.Errorf("the server's role ran %s", q)
		}
	}
	got, err := as(t, env, "lapas-permisan").GetWeapon(ctx, &sinergiv1.GetWeaponRequest{Access: keeper, Id: w.GetId()})
	if err != nil || got.GetWeapon().GetStatus() != sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE || got.GetWeapon().GetSerialNumber() != w.GetSerialNumber() {
		t.Fatalf("after the attempts: %v %v", got, err)
	}
}
