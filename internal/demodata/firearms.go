package demodata

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/firearms"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Firearms fills the firearms register of every facility of the directory
// that has none yet, as of now, the way the facility and the police would
// through the API (the same rules, each act within its actor's reach),
// without audit records (loading demo data is not a call, as for people):
//
//   - three weapons: a firearm (a guard's pistol, licensed by Mabes Polri
//     for a year to come), a rubber-bullet gun whose licence from the
//     province's Polda expires in 20 days, and an electric-shock baton
//     whose licence expired 10 days ago;
//   - ammunition for the two guns, and an officer licensed to carry each;
//   - an inspection by the Polda five days ago that found the baton in
//     need of repair (an open finding) and set a follow-up action.
//
// Once the server runs, its expirer warns both sides of the two licences.
// It returns how many facilities it filled.
func Firearms(ctx context.Context, st *store.Store, now time.Time) (int, error) {
	d, err := st.LoadDirectory(ctx)
	if err != nil {
		return 0, err
	}
	dir := directory.NewSnapshot(d)
	now = now.Truncate(time.Second)
	filled := 0
	for _, f := range FacilitiesOf(d.Institutions) {
		fac := dir.Institution(f.Code)
		own := authz.ComputeReaches(dir, fac, now, firearms.Scope).Firearms()
		have, err := st.ListWeapons(ctx, own, store.WeaponFilter{Facility: f.Code, Limit: 1})
		if err != nil {
			return filled, err
		}
		if len(have) > 0 {
			continue
		}
		if err := fillFacility(ctx, st, dir, fac, f.Ordinal, now); err != nil {
			return filled, fmt.Errorf("firearms of %s: %w", f.Code, err)
		}
		filled++
	}
	return filled, nil
}

type demoWeapon struct {
	category              sinergiv1.WeaponCategory
	make, model, calibre  string
	armoury               string
	approved, expires     time.Duration // before now, after now (negative: expired)
	rounds                int64
	holderGiven, holderFn string
}

