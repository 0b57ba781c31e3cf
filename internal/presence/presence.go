// Package presence owns the rules of national hit / no-hit (Prüm's two
// steps, NCIC's hit confirmation): what a police unit learns of a person
// held outside its reach (the province alone, and a hit reference), how
// long a hit reference serves and whom, how soon the holding facility must
// confirm a hit, who answers once it has not (its regional office), and
// who may see a confirmation request. The store keeps hits, requests and
// notices; internal/api serves them; this package decides.
package presence

import (
	"errors"
	"strings"
	"time"

	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pagetoken"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// HitLifetime is how long a hit reference serves: long enough to justify
// and send the second request, short enough that a stale hit (the person
// since moved or released) is checked again.
const HitLifetime = time.Hour

// Deadline is how long the holding facility has to answer a confirmation
// request of urgency u (NCIC: 10 minutes urgent, an hour routine).
func Deadline(u sinergiv1.HitUrgency) time.Duration {
	if u == sinergiv1.HitUrgency_HIT_URGENCY_URGENT {
		return 10 * time.Minute
	}
	return time.Hour
}

// National reports whether callers of kind k check presence nationally:
// police units (facilities and the corrections offices read their own).
func National(k sinergiv1.InstitutionKind) bool {
	return directory.SideOf(k) == sinergiv1.Side_SIDE_POLRI
}

// Province is the province of a region code: its first two digits.
func Province(region string) string {
	if len(region) < 2 {
		return ""
	}
	return region[:2]
}

// ProvinceName is a province's name by its Kemendagri code ("" when unknown).
func ProvinceName(code string) string { return provinces[code] }

// provinces are Indonesia's provinces by Kemendagri code (Papua's
// divisions of 2022 included).
var provinces = map[string]string{
	"11": "Aceh", "12": "Sumatera Utara", "13": "Sumatera Barat", "14": "Riau", "15": "Jambi",
	"16": "Sumatera Selatan", "17": "Bengkulu", "18": "Lampung", "19": "Kepulauan Bangka Belitung",
	"21": "Kepulauan Riau", "31": "DKI Jakarta", "32": "Jawa Barat", "33": "Jawa Tengah",
	"34": "DI Yogyakarta", "35": "Jawa Timur", "36": "Banten", "51": "Bali", "52": "Nusa Tenggara Barat",
	"53": "Nusa Tenggara Timur", "61": "Kalimantan Barat", "62": "Kalimantan Tengah",
	"63": "Kalimantan Selatan", "64": "Kalimantan Timur", "65": "Kalimantan Utara",
	"71": "Sulawesi Utara", "72": "Sulawesi Tengah", "73": "Sulawesi Selatan", "74": "Sulawesi Tenggara",
	"75": "Gorontalo", "76": "Sulawesi Barat", "81": "Maluku", "82": "Maluku Utara",
	"91": "Papua", "92": "Papua Barat", "93": "Papua Selatan", "94": "Papua Tengah",
	"95": "Papua Pegunungan", "96": "Papua Barat Daya",
}

// Reference is what a hit reference carries: the hit's id and its expiry
// (unix seconds), sealed for one police unit. It names neither the
// facility nor the person: the id is random.
type Reference struct {
	ID     string `json:"h"`
	Expire int64  `json:"x"`
}

func referenceQuery(unit string) string { return "presence-hit|" + unit }

// Errors of OpenReference.
var (
	// ErrForeignReference: altered, not a hit reference, or another unit's.
	ErrForeignReference = errors.New("not a hit reference issued to this unit (altered, or another unit's)")
	// ErrExpiredReference: past its lifetime.
	ErrExpiredReference = errors.New("the hit reference has expired: check presence again")
)

// SealReference makes unit's hit reference for hit id, expiring at exp.
func SealReference(s *pagetoken.Sealer, unit, id string, exp time.Time) (string, error) {
	return s.Seal(referenceQuery(unit), Reference{ID: id, Expire: exp.Unix()})
}

// OpenReference reads a hit reference unit gives, at now.
func OpenReference(s *pagetoken.Sealer, unit, ref string, now time.Time) (Reference, error) {
	var r Reference
	if err := s.Open(ref, referenceQuery(unit), &r); err != nil || r.ID == "" {
		return Reference{}, ErrForeignReference
	}
	if !now.Before(time.Unix(r.Expire, 0)) {
		return r, ErrExpiredReference
	}
	return r, nil
}

// EscalationTarget is who answers for facility once it lets a request go
// unanswered: the regional office (KANWIL) of its province, or, where the
// directory has none active, the ministry's headquarters.
func EscalationTarget(snap *directory.Snapshot, facility string) string {
	f := snap.Institution(facility)
	province := Province(f.GetRegionCode())
	var ministry string
	for _, in := range snap.Institutions() {
		if in.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
			continue
		}
		switch in.GetKind() {
		case sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL:
			if province != "" && in.GetRegionCode() == province {
				return in.GetCode()
			}
		case sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY:
			if ministry == "" {
				ministry = in.GetCode()
			}
		}
	}
	return ministry
}

// Role is how an institution stands to a confirmation request.
type Role int

// Roles.
const (
	// Stranger: sees nothing of it (NOT_FOUND, as a missing one).
	Stranger Role = iota
	// Requester: the police unit that asked.
	Requester
	// Holder: the facility that holds the record.
	Holder
	// Escalated: the regional office it was escalated to.
	Escalated
)

// RoleOf is how institution code stands to request r.
func RoleOf(r *sinergiv1.HitRequest, code string) Role {
	switch {
	case code == r.GetFacilityCode():
		return Holder
	case code == r.GetRequesterCode():
		return Requester
	case r.GetEscalateTime() != nil && code == r.GetEscalatedToCode():
		return Escalated
	}
	return Stranger
}

// MayAnswer reports whether role answers requests: the holder, and the
// office it was escalated to.
func MayAnswer(role Role) bool { return role == Holder || role == Escalated }

// ForRequester is request r as its requester sees it: the facility and the
// record only once confirmed.
func ForRequester(r *sinergiv1.HitRequest) *sinergiv1.HitRequest {
	out := &sinergiv1.HitRequest{
		Id: r.GetId(), State: r.GetState(), Urgency: r.GetUrgency(), RequesterCode: r.GetRequesterCode(),
		OperatorId: r.GetOperatorId(), Purpose: r.GetPurpose(), CaseReference: r.GetCaseReference(), Reason: r.GetReason(),
		ProvinceCode: r.GetProvinceCode(), RequestTime: r.GetRequestTime(), DueTime: r.GetDueTime(),
		EscalateTime: r.GetEscalateTime(), AnswerTime: r.GetAnswerTime(), DenyReason: r.GetDenyReason(),
	}
	if r.GetState() == sinergiv1.HitRequestState_HIT_REQUEST_STATE_CONFIRMED {
		out.FacilityCode, out.RecordId, out.AnsweredByCode = r.GetFacilityCode(), r.GetRecordId(), r.GetAnsweredByCode()
	}
	return out
}

// StateWord is a state as messages say it: confirmed, denied.
func StateWord(s sinergiv1.HitRequestState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "HIT_REQUEST_STATE_"))
}
