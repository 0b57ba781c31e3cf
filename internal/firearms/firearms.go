// Package firearms owns the rules of the firearms governance register that
// are neither SQL nor gRPC: how weapons, serial numbers and calibres
// compare, which police unit licenses what (the Polda of the facility's
// province, Mabes Polri for firearms), what state a licence is in at a
// moment and which licence governs a weapon, how a weapon's status may
// move, when a weapon may be issued to an officer and how it comes back,
// what an inspection's checks raise, what a loss, theft or discharge files
// to the police and how urgently, who is told of each change, and the
// expiry warnings at 90, 30 and 7 days (the Expirer, one for all server
// processes). internal/reports is the model: the store holds the state,
// this package decides each change.
package firearms

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/sinergi-id/sinergi/internal/directory"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Scope is the agreement scope the register travels under.
const Scope = sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE

// ExpiringWindow is how long before its expiry a licence in force counts
// as expiring (LICENCE_STATE_EXPIRING), and when its first warning is given.
const ExpiringWindow = 90 * 24 * time.Hour

// WarningDays are the expiry warnings, in days before expiry, largest first;
// the expiry itself is warned as 0.
var WarningDays = []int32{90, 30, 7}

// MaxValidity is the longest a licence may run from its approval or renewal.
const MaxValidity = 5 * 366 * 24 * time.Hour

// RuleError is a change the register's rules do not allow in its present
// state (the caller sees FAILED_PRECONDITION with its message). Messages
// name ids, codes and dates, never an officer's NIP or name: they reach
// the logs of failed calls.
type RuleError struct{ Msg string }

func (e *RuleError) Error() string { return e.Msg }

func refuse(format string, args ...any) error { return &RuleError{Msg: fmt.Sprintf(format, args...)} }

// key is s as compared: upper case, letters and digits only, so that
// "PND-0001 23", "pnd000123" and "PND 000123" are one serial number.
func key(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToUpper(r)
		}
		return -1
	}, s)
}

// SerialKey is a serial number as uniqueness compares it.
func SerialKey(s string) string { return key(s) }

// MakeKey is a make as uniqueness compares it.
func MakeKey(s string) string { return key(s) }

// CalibreKey is a calibre as ammunition stocks are keyed: "9x19mm",
// "9 x 19 mm" and "9X19MM" are one calibre; "5.56" and "556" are not.
func CalibreKey(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToUpper(r)
	}, s)
}

// NeedsCalibre reports whether weapons of category c fire ammunition whose
// calibre the register must know.
func NeedsCalibre(c sinergiv1.WeaponCategory) bool {
	switch c {
	case sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS,
		sinergiv1.WeaponCategory_WEAPON_CATEGORY_AIR, sinergiv1.WeaponCategory_WEAPON_CATEGORY_RUBBER_BULLET:
		return true
	}
	return false
}

// National reports whether licences for category c are decided at the
// national level (Mabes Polri): firearms. Security equipment classed as a
// firearm is licensed by the Polda of the facility's province.
func National(c sinergiv1.WeaponCategory) bool {
	return c == sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM
}

// CategoryName is a category as people say it: "firearm", "rubber-bullet gun".
func CategoryName(c sinergiv1.WeaponCategory) string {
	switch c {
	case sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM:
		return "firearm"
	case sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS:
		return "gas gun"
	case sinergiv1.WeaponCategory_WEAPON_CATEGORY_AIR:
		return "air gun"
	case sinergiv1.WeaponCategory_WEAPON_CATEGORY_RUBBER_BULLET:
		return "rubber-bullet gun"
	case sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK:
		return "electric-shock device"
	}
	return "other security equipment"
}

type unitKey struct {
	facility string
	national bool
}

// RegionalUnit is the police unit that supervises facility's register:
// the active Polda of its province, or Mabes Polri where the directory has
// none. Nil when neither is registered.
func RegionalUnit(dir *directory.Snapshot, facility *sinergiv1.Institution) *sinergiv1.Institution {
	return unit(dir, facility, false)
}

// LicensingUnit is the police unit competent to license weapons of
// category c held by facility: Mabes Polri for what is national
// (firearms), else the regional unit.
func LicensingUnit(dir *directory.Snapshot, facility *sinergiv1.Institution, c sinergiv1.WeaponCategory) *sinergiv1.Institution {
	return unit(dir, facility, National(c))
}