func fillFacility(ctx context.Context, st *store.Store, dir *directory.Snapshot, fac *sinergiv1.Institution, ordinal int, now time.Time) error {
	day := 24 * time.Hour
	h := fnv.New32a()
	h.Write([]byte(fac.GetCode()))
	n := int(h.Sum32())
	keeper := fmt.Sprintf("1985031520100110%02d", 10+ordinal)
	police := "85051234"
	weapons := []demoWeapon{
		{sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM, "Pindad", "G2 Combat", "9x19mm", "Gudang senjata utama", 300 * day, 400 * day, 200,
			maleNames[n%len(maleNames)], familyNames[n%len(familyNames)]},
		{sinergiv1.WeaponCategory_WEAPON_CATEGORY_RUBBER_BULLET, "Pindad", "SPR-3 RB", "12 gauge", "Gudang senjata utama", 345 * day, 20 * day, 60,
			maleNames[(n/7)%len(maleNames)], familyNames[(n/7)%len(familyNames)]},
		{sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK, "Pindad", "Tongkat kejut T-1", "", "Pos P2U", 375 * day, -10 * day, 0, "", ""},
	}
	var ids []string
	for i, dw := range weapons {
		at := now.Add(-dw.approved - 10*day)
		act := firearms.Act{Dir: dir, Caller: fac, Operator: keeper, At: at}
		w := &sinergiv1.Weapon{Id: store.NewFirearmsID(at), FacilityCode: fac.GetCode(), Category: dw.category, Make: dw.make, Model: dw.model,
			Calibre: dw.calibre, SerialNumber: fmt.Sprintf("DEMO-%s-%d", fac.GetCode(), i+1), Armoury: dw.armoury,
			Acquisition: &sinergiv1.WeaponAcquisition{AcquireTime: timestamppb.New(at.Add(-30 * day)), Source: "PT Pindad (Persero)",
				Document: fmt.Sprintf("BAST/%d/%s (demo)", i+1, fac.GetCode())}}
		keys := store.WeaponKeys{Make: firearms.MakeKey(w.GetMake()), Serial: firearms.SerialKey(w.GetSerialNumber()), Calibre: firearms.CalibreKey(w.GetCalibre())}
		if err := st.RegisterWeapon(ctx, noAudit{}, w, keys, firearms.Register(act, w)); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		ids = append(ids, w.GetId())
		if dw.rounds > 0 {
			if _, err := st.RecordAmmunition(ctx, noAudit{}, fac.GetCode(), firearms.CalibreKey(dw.calibre), dw.calibre, at,
				func(current int64, shown string) (int64, store.FirearmEventRow, error) {
					return firearms.Ammunition(act, fac.GetCode(), shown, current, sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_RECEIVED, dw.rounds, "BAST amunisi (demo)")
				}); err != nil {
				return fmt.Errorf("ammunition: %w", err)
			}
		}
		// The ownership licence, applied for and approved.
		apply := firearms.Act{Dir: dir, Caller: fac, Operator: keeper, At: now.Add(-dw.approved - day)}
		lid := store.NewFirearmsID(apply.At)
		own := authz.ComputeReaches(dir, fac, now, firearms.Scope).Firearms()
		if _, err := st.UpdateWeapon(ctx, noAudit{}, own, w.GetId(), store.WeaponLoad{}, func(s *store.WeaponState) (*store.WeaponChange, error) {
			return firearms.ApplyOwnership(apply, s, lid, "Senjata jaga (demo)")
		}); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		unit := firearms.LicensingUnit(dir, fac, dw.category)
		if err := demoApprove(ctx, st, dir, unit, police, lid, fmt.Sprintf("SI/%d/%s (demo)", i+1, fac.GetCode()), now.Add(-dw.approved), now.Add(dw.expires)); err != nil {
			return err
		}
		// An officer to carry it.
		if dw.holderGiven != "" {
			nip := fmt.Sprintf("19900101201503%d%03d", 1, (n+i)%1000)
			hid := store.NewFirearmsID(apply.At)
			l, ev, err := firearms.ApplyHolder(apply, hid, nip, dw.holderGiven+" "+dw.holderFn, dw.category, "Petugas P2U (demo)")
			if err != nil {
				return err
			}
			if err := st.CreateLicence(ctx, noAudit{}, l, ev); err != nil {
				return fmt.Errorf("holder: %w", err)
			}
			if err := demoApprove(ctx, st, dir, unit, police, hid, fmt.Sprintf("SIP/%d/%s (demo)", i+1, fac.GetCode()), now.Add(-dw.approved), now.Add(300*day)); err != nil {
				return err
			}
		}
	}
	// The Polda's inspection five days ago.
	inspector := firearms.RegionalUnit(dir, fac)
	at := now.Add(-5 * day)
	act := firearms.Act{Dir: dir, Caller: inspector, Operator: police, At: at}
	insp := &sinergiv1.Inspection{Id: store.NewFirearmsID(at), FacilityCode: fac.GetCode(), InspectorCode: inspector.GetCode(),
		InspectTime: timestamppb.New(at), InspectorIds: []string{police}, OperatorId: police, RecordTime: timestamppb.New(at),
		Note: "Pemeriksaan gudang senjata triwulan IV (demo)",
		Checks: []*sinergiv1.InspectionCheck{
			{WeaponId: ids[0], Result: sinergiv1.CheckResult_CHECK_RESULT_PRESENT, Condition: sinergiv1.WeaponCondition_WEAPON_CONDITION_SERVICEABLE},
			{WeaponId: ids[1], Result: sinergiv1.CheckResult_CHECK_RESULT_PRESENT, Condition: sinergiv1.WeaponCondition_WEAPON_CONDITION_SERVICEABLE},
			{WeaponId: ids[2], Result: sinergiv1.CheckResult_CHECK_RESULT_PRESENT, Condition: sinergiv1.WeaponCondition_WEAPON_CONDITION_NEEDS_REPAIR,
				Note: "Baterai tidak mengisi"},
		}}
	actions := []*sinergiv1.FollowUpAction{{Description: "Pasang gembok ganda pada lemari senjata", DueTime: timestamppb.New(now.Add(25 * day))}}
	reach := authz.ComputeReaches(dir, inspector, now, firearms.Scope).Firearms()
	return st.CreateInspection(ctx, noAudit{}, reach, insp, ids, func(ws store.InspectionWeapons) ([]*sinergiv1.InspectionFinding, []store.FirearmEventRow, error) {
		return firearms.Inspect(act, insp, ws, actions, time.Time{})
	})
}

// demoApprove has unit approve licence id, as of effective, until expire.
func demoApprove(ctx context.Context, st *store.Store, dir *directory.Snapshot, unit *sinergiv1.Institution, operator, id, number string,
	effective, expire time.Time) error {
	act := firearms.Act{Dir: dir, Caller: unit, Operator: operator, At: effective}
	reach := authz.ComputeReaches(dir, unit, effective, firearms.Scope).Firearms()
	_, err := st.UpdateLicence(ctx, nil, noAudit{}, reach, id, func(s *store.LicenceState) (*store.LicenceChange, error) {
		return firearms.Approve(act, s, number, effective, expire, "Disimpan di lemari senjata terkunci (demo)")
	})
	if err != nil {
		return fmt.Errorf("approve %s: %w", number, err)
	}
	return nil
}
