package firearms

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// licensingUnit is the unit that decides an application of facility for
// category c, refused when the directory has none or no agreement in force
// covers firearms governance between the two.
func licensingUnit(a Act, facility *sinergiv1.Institution, c sinergiv1.WeaponCategory) (*sinergiv1.Institution, error) {
	u := LicensingUnit(a.Dir, facility, c)
	if u == nil {
		return nil, refuse("no police unit can license a %s for %s: the directory has no Polda for its province and no Mabes Polri", CategoryName(c), facility.GetCode())
	}
	if !a.Dir.Coverage(u, facility, Scope, a.At).Covered {
		return nil, refuse("no agreement in force covers firearms governance between %s and %s, which licenses its %ss",
			facility.GetCode(), u.GetCode(), CategoryName(c))
	}
	return u, nil
}

func (a Act) licenceEvent(kind sinergiv1.FirearmEventKind, l *sinergiv1.FirearmLicence) store.FirearmEventRow {
	ev := a.event(kind, l.GetFacilityCode())
	ev.LicenceId, ev.LicenceKind, ev.WeaponId, ev.ExpireTime = l.GetId(), l.GetKind(), l.GetWeaponId(), l.GetExpireTime()
	return store.FirearmEventRow{Event: ev, Audience: Audience(l.GetFacilityCode(), l.GetLicensingCode())}
}

// ApplyOwnership is the facility applying, as licence id, for an ownership
// licence of weapon st: a weapon it holds with no application pending and
// no licence in force for longer than the expiring window (that one is
// renewed, not applied for again).
func ApplyOwnership(a Act, st *store.WeaponState, id, justification string) (*store.WeaponChange, error) {
	w := st.Weapon
	if !Held(w.GetStatus()) || w.GetStatus() == sinergiv1.WeaponStatus_WEAPON_STATUS_LOST || w.GetStatus() == sinergiv1.WeaponStatus_WEAPON_STATUS_STOLEN {
		return nil, refuse("%s is %s: no licence is applied for it", describe(w), statusWord(w.GetStatus()))
	}
	for _, l := range st.Licences {
		switch s := StateAt(l, a.At); {
		case s == sinergiv1.LicenceState_LICENCE_STATE_PENDING:
			return nil, refuse("%s has an application pending already (licence %s)", describe(w), l.GetId())
		case s == sinergiv1.LicenceState_LICENCE_STATE_VALID || s == sinergiv1.LicenceState_LICENCE_STATE_NOT_YET_VALID:
			return nil, refuse("%s has licence %s in force until %s: the licensing unit renews it when it expires", describe(w),
				l.GetNumber(), day(l.GetExpireTime().AsTime()))
		}
	}
	u, err := licensingUnit(a, a.facility(w.GetFacilityCode()), w.GetCategory())
	if err != nil {
		return nil, err
	}
	l := &sinergiv1.FirearmLicence{Id: id, FacilityCode: w.GetFacilityCode(), Kind: sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP,
		WeaponId: w.GetId(), Category: w.GetCategory(), LicensingCode: u.GetCode(), State: sinergiv1.LicenceState_LICENCE_STATE_PENDING,
		Justification: justification, ApplyTime: timestamppb.New(a.At), ApplyOperatorId: a.Operator}
	return &store.WeaponChange{At: a.At, Licence: l,
		Events: []store.FirearmEventRow{a.licenceEvent(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_APPLIED, l)}}, nil
}

// ApplyHolder is the facility a.Caller applying, as licence id, for a
// holder licence for the officer nip (named name) to carry category c.
// A second pending application for the same officer and category is the
// store's to refuse (ErrConflict).
func ApplyHolder(a Act, id, nip, name string, c sinergiv1.WeaponCategory, justification string) (*sinergiv1.FirearmLicence, store.FirearmEventRow, error) {
	u, err := licensingUnit(a, a.Caller, c)
	if err != nil {
		return nil, store.FirearmEventRow{}, err
	}
	l := &sinergiv1.FirearmLicence{Id: id, FacilityCode: a.Caller.GetCode(), Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER,
		HolderNip: nip, HolderName: name, Category: c, LicensingCode: u.GetCode(), State: sinergiv1.LicenceState_LICENCE_STATE_PENDING,
		Justification: justification, ApplyTime: timestamppb.New(a.At), ApplyOperatorId: a.Operator}
	return l, a.licenceEvent(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_APPLIED, l), nil
}