func unit(dir *directory.Snapshot, facility *sinergiv1.Institution, national bool) *sinergiv1.Institution {
	v := dir.Memo(unitKey{facility: facility.GetCode(), national: national}, func() any {
		var mabes, polda *sinergiv1.Institution
		province, _, _ := strings.Cut(facility.GetRegionCode(), ".")
		for _, in := range dir.Institutions() {
			if in.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
				continue
			}
			switch in.GetKind() {
			case sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES:
				if mabes == nil {
					mabes = in
				}
			case sinergiv1.InstitutionKind_INSTITUTION_KIND_POLDA:
				if polda == nil && province != "" && in.GetRegionCode() == province {
					polda = in
				}
			}
		}
		if national || polda == nil {
			return mabes
		}
		return polda
	})
	in, _ := v.(*sinergiv1.Institution)
	return in
}

// Audience is who is told of a change to facility's register: the facility
// and the units given (empty codes left out), each once.
func Audience(facility string, units ...string) []string {
	out := []string{facility}
	for _, u := range units {
		if u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

func codeOf(in *sinergiv1.Institution) string { return in.GetCode() }

// weaponAudience: the facility, its weapon's licensing unit and the regional unit.
func weaponAudience(dir *directory.Snapshot, facility *sinergiv1.Institution, c sinergiv1.WeaponCategory) []string {
	return Audience(facility.GetCode(), codeOf(LicensingUnit(dir, facility, c)), codeOf(RegionalUnit(dir, facility)))
}

// StateAt is the state at now of licence l as the store gives it (its
// decided state and dates): an approved licence is not yet valid before
// its effective time, expired from its expiry, expiring within
// ExpiringWindow of it, valid otherwise. The store's filters follow the
// same definition (a test holds the two together).
func StateAt(l *sinergiv1.FirearmLicence, now time.Time) sinergiv1.LicenceState {
	s := l.GetState()
	if s != sinergiv1.LicenceState_LICENCE_STATE_VALID && s != sinergiv1.LicenceState_LICENCE_STATE_EXPIRING &&
		s != sinergiv1.LicenceState_LICENCE_STATE_EXPIRED && s != sinergiv1.LicenceState_LICENCE_STATE_NOT_YET_VALID {
		return s
	}
	switch {
	case now.Before(l.GetEffectiveTime().AsTime()):
		return sinergiv1.LicenceState_LICENCE_STATE_NOT_YET_VALID
	case !now.Before(l.GetExpireTime().AsTime()):
		return sinergiv1.LicenceState_LICENCE_STATE_EXPIRED
	case !l.GetExpireTime().AsTime().After(now.Add(ExpiringWindow)):
		return sinergiv1.LicenceState_LICENCE_STATE_EXPIRING
	}
	return sinergiv1.LicenceState_LICENCE_STATE_VALID
}

// Settle sets l's state to its state at now, and returns l.
func Settle(l *sinergiv1.FirearmLicence, now time.Time) *sinergiv1.FirearmLicence {
	if l != nil {
		l.State = StateAt(l, now)
	}
	return l
}

// InForce reports whether a licence in state s allows what it licenses.
func InForce(s sinergiv1.LicenceState) bool {
	return s == sinergiv1.LicenceState_LICENCE_STATE_VALID || s == sinergiv1.LicenceState_LICENCE_STATE_EXPIRING
}

// approved reports whether l was approved (whatever its dates or a revocation since).
func approved(l *sinergiv1.FirearmLicence) bool {
	switch l.GetState() {
	case sinergiv1.LicenceState_LICENCE_STATE_VALID, sinergiv1.LicenceState_LICENCE_STATE_EXPIRING,
		sinergiv1.LicenceState_LICENCE_STATE_EXPIRED, sinergiv1.LicenceState_LICENCE_STATE_NOT_YET_VALID,
		sinergiv1.LicenceState_LICENCE_STATE_REVOKED:
		return true
	}
	return false
}

// Current is the licence that governs at now among licences (newest
// first, as the store gives them; none is changed): one in force, else one
// approved from a later date, else the newest approved (expired or
// revoked), else the pending application, else the newest refused. Its
// state is LICENCE_STATE_NONE when there is none.
func Current(licences []*sinergiv1.FirearmLicence, now time.Time) (*sinergiv1.FirearmLicence, sinergiv1.LicenceState) {
	var best *sinergiv1.FirearmLicence
	var bestState sinergiv1.LicenceState
	rank := func(l *sinergiv1.FirearmLicence, s sinergiv1.LicenceState) int {
		switch {
		case InForce(s):
			return 0
		case s == sinergiv1.LicenceState_LICENCE_STATE_NOT_YET_VALID:
			return 1
		case approved(l):
			return 2
		case s == sinergiv1.LicenceState_LICENCE_STATE_PENDING:
			return 3
		case s == sinergiv1.LicenceState_LICENCE_STATE_REFUSED:
			return 4
		}
		return 5
	}
	for _, l := range licences {
		s := StateAt(l, now)
		if best == nil || rank(l, s) < rank(best, bestState) {
			best, bestState = l, s
		}
	}
	if best == nil {
		return nil, sinergiv1.LicenceState_LICENCE_STATE_NONE
	}
	return best, bestState
}

// day renders a moment as a date in WIB, as messages show it.
func day(t time.Time) string { return t.In(directory.WIB).Format("2006-01-02") }

// whyNotInForce says why licence l (the current one, in state s) allows
// nothing, or that there is none.
func whyNotInForce(l *sinergiv1.FirearmLicence, s sinergiv1.LicenceState) string {
	switch s {
	case sinergiv1.LicenceState_LICENCE_STATE_NONE:
		return "none was applied for"
	case sinergiv1.LicenceState_LICENCE_STATE_PENDING:
		return fmt.Sprintf("the application %s of %s is not decided yet", l.GetId(), day(l.GetApplyTime().AsTime()))
	case sinergiv1.LicenceState_LICENCE_STATE_EXPIRED:
		return fmt.Sprintf("licence %s expired on %s", l.GetNumber(), day(l.GetExpireTime().AsTime()))
	case sinergiv1.LicenceState_LICENCE_STATE_NOT_YET_VALID:
		return fmt.Sprintf("licence %s is in force only from %s", l.GetNumber(), day(l.GetEffectiveTime().AsTime()))
	case sinergiv1.LicenceState_LICENCE_STATE_REVOKED:
		return fmt.Sprintf("licence %s was revoked on %s", l.GetNumber(), day(l.GetRevokeTime().AsTime()))
	case sinergiv1.LicenceState_LICENCE_STATE_REFUSED:
		return fmt.Sprintf("the application %s was refused", l.GetId())
	}
	return "it is " + stateWord(s)
}

func stateWord(s sinergiv1.LicenceState) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "LICENCE_STATE_")), "_", " ")
}

func statusWord(s sinergiv1.WeaponStatus) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "WEAPON_STATUS_")), "_", " ")
}

// Held reports whether a weapon of status s is still in its facility's register.
func Held(s sinergiv1.WeaponStatus) bool {
	return s != sinergiv1.WeaponStatus_WEAPON_STATUS_DESTROYED && s != sinergiv1.WeaponStatus_WEAPON_STATUS_TRANSFERRED
}

// CanMove reports whether a weapon's status may move from one to another:
// in service and under repair into each other and out of the register
// (destroyed, transferred) or away (lost, stolen); a lost or stolen weapon
// back into service or repair when recovered, or destroyed. Destroyed and
// transferred are final.
func CanMove(from, to sinergiv1.WeaponStatus) bool {
	if from == to {
		return false
	}
	switch from {
	case sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE, sinergiv1.WeaponStatus_WEAPON_STATUS_UNDER_REPAIR:
		return to != sinergiv1.WeaponStatus_WEAPON_STATUS_UNSPECIFIED
	case sinergiv1.WeaponStatus_WEAPON_STATUS_LOST, sinergiv1.WeaponStatus_WEAPON_STATUS_STOLEN:
		return to == sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE || to == sinergiv1.WeaponStatus_WEAPON_STATUS_UNDER_REPAIR ||
			to == sinergiv1.WeaponStatus_WEAPON_STATUS_DESTROYED
	}
	return false
}

// describe names a weapon in messages: its id, make, model and serial
// number (a weapon's identity is not personal data).
func describe(w *sinergiv1.Weapon) string {
	return fmt.Sprintf("weapon %s (%s %s, serial %s)", w.GetId(), w.GetMake(), w.GetModel(), w.GetSerialNumber())
}