// decider checks that the caller is the licence's licensing unit.
func decider(a Act, l *sinergiv1.FirearmLicence) error {
	if a.Caller.GetCode() != l.GetLicensingCode() {
		return refuse("licence %s is decided by its licensing unit, %s", l.GetId(), l.GetLicensingCode())
	}
	return nil
}

// checkExpiry: an expiry after from and now, at most MaxValidity from now.
func checkExpiry(a Act, from, expire time.Time) error {
	switch {
	case !expire.After(from) || !expire.After(a.At):
		return refuse("expire_time must be after the licence takes effect and after now")
	case expire.After(a.At.Add(MaxValidity)):
		return refuse("a licence runs at most 5 years from its approval or renewal")
	}
	return nil
}

// NextWarn is when the next expiry warning of a licence expiring at expire
// is due, given the last one given (nil: none): 90, 30 and 7 days before,
// then at the expiry. Nil once the expiry itself was warned.
func NextWarn(expire time.Time, warned *int32) *time.Time {
	for _, d := range append(WarningDays, 0) {
		if warned == nil || d < *warned {
			t := expire.Add(-time.Duration(d) * 24 * time.Hour)
			return &t
		}
	}
	return nil
}

// DueWarning is the warning due at now for a licence expiring at expire
// whose last warning was warned (nil: none): the tightest threshold now
// has passed that was not warned yet. A licence approved 20 days before
// its expiry is warned once, at 30 days, not at 90 and 30.
func DueWarning(expire time.Time, warned *int32, now time.Time) (int32, bool) {
	due, ok := int32(0), false
	for _, d := range append(WarningDays, 0) {
		if warned != nil && d >= *warned {
			continue
		}
		if !now.Before(expire.Add(-time.Duration(d) * 24 * time.Hour)) {
			due, ok = d, true
		}
	}
	return due, ok
}

// decided starts the change of licence st: its new state, from a copy.
func decided(st *store.LicenceState, status string) (*store.LicenceChange, *sinergiv1.FirearmLicence) {
	n := proto.Clone(st.Licence).(*sinergiv1.FirearmLicence)
	return &store.LicenceChange{Status: status, Licence: n, WarnedDays: st.WarnedDays, NextWarn: st.NextWarn}, n
}

// Approve is the licensing unit approving the pending application st as
// licence number, in force from effective (zero: now) until expire, under
// conditions. An ownership licence needs its weapon still held.
func Approve(a Act, st *store.LicenceState, number string, effective, expire time.Time, conditions string) (*store.LicenceChange, error) {
	l := st.Licence
	if err := decider(a, l); err != nil {
		return nil, err
	}
	if s := StateAt(l, a.At); s != sinergiv1.LicenceState_LICENCE_STATE_PENDING {
		return nil, refuse("licence %s is %s: only a pending application is approved", l.GetId(), stateWord(s))
	}
	if l.GetKind() == sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP && st.WeaponStatus != sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE &&
		st.WeaponStatus != sinergiv1.WeaponStatus_WEAPON_STATUS_UNDER_REPAIR {
		return nil, refuse("weapon %s is %s: refuse the application instead", l.GetWeaponId(), statusWord(st.WeaponStatus))
	}
	if effective.IsZero() {
		effective = a.At
	}
	if err := checkExpiry(a, effective, expire); err != nil {
		return nil, err
	}
	ch, n := decided(st, store.LicenceApproved)
	n.State, n.Number, n.Conditions = sinergiv1.LicenceState_LICENCE_STATE_VALID, number, conditions
	n.EffectiveTime, n.ExpireTime = timestamppb.New(effective), timestamppb.New(expire)
	n.DecideTime, n.DecideOperatorId = timestamppb.New(a.At), a.Operator
	ch.WarnedDays, ch.NextWarn = nil, NextWarn(expire, nil)
	ch.Events = []store.FirearmEventRow{a.licenceEvent(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_APPROVED, n)}
	return ch, nil
}

// Refuse is the licensing unit refusing the pending application st for reason.
func Refuse(a Act, st *store.LicenceState, reason string) (*store.LicenceChange, error) {
	l := st.Licence
	if err := decider(a, l); err != nil {
		return nil, err
	}
	if s := StateAt(l, a.At); s != sinergiv1.LicenceState_LICENCE_STATE_PENDING {
		return nil, refuse("licence %s is %s: only a pending application is refused", l.GetId(), stateWord(s))
	}
	ch, n := decided(st, store.LicenceRefused)
	n.State, n.Reason = sinergiv1.LicenceState_LICENCE_STATE_REFUSED, reason
	n.DecideTime, n.DecideOperatorId = timestamppb.New(a.At), a.Operator
	ev := a.licenceEvent(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_REFUSED, n)
	ev.Event.Note = reason
	ch.Events = []store.FirearmEventRow{ev}
	return ch, nil
}

// Renew is the licensing unit extending approved licence st (expired or
// not, never revoked) to expire, with a new number and conditions when
// given. Its expiry warnings start again.
func Renew(a Act, st *store.LicenceState, expire time.Time, number, conditions string) (*store.LicenceChange, error) {
	l := st.Licence
	if err := decider(a, l); err != nil {
		return nil, err
	}
	if s := StateAt(l, a.At); !approved(l) || s == sinergiv1.LicenceState_LICENCE_STATE_REVOKED {
		return nil, refuse("licence %s is %s: only an approved licence is renewed", l.GetId(), stateWord(s))
	}
	if !expire.After(l.GetExpireTime().AsTime()) {
		return nil, refuse("licence %s expires on %s: a renewal must end later", l.GetId(), day(l.GetExpireTime().AsTime()))
	}
	if err := checkExpiry(a, l.GetEffectiveTime().AsTime(), expire); err != nil {
		return nil, err
	}
	ch, n := decided(st, store.LicenceApproved)
	n.ExpireTime, n.Renewals = timestamppb.New(expire), l.GetRenewals()+1
	if number != "" {
		n.Number = number
	}
	if conditions != "" {
		n.Conditions = conditions
	}
	n.DecideTime, n.DecideOperatorId = timestamppb.New(a.At), a.Operator
	ch.WarnedDays, ch.NextWarn = nil, NextWarn(expire, nil)
	ch.Events = []store.FirearmEventRow{a.licenceEvent(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_RENEWED, n)}
	return ch, nil
}

// Revoke is the licensing unit revoking approved licence st from now, for reason.
func Revoke(a Act, st *store.LicenceState, reason string) (*store.LicenceChange, error) {
	l := st.Licence
	if err := decider(a, l); err != nil {
		return nil, err
	}
	if s := StateAt(l, a.At); !approved(l) || s == sinergiv1.LicenceState_LICENCE_STATE_REVOKED {
		return nil, refuse("licence %s is %s: only an approved licence is revoked", l.GetId(), stateWord(s))
	}
	ch, n := decided(st, store.LicenceRevoked)
	n.State, n.Reason = sinergiv1.LicenceState_LICENCE_STATE_REVOKED, reason
	n.RevokeTime, n.RevokeOperatorId = timestamppb.New(a.At), a.Operator
	ch.WarnedDays, ch.NextWarn = st.WarnedDays, nil
	ev := a.licenceEvent(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_REVOKED, n)
	ev.Event.Note = reason
	ch.Events = []store.FirearmEventRow{ev}
	return ch, nil
}

// Warn is the expiry warning due at now for approved licence st, told to
// its facility and its licensing unit (nil when none is due: another
// server process gave it, or the licence was renewed or revoked since).
func Warn(st *store.LicenceState, now time.Time) *store.LicenceChange {
	l := st.Licence
	if StateAt(l, now) == sinergiv1.LicenceState_LICENCE_STATE_REVOKED || !approved(l) || l.GetExpireTime() == nil {
		return nil
	}
	expire := l.GetExpireTime().AsTime()
	d, ok := DueWarning(expire, st.WarnedDays, now)
	if !ok {
		return nil
	}
	ch, n := decided(st, store.LicenceApproved)
	ch.WarnedDays, ch.NextWarn = &d, NextWarn(expire, &d)
	kind := sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_EXPIRING
	if d == 0 {
		kind = sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_EXPIRED
	}
	ev := Act{At: now}.licenceEvent(kind, n)
	ev.Event.DaysLeft = d
	ch.Events = []store.FirearmEventRow{ev}
	return ch
}
