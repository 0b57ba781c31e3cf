package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// FirearmsChannel is NOTIFYed in the transaction of every firearms event,
// so that every server process's watchers wake when it commits.
const FirearmsChannel = "sinergi_firearm_events"

// Enum prefixes of the firearms tables' text columns.
const (
	weaponCategoryPrefix  = "WEAPON_CATEGORY_"
	weaponStatusPrefix    = "WEAPON_STATUS_"
	licenceKindPrefix     = "LICENCE_KIND_"
	firearmEventPrefix    = "FIREARM_EVENT_KIND_"
	checkResultPrefix     = "CHECK_RESULT_"
	weaponConditionPrefix = "WEAPON_CONDITION_"
	findingKindPrefix     = "FINDING_KIND_"
	findingStatusPrefix   = "FINDING_STATUS_"
)

// Licence statuses as stored. What a licence's state is at a moment (valid,
// expiring, expired...) is internal/firearms' to say: the store hands out a
// licence with its decided state (PENDING, VALID for an approved one,
// REFUSED, REVOKED) and its dates.
const (
	LicenceApplied  = "APPLIED"
	LicenceApproved = "APPROVED"
	LicenceRefused  = "REFUSED"
	LicenceRevoked  = "REVOKED"
)

// NewFirearmsID returns a fresh id for a weapon, licence, assignment or
// inspection: a time-ordered UUID, as report ids are.
func NewFirearmsID(now time.Time) string { return NewReportID(now) }

// IsFirearmsID reports whether s has the form of a firearms register id.
func IsFirearmsID(s string) bool { return IsReportID(s) }

// firearmsCond is rs as a condition on a firearms table whose facility is
// col, adding its arguments.
func firearmsCond(rs *restrict.Restriction, col string, args *[]any) string {
	return rs.SQL(restrict.Columns{Facility: col}, func(v any) string {
		*args = append(*args, v)
		return "$" + strconv.Itoa(len(*args))
	})
}

func enumOr(v sinergiv1.WeaponStatus) string { return enumText(v.String(), weaponStatusPrefix) }

// FirearmEventRow is an event to append, with who is told of it.
type FirearmEventRow struct {
	Event    *sinergiv1.FirearmEvent
	Audience []string
}

func queueFirearmEvent(b *pgx.Batch, r FirearmEventRow) {
	ev := r.Event
	status := ""
	if ev.GetStatus() != sinergiv1.WeaponStatus_WEAPON_STATUS_UNSPECIFIED {
		status = enumOr(ev.GetStatus())
	}
	kind := ""
	if ev.GetLicenceKind() != sinergiv1.LicenceKind_LICENCE_KIND_UNSPECIFIED {
		kind = enumText(ev.GetLicenceKind().String(), licenceKindPrefix)
	}
	b.Queue(`INSERT INTO firearm_events (facility_code, kind, at, actor_code, operator_id, weapon_id, licence_id, assignment_id,
			inspection_id, finding_number, report_id, status, calibre, rounds, stock, days_left, licence_kind, expire_time, note, audience)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		ev.GetFacilityCode(), enumText(ev.GetKind().String(), firearmEventPrefix), ev.GetTime().AsTime(), ev.GetActorCode(),
		ev.GetOperatorId(), ev.GetWeaponId(), ev.GetLicenceId(), ev.GetAssignmentId(), ev.GetInspectionId(), ev.GetFindingNumber(),
		ev.GetReportId(), status, ev.GetCalibre(), ev.GetRounds(), ev.GetStock(), ev.GetDaysLeft(), kind,
		tsOrNil(ev.GetExpireTime()), ev.GetNote(), nonNil(r.Audience))
}

func queueFirearmEvents(b *pgx.Batch, evs []FirearmEventRow) {
	for _, e := range evs {
		queueFirearmEvent(b, e)
	}
	if len(evs) > 0 {
		b.Queue(`SELECT pg_notify($1, '')`, FirearmsChannel)
	}
}

// WeaponKeys are a weapon's make, serial number and calibre as compared
// (internal/firearms decides the form).
type WeaponKeys struct {
	Make, Serial, Calibre string
}

// RegisterWeapon adds weapon w (every field set by the caller) with its
// first event and the call's audit record, in one transaction. Another
// weapon held with the same make and serial keys is ErrConflict.
func (s *Store) RegisterWeapon(ctx context.Context, hook TxHook, w *sinergiv1.Weapon, keys WeaponKeys, ev FirearmEventRow) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		a := w.GetAcquisition()
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO firearm_weapons (id, facility_code, category, make, model, calibre, serial_number, make_key, serial_key, calibre_key,
				acquire_time, acquire_source, acquire_document, register_time, register_operator, armoury, status, update_time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $14)`,
			w.GetId(), w.GetFacilityCode(), enumText(w.GetCategory().String(), weaponCategoryPrefix), w.GetMake(), w.GetModel(),
			w.GetCalibre(), w.GetSerialNumber(), keys.Make, keys.Serial, keys.Calibre, tsOrNil(a.GetAcquireTime()), a.GetSource(),
			a.GetDocument(), w.GetRegisterTime().AsTime(), w.GetRegisterOperatorId(), w.GetArmoury(), enumOr(w.GetStatus()))
		queueFirearmEvents(b, []FirearmEventRow{ev})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

const weaponColumns = `w.id, w.facility_code, w.category, w.make, w.model, w.calibre, w.serial_number, w.acquire_time,
	w.acquire_source, w.acquire_document, w.register_time, w.register_operator, w.armoury, w.status, w.counterpart_code, w.update_time`

func scanWeapon(row pgx.Row, extra ...any) (*sinergiv1.Weapon, error) {
	w := &sinergiv1.Weapon{Acquisition: &sinergiv1.WeaponAcquisition{}}
	var category, status string
	var acquired *time.Time
	var registered, updated time.Time
	dest := append([]any{&w.Id, &w.FacilityCode, &category, &w.Make, &w.Model, &w.Calibre, &w.SerialNumber, &acquired,
		&w.Acquisition.Source, &w.Acquisition.Document, &registered, &w.RegisterOperatorId, &w.Armoury, &status,
		&w.CounterpartCode, &updated}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	w.Category = sinergiv1.WeaponCategory(enumValue(sinergiv1.WeaponCategory_value, weaponCategoryPrefix, category))
	w.Status = sinergiv1.WeaponStatus(enumValue(sinergiv1.WeaponStatus_value, weaponStatusPrefix, status))
	w.Acquisition.AcquireTime = optTime(acquired)
	w.RegisterTime, w.UpdateTime = timestamppb.New(registered), timestamppb.New(updated)
	return w, nil
}

const licenceColumns = `l.id, l.facility_code, l.kind, coalesce(l.weapon_id, ''), l.holder_nip, l.holder_name, l.category, l.licensing_code,
	l.justification, l.apply_time, l.apply_operator, l.status, l.number, l.effective_time, l.expire_time, l.conditions, l.reason,
	l.decide_time, l.decide_operator, l.revoke_time, l.revoke_operator, l.renewals`

// LicenceDecided is the state a licence has as stored: what it was decided
// to be, before its dates are held against a moment.
func LicenceDecided(status string) sinergiv1.LicenceState {
	switch status {
	case LicenceApplied:
		return sinergiv1.LicenceState_LICENCE_STATE_PENDING
	case LicenceApproved:
		return sinergiv1.LicenceState_LICENCE_STATE_VALID
	case LicenceRefused:
		return sinergiv1.LicenceState_LICENCE_STATE_REFUSED
	case LicenceRevoked:
		return sinergiv1.LicenceState_LICENCE_STATE_REVOKED
	}
	return sinergiv1.LicenceState_LICENCE_STATE_UNSPECIFIED
}

func scanLicence(row pgx.Row, extra ...any) (*sinergiv1.FirearmLicence, error) {
	l := &sinergiv1.FirearmLicence{}
	var kind, category, status string
	var applied time.Time
	var effective, expire, decided, revoked *time.Time
	dest := append([]any{&l.Id, &l.FacilityCode, &kind, &l.WeaponId, &l.HolderNip, &l.HolderName, &category, &l.LicensingCode,
		&l.Justification, &applied, &l.ApplyOperatorId, &status, &l.Number, &effective, &expire, &l.Conditions, &l.Reason,
		&decided, &l.DecideOperatorId, &revoked, &l.RevokeOperatorId, &l.Renewals}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	l.Kind = sinergiv1.LicenceKind(enumValue(sinergiv1.LicenceKind_value, licenceKindPrefix, kind))
	l.Category = sinergiv1.WeaponCategory(enumValue(sinergiv1.WeaponCategory_value, weaponCategoryPrefix, category))
	l.State = LicenceDecided(status)
	l.ApplyTime = timestamppb.New(applied)
	l.EffectiveTime, l.ExpireTime, l.DecideTime, l.RevokeTime = optTime(effective), optTime(expire), optTime(decided), optTime(revoked)
	return l, nil
}

const assignmentColumns = `a.id, a.weapon_id, a.facility_code, a.holder_nip, a.holder_name, a.holder_licence_id, a.ownership_licence_id,
	a.duty, a.calibre, a.rounds_issued, a.issue_time, a.issue_operator, a.return_time, a.return_operator, a.rounds_returned,
	a.rounds_discharged, a.return_note`

func scanAssignment(row pgx.Row, extra ...any) (*sinergiv1.WeaponAssignment, error) {
	a := &sinergiv1.WeaponAssignment{}
	var issued time.Time
	var returned *time.Time
	dest := append([]any{&a.Id, &a.WeaponId, &a.FacilityCode, &a.HolderNip, &a.HolderName, &a.HolderLicenceId, &a.OwnershipLicenceId,
		&a.Duty, &a.Calibre, &a.RoundsIssued, &issued, &a.IssueOperatorId, &returned, &a.ReturnOperatorId, &a.RoundsReturned,
		&a.RoundsDischarged, &a.ReturnNote}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	a.IssueTime, a.ReturnTime = timestamppb.New(issued), optTime(returned)
	return a, nil
}

// weaponExtras loads, for weapons ids, their ownership licences (newest
// first) and open assignments, in one round trip.
func weaponExtras(ctx context.Context, q Batcher, ids []string) (licences map[string][]*sinergiv1.FirearmLicence, open map[string]*sinergiv1.WeaponAssignment, err error) {
	licences, open = map[string][]*sinergiv1.FirearmLicence{}, map[string]*sinergiv1.WeaponAssignment{}
	if len(ids) == 0 {
		return licences, open, nil
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+licenceColumns+` FROM firearm_licences l WHERE l.weapon_id = ANY($1) ORDER BY l.weapon_id, l.id DESC`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				l, err := scanLicence(rows)
				if err != nil {
					return err
				}
				licences[l.GetWeaponId()] = append(licences[l.GetWeaponId()], l)
			}
			return rows.Err()
		})
	b.Queue(`SELECT `+assignmentColumns+` FROM firearm_assignments a WHERE a.weapon_id = ANY($1) AND a.return_time IS NULL`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				a, err := scanAssignment(rows)
				if err != nil {
					return err
				}
				open[a.GetWeaponId()] = a
			}
			return rows.Err()
		})
	err = q.SendBatch(ctx, b).Close()
	return licences, open, err
}

// WeaponRecord is a weapon as read, with its ownership licences (decided
// states, newest first) and its open assignment.
type WeaponRecord struct {
	Weapon   *sinergiv1.Weapon
	Licences []*sinergiv1.FirearmLicence
	Open     *sinergiv1.WeaponAssignment
}

// GetWeapon returns weapon id if reach admits it; ErrNotFound otherwise.
func (s *Store) GetWeapon(ctx context.Context, reach *restrict.Restriction, id string) (*WeaponRecord, error) {
	list, err := s.ListWeapons(ctx, reach, WeaponFilter{ID: id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

// WeaponFilter selects weapons.
type WeaponFilter struct {
	ID        string
	Facility  string
	Category  sinergiv1.WeaponCategory
	Status    sinergiv1.WeaponStatus
	SerialKey string
	// Keyset position: weapons with ids below Before.
	Before string
	Limit  int
}

// ListWeapons returns the weapons reach admits that match f, newest first.
func (s *Store) ListWeapons(ctx context.Context, reach *restrict.Restriction, f WeaponFilter) ([]*WeaponRecord, error) {
	var args []any
	conds := []string{firearmsCond(reach, "w.facility_code", &args)}
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.ID != "" {
		add("w.id = $%d", f.ID)
	}
	if f.Facility != "" {
		add("w.facility_code = $%d", f.Facility)
	}
	if f.Category != sinergiv1.WeaponCategory_WEAPON_CATEGORY_UNSPECIFIED {
		add("w.category = $%d", enumText(f.Category.String(), weaponCategoryPrefix))
	}
	if f.Status != sinergiv1.WeaponStatus_WEAPON_STATUS_UNSPECIFIED {
		add("w.status = $%d", enumOr(f.Status))
	}
	if f.SerialKey != "" {
		add("w.serial_key = $%d", f.SerialKey)
	}
	if f.Before != "" {
		add("w.id < $%d", f.Before)
	}
	args = append(args, f.Limit)
	q := `SELECT ` + weaponColumns + ` FROM firearm_weapons w WHERE ` + strings.Join(conds, " AND ") +
		fmt.Sprintf(` ORDER BY w.id DESC LIMIT $%d`, len(args))
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	weapons, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.Weapon, error) { return scanWeapon(r) })
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(weapons))
	for i, w := range weapons {
		ids[i] = w.GetId()
	}
	licences, open, err := weaponExtras(ctx, s.Pool, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*WeaponRecord, len(weapons))
	for i, w := range weapons {
		out[i] = &WeaponRecord{Weapon: w, Licences: licences[w.GetId()], Open: open[w.GetId()]}
	}
	return out, nil
}

// WeaponState is a weapon as a change to it needs to see it, read under
// its row lock: its open assignment, its ownership licences, the holder
// licences of the officer the change concerns (if any), and the stock of
// its calibre.
type WeaponState struct {
	Weapon   *sinergiv1.Weapon
	Open     *sinergiv1.WeaponAssignment
	Licences []*sinergiv1.FirearmLicence
	// Holder licences at the weapon's facility of WeaponLoad.HolderNIP.
	Holder []*sinergiv1.FirearmLicence
	// Rounds of the weapon's calibre in the facility's armoury.
	Stock int64
}

// WeaponLoad says what a change needs loaded besides the weapon.
type WeaponLoad struct {
	// HolderNIP: load this officer's holder licences.
	HolderNIP string
	// Report, when the change files a report: the facility's idempotency
	// key and the submission's content hash. A key used before with the
	// same hash replays (nothing is changed), with another is ErrConflict.
	ReportKey  string
	ReportHash []byte
}

// ReportFiling is a report a change files, as CreateReport takes it.
type ReportFiling struct {
	Report *sinergiv1.Report
	Scope  sinergiv1.Scope
}

// WeaponChange is what a change does to a weapon.
type WeaponChange struct {
	At time.Time
	// Status: the new status (unspecified: unchanged); Armoury, when not
	// empty, the new armoury; Counterpart the institution it went to.
	Status      sinergiv1.WeaponStatus
	Armoury     string
	Counterpart string
	// Issue: an assignment to open (its every field set).
	Issue *sinergiv1.WeaponAssignment
	// Return: close the open assignment with these rounds, operator and note.
	Return *sinergiv1.WeaponAssignment
	// Discharged: rounds to add to the open assignment's discharged rounds.
	Discharged int32
	// Stock, when set: the new stock of the weapon's calibre.
	Stock *int64
	// Licence: an application to file (its every field set).
	Licence *sinergiv1.FirearmLicence
	// Report: a report to file.
	Report *ReportFiling
	Events []FirearmEventRow
}

// WeaponResult is what UpdateWeapon did.
type WeaponResult struct {
	// Replayed is the report filed before under the same key and content:
	// nothing was changed.
	Replayed string
}

// UpdateWeapon applies the change fn decides, given weapon id as it stands
// under its row lock, if reach admits it (else ErrNotFound). fn returning
// nil changes nothing (and commits no audit record: the caller's record is
// written by the audit interceptor). The events, the report and the audit
// record commit with the change.
func (s *Store) UpdateWeapon(ctx context.Context, hook TxHook, reach *restrict.Restriction, id string, load WeaponLoad,
	fn func(*WeaponState) (*WeaponChange, error)) (res WeaponResult, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		args := []any{id}
		var calibreKey string
		q := `SELECT ` + weaponColumns + `, w.calibre_key FROM firearm_weapons w WHERE w.id = $1 AND ` +
			firearmsCond(reach, "w.facility_code", &args) + ` FOR UPDATE OF w`
		w, err := scanWeapon(tx.QueryRow(ctx, q, args...), &calibreKey)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		st := &WeaponState{Weapon: w}
		b := &pgx.Batch{}
		b.Queue(`SELECT `+assignmentColumns+` FROM firearm_assignments a WHERE a.weapon_id = $1 AND a.return_time IS NULL FOR UPDATE`, id).
			Query(func(rows pgx.Rows) error {
				for rows.Next() {
					a, err := scanAssignment(rows)
					if err != nil {
						return err
					}
					st.Open = a
				}
				return rows.Err()
			})
		b.Queue(`SELECT `+licenceColumns+` FROM firearm_licences l WHERE l.weapon_id = $1 ORDER BY l.id DESC FOR SHARE`, id).
			Query(func(rows pgx.Rows) error {
				for rows.Next() {
					l, err := scanLicence(rows)
					if err != nil {
						return err
					}
					st.Licences = append(st.Licences, l)
				}
				return rows.Err()
			})
		if load.HolderNIP != "" {
			b.Queue(`SELECT `+licenceColumns+` FROM firearm_licences l WHERE l.kind = 'HOLDER' AND l.facility_code = $1 AND l.holder_nip = $2
				ORDER BY l.id DESC FOR SHARE`, w.GetFacilityCode(), load.HolderNIP).
				Query(func(rows pgx.Rows) error {
					for rows.Next() {
						l, err := scanLicence(rows)
						if err != nil {
							return err
						}
						st.Holder = append(st.Holder, l)
					}
					return rows.Err()
				})
		}
		if calibreKey != "" {
			b.Queue(`SELECT rounds FROM firearm_ammunition WHERE facility_code = $1 AND calibre_key = $2 FOR UPDATE`, w.GetFacilityCode(), calibreKey).
				Query(func(rows pgx.Rows) error {
					for rows.Next() {
						if err := rows.Scan(&st.Stock); err != nil {
							return err
						}
					}
					return rows.Err()
				})
		}
		if load.ReportKey != "" {
			b.Queue(`SELECT id, content_hash FROM reports WHERE author_code = $1 AND idempotency_key = $2`, w.GetFacilityCode(), load.ReportKey).
				Query(func(rows pgx.Rows) error {
					for rows.Next() {
						var prev string
						var hash []byte
						if err := rows.Scan(&prev, &hash); err != nil {
							return err
						}
						if string(hash) != string(load.ReportHash) {
							return ErrConflict
						}
						res.Replayed = prev
					}
					return rows.Err()
				})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if res.Replayed != "" {
			return nil
		}
		ch, err := fn(st)
		if err != nil || ch == nil {
			return err
		}
		if f := ch.Report; f != nil {
			prev, replayed, err := createReportTx(ctx, tx, f.Report, f.Scope, load.ReportKey, load.ReportHash)
			if err != nil {
				return err
			}
			if replayed {
				// Filed meanwhile by a retry that committed first.
				res.Replayed = prev
				return nil
			}
		}
		b = &pgx.Batch{}
		// Events first: the tables' guards let a state change only with one.
		queueFirearmEvents(b, ch.Events)
		if ch.Licence != nil {
			queueLicenceInsert(b, ch.Licence)
		}
		if ch.Status != sinergiv1.WeaponStatus_WEAPON_STATUS_UNSPECIFIED || ch.Armoury != "" {
			status, armoury, counterpart := w.GetStatus(), w.GetArmoury(), w.GetCounterpartCode()
			if ch.Status != sinergiv1.WeaponStatus_WEAPON_STATUS_UNSPECIFIED {
				status, counterpart = ch.Status, ch.Counterpart
			}
			if ch.Armoury != "" {
				armoury = ch.Armoury
			}
			b.Queue(`UPDATE firearm_weapons SET status = $2, armoury = $3, counterpart_code = $4, update_time = $5 WHERE id = $1`,
				id, enumOr(status), armoury, counterpart, ch.At)
		}
		if ch.Discharged > 0 && st.Open != nil {
			b.Queue(`UPDATE firearm_assignments SET rounds_discharged = rounds_discharged + $2 WHERE id = $1`, st.Open.GetId(), ch.Discharged)
		}
		if r := ch.Return; r != nil && st.Open != nil {
			b.Queue(`UPDATE firearm_assignments SET return_time = $2, return_operator = $3, rounds_returned = $4, return_note = $5 WHERE id = $1`,
				st.Open.GetId(), ch.At, r.GetReturnOperatorId(), r.GetRoundsReturned(), r.GetReturnNote())
		}
		if a := ch.Issue; a != nil {
			b.Queue(`INSERT INTO firearm_assignments (id, weapon_id, facility_code, holder_nip, holder_name, holder_licence_id,
					ownership_licence_id, duty, calibre, rounds_issued, issue_time, issue_operator)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
				a.GetId(), id, w.GetFacilityCode(), a.GetHolderNip(), a.GetHolderName(), a.GetHolderLicenceId(), a.GetOwnershipLicenceId(),
				a.GetDuty(), a.GetCalibre(), a.GetRoundsIssued(), ch.At, a.GetIssueOperatorId())
		}
		if ch.Stock != nil && calibreKey != "" {
			b.Queue(`INSERT INTO firearm_ammunition (facility_code, calibre_key, calibre, rounds, update_time) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (facility_code, calibre_key) DO UPDATE SET rounds = EXCLUDED.rounds, update_time = EXCLUDED.update_time`,
				w.GetFacilityCode(), calibreKey, w.GetCalibre(), *ch.Stock, ch.At)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
	if isUniqueViolation(err) {
		return res, ErrConflict
	}
	return res, err
}

func queueLicenceInsert(b *pgx.Batch, l *sinergiv1.FirearmLicence) {
	var weapon *string
	if l.GetWeaponId() != "" {
		w := l.GetWeaponId()
		weapon = &w
	}
	b.Queue(`INSERT INTO firearm_licences (id, facility_code, kind, weapon_id, holder_nip, holder_name, category, licensing_code,
			justification, apply_time, apply_operator, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		l.GetId(), l.GetFacilityCode(), enumText(l.GetKind().String(), licenceKindPrefix), weapon, l.GetHolderNip(), l.GetHolderName(),
		enumText(l.GetCategory().String(), weaponCategoryPrefix), l.GetLicensingCode(), l.GetJustification(), l.GetApplyTime().AsTime(),
		l.GetApplyOperatorId(), LicenceApplied)
}

// CreateLicence files an application for a holder licence with its event
// and the call's audit record. A pending application for the same officer
// and category is ErrConflict.
func (s *Store) CreateLicence(ctx context.Context, hook TxHook, l *sinergiv1.FirearmLicence, ev FirearmEventRow) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		queueFirearmEvents(b, []FirearmEventRow{ev})
		queueLicenceInsert(b, l)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// LicenceState is a licence as a decision about it needs to see it, read
// under its row lock.
type LicenceState struct {
	// Licence with its decided state.
	Licence *sinergiv1.FirearmLicence
	// WeaponStatus: an ownership licence's weapon's status.
	WeaponStatus sinergiv1.WeaponStatus
	// WarnedDays is the last expiry warning given for the licence's expiry
	// (nil: none); NextWarn when the next is due (nil: none).
	WarnedDays *int32
	NextWarn   *time.Time
}

// LicenceChange is what a decision does to a licence: its new state
// (every state field of Licence is written), and its events.
type LicenceChange struct {
	Status     string
	Licence    *sinergiv1.FirearmLicence
	WarnedDays *int32
	NextWarn   *time.Time
	Events     []FirearmEventRow
}

// UpdateLicence applies the change fn decides, given licence id as it
// stands under its row lock, if reach admits its facility (else
// ErrNotFound), on db (the pool when nil). fn returning nil changes
// nothing. A number the licensing unit used for another licence is
// ErrConflict.
func (s *Store) UpdateLicence(ctx context.Context, db DB, hook TxHook, reach *restrict.Restriction, id string,
	fn func(*LicenceState) (*LicenceChange, error)) (changed bool, err error) {
	if db == nil {
		db = s.Pool
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		args := []any{id}
		st := &LicenceState{}
		var weaponStatus *string
		q := `SELECT ` + licenceColumns + `, l.warned_days, l.next_warn_time,
				(SELECT w.status FROM firearm_weapons w WHERE w.id = l.weapon_id)
			FROM firearm_licences l WHERE l.id = $1 AND ` + firearmsCond(reach, "l.facility_code", &args) + ` FOR UPDATE OF l`
		l, err := scanLicence(tx.QueryRow(ctx, q, args...), &st.WarnedDays, &st.NextWarn, &weaponStatus)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		st.Licence = l
		if weaponStatus != nil {
			st.WeaponStatus = sinergiv1.WeaponStatus(enumValue(sinergiv1.WeaponStatus_value, weaponStatusPrefix, *weaponStatus))
		}
		ch, err := fn(st)
		if err != nil || ch == nil {
			return err
		}
		changed = true
		n := ch.Licence
		b := &pgx.Batch{}
		queueFirearmEvents(b, ch.Events)
		b.Queue(`UPDATE firearm_licences SET status = $2, number = $3, effective_time = $4, expire_time = $5, conditions = $6, reason = $7,
				decide_time = $8, decide_operator = $9, revoke_time = $10, revoke_operator = $11, renewals = $12, warned_days = $13,
				next_warn_time = $14
			WHERE id = $1`,
			id, ch.Status, n.GetNumber(), tsOrNil(n.GetEffectiveTime()), tsOrNil(n.GetExpireTime()), n.GetConditions(), n.GetReason(),
			tsOrNil(n.GetDecideTime()), n.GetDecideOperatorId(), tsOrNil(n.GetRevokeTime()), n.GetRevokeOperatorId(), n.GetRenewals(),
			ch.WarnedDays, ch.NextWarn)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
	if isUniqueViolation(err) {
		return false, ErrConflict
	}
	return changed, err
}

// DueLicenceWarnings returns up to limit approved licences whose next
// expiry warning is due at now, earliest first.
func DueLicenceWarnings(ctx context.Context, db DB, now time.Time, limit int) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT id FROM firearm_licences WHERE status = 'APPROVED' AND next_warn_time IS NOT NULL AND next_warn_time <= $1
		ORDER BY next_warn_time, id LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// GetLicence returns licence id if reach admits its facility.
func (s *Store) GetLicence(ctx context.Context, reach *restrict.Restriction, id string) (*sinergiv1.FirearmLicence, error) {
	args := []any{id}
	q := `SELECT ` + licenceColumns + ` FROM firearm_licences l WHERE l.id = $1 AND ` + firearmsCond(reach, "l.facility_code", &args)
	l, err := scanLicence(s.Pool.QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return l, err
}

// LicenceFilter selects licences. State is held against Now, with Window
// the span before expiry in which a licence is expiring (internal/firearms).
type LicenceFilter struct {
	Facility  string
	Kind      sinergiv1.LicenceKind
	State     sinergiv1.LicenceState
	WeaponID  string
	HolderNIP string
	// ExpiringWithin: only in-force licences expiring within this span.
	ExpiringWithin time.Duration
	Now            time.Time
	Window         time.Duration
	Before         string
	Limit          int
}

// licenceStateCond is the SQL form of a licence's state at now (the
// definition is internal/firearms.StateAt; a test holds the two together).
func licenceStateCond(state sinergiv1.LicenceState, arg func(any) string, now time.Time, window time.Duration) string {
	var n string
	switch state {
	case sinergiv1.LicenceState_LICENCE_STATE_NOT_YET_VALID, sinergiv1.LicenceState_LICENCE_STATE_EXPIRED,
		sinergiv1.LicenceState_LICENCE_STATE_EXPIRING, sinergiv1.LicenceState_LICENCE_STATE_VALID:
		n = arg(now)
	}
	switch state {
	case sinergiv1.LicenceState_LICENCE_STATE_PENDING:
		return "l.status = 'APPLIED'"
	case sinergiv1.LicenceState_LICENCE_STATE_REFUSED:
		return "l.status = 'REFUSED'"
	case sinergiv1.LicenceState_LICENCE_STATE_REVOKED:
		return "l.status = 'REVOKED'"
	case sinergiv1.LicenceState_LICENCE_STATE_NOT_YET_VALID:
		return "(l.status = 'APPROVED' AND l.effective_time > " + n + ")"
	case sinergiv1.LicenceState_LICENCE_STATE_EXPIRED:
		return "(l.status = 'APPROVED' AND l.effective_time <= " + n + " AND l.expire_time <= " + n + ")"
	case sinergiv1.LicenceState_LICENCE_STATE_EXPIRING:
		return "(l.status = 'APPROVED' AND l.effective_time <= " + n + " AND l.expire_time > " + n + " AND l.expire_time <= " + arg(now.Add(window)) + ")"
	case sinergiv1.LicenceState_LICENCE_STATE_VALID:
		return "(l.status = 'APPROVED' AND l.effective_time <= " + n + " AND l.expire_time > " + arg(now.Add(window)) + ")"
	}
	return "FALSE"
}

// ListLicences returns the licences reach admits that match f, newest first.
func (s *Store) ListLicences(ctx context.Context, reach *restrict.Restriction, f LicenceFilter) ([]*sinergiv1.FirearmLicence, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	conds := []string{firearmsCond(reach, "l.facility_code", &args)}
	if f.Facility != "" {
		conds = append(conds, "l.facility_code = "+arg(f.Facility))
	}
	if f.Kind != sinergiv1.LicenceKind_LICENCE_KIND_UNSPECIFIED {
		conds = append(conds, "l.kind = "+arg(enumText(f.Kind.String(), licenceKindPrefix)))
	}
	if f.State != sinergiv1.LicenceState_LICENCE_STATE_UNSPECIFIED {
		conds = append(conds, licenceStateCond(f.State, arg, f.Now, f.Window))
	}
	if f.ExpiringWithin > 0 {
		conds = append(conds, "(l.status = 'APPROVED' AND l.effective_time <= "+arg(f.Now)+" AND l.expire_time > "+arg(f.Now)+
			" AND l.expire_time <= "+arg(f.Now.Add(f.ExpiringWithin))+")")
	}
	if f.WeaponID != "" {
		conds = append(conds, "l.weapon_id = "+arg(f.WeaponID))
	}
	if f.HolderNIP != "" {
		conds = append(conds, "l.kind = 'HOLDER' AND l.holder_nip = "+arg(f.HolderNIP))
	}
	if f.Before != "" {
		conds = append(conds, "l.id < "+arg(f.Before))
	}
	q := `SELECT ` + licenceColumns + ` FROM firearm_licences l WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY l.id DESC LIMIT ` + arg(f.Limit)
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.FirearmLicence, error) { return scanLicence(r) })
}

// AssignmentFilter selects assignments.
type AssignmentFilter struct {
	Facility  string
	WeaponID  string
	HolderNIP string
	OpenOnly  bool
	Before    string
	Limit     int
}

// ListAssignments returns the assignments reach admits that match f, newest first.
func (s *Store) ListAssignments(ctx context.Context, reach *restrict.Restriction, f AssignmentFilter) ([]*sinergiv1.WeaponAssignment, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	conds := []string{firearmsCond(reach, "a.facility_code", &args)}
	if f.Facility != "" {
		conds = append(conds, "a.facility_code = "+arg(f.Facility))
	}
	if f.WeaponID != "" {
		conds = append(conds, "a.weapon_id = "+arg(f.WeaponID))
	}
	if f.HolderNIP != "" {
		conds = append(conds, "a.holder_nip = "+arg(f.HolderNIP))
	}
	if f.OpenOnly {
		conds = append(conds, "a.return_time IS NULL")
	}
	if f.Before != "" {
		conds = append(conds, "a.id < "+arg(f.Before))
	}
	q := `SELECT ` + assignmentColumns + ` FROM firearm_assignments a WHERE ` + strings.Join(conds, " AND ") +
		` ORDER BY a.id DESC LIMIT ` + arg(f.Limit)
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.WeaponAssignment, error) { return scanAssignment(r) })
}

// RecordAmmunition changes facility's stock of the calibre keyed key
// (shown as calibre when first recorded) as fn decides given the stock now
// (0 when there is none), under its row lock, with the event fn returns and
// the call's audit record.
func (s *Store) RecordAmmunition(ctx context.Context, hook TxHook, facility, key, calibre string, now time.Time,
	fn func(current int64, shown string) (int64, FirearmEventRow, error)) (*sinergiv1.AmmunitionStock, error) {
	out := &sinergiv1.AmmunitionStock{FacilityCode: facility}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO firearm_ammunition (facility_code, calibre_key, calibre, rounds, update_time)
			VALUES ($1, $2, $3, 0, $4) ON CONFLICT (facility_code, calibre_key) DO NOTHING`, facility, key, calibre, now); err != nil {
			return err
		}
		var current int64
		var shown string
		if err := tx.QueryRow(ctx, `SELECT rounds, calibre FROM firearm_ammunition WHERE facility_code = $1 AND calibre_key = $2 FOR UPDATE`,
			facility, key).Scan(&current, &shown); err != nil {
			return err
		}
		rounds, ev, err := fn(current, shown)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		queueFirearmEvents(b, []FirearmEventRow{ev})
		b.Queue(`UPDATE firearm_ammunition SET rounds = $3, update_time = $4 WHERE facility_code = $1 AND calibre_key = $2`, facility, key, rounds, now)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		out.Calibre, out.Rounds, out.UpdateTime = shown, rounds, timestamppb.New(now)
		return hook.WriteTx(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListAmmunition returns the stocks of the facilities reach admits (of
// facility only, when set), by facility and calibre, with the rounds out
// with officers now.
func (s *Store) ListAmmunition(ctx context.Context, reach *restrict.Restriction, facility string) ([]*sinergiv1.AmmunitionStock, error) {
	var args []any
	cond := firearmsCond(reach, "m.facility_code", &args)
	if facility != "" {
		args = append(args, facility)
		cond += fmt.Sprintf(" AND m.facility_code = $%d", len(args))
	}
	rows, err := s.Pool.Query(ctx, `
		SELECT m.facility_code, m.calibre, m.rounds, m.update_time,
			coalesce((SELECT sum(a.rounds_issued - a.rounds_discharged) FROM firearm_assignments a JOIN firearm_weapons w ON w.id = a.weapon_id
				WHERE a.return_time IS NULL AND w.facility_code = m.facility_code AND w.calibre_key = m.calibre_key), 0)
		FROM firearm_ammunition m WHERE `+cond+` ORDER BY m.facility_code, m.calibre_key`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.AmmunitionStock, error) {
		m := &sinergiv1.AmmunitionStock{}
		var at time.Time
		err := r.Scan(&m.FacilityCode, &m.Calibre, &m.Rounds, &at, &m.IssuedRounds)
		m.UpdateTime = timestamppb.New(at)
		return m, err
	})
}

// InspectionWeapons are the weapons of an inspected facility that its
// checks and actions name, by id, as read under lock.
type InspectionWeapons map[string]*sinergiv1.Weapon

// CreateInspection records inspection insp (its id, facility, inspector,
// times, inspectors, checks, note and operator set) if reach admits its
// facility (else ErrNotFound). fn, given the facility's weapons among ids
// (the ones the checks and actions name), returns the findings and events;
// they commit with the inspection and the call's audit record.
func (s *Store) CreateInspection(ctx context.Context, hook TxHook, reach *restrict.Restriction, insp *sinergiv1.Inspection, ids []string,
	fn func(InspectionWeapons) ([]*sinergiv1.InspectionFinding, []FirearmEventRow, error)) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		args := []any{insp.GetFacilityCode()}
		var ok bool
		q := `SELECT EXISTS (SELECT 1 FROM institutions i WHERE i.code = $1 AND ` + firearmsCond(reach, "i.code", &args) + `)`
		if err := tx.QueryRow(ctx, q, args...).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		rows, err := tx.Query(ctx, `SELECT `+weaponColumns+` FROM firearm_weapons w WHERE w.facility_code = $1 AND w.id = ANY($2) FOR SHARE`,
			insp.GetFacilityCode(), nonNil(ids))
		if err != nil {
			return err
		}
		weapons, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.Weapon, error) { return scanWeapon(r) })
		if err != nil {
			return err
		}
		byID := InspectionWeapons{}
		for _, w := range weapons {
			byID[w.GetId()] = w
		}
		findings, events, err := fn(byID)
		if err != nil {
			return err
		}
		insp.Findings = findings
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO firearm_inspections (id, facility_code, inspector_code, inspect_time, inspector_ids, note, operator_id, record_time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, insp.GetId(), insp.GetFacilityCode(), insp.GetInspectorCode(), insp.GetInspectTime().AsTime(),
			nonNil(insp.GetInspectorIds()), insp.GetNote(), insp.GetOperatorId(), insp.GetRecordTime().AsTime())
		for i, c := range insp.GetChecks() {
			cond := ""
			if c.GetCondition() != sinergiv1.WeaponCondition_WEAPON_CONDITION_UNSPECIFIED {
				cond = enumText(c.GetCondition().String(), weaponConditionPrefix)
			}
			b.Queue(`INSERT INTO firearm_inspection_checks (inspection_id, position, weapon_id, result, condition, note) VALUES ($1, $2, $3, $4, $5, $6)`,
				insp.GetId(), i, c.GetWeaponId(), enumText(c.GetResult().String(), checkResultPrefix), cond, c.GetNote())
		}
		for _, f := range findings {
			b.Queue(`INSERT INTO firearm_findings (inspection_id, number, weapon_id, kind, description, due_time, status) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				insp.GetId(), f.GetNumber(), f.GetWeaponId(), enumText(f.GetKind().String(), findingKindPrefix), f.GetDescription(),
				f.GetDueTime().AsTime(), enumText(f.GetStatus().String(), findingStatusPrefix))
		}
		queueFirearmEvents(b, events)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
}

// FindingChange is a finding's resolution, with its event.
type FindingChange struct {
	Resolution string
	Operator   string
	At         time.Time
	Events     []FirearmEventRow
}

// ResolveFinding applies the resolution fn decides for finding number of
// inspection id, given the finding and its inspection under lock, if reach
// admits the inspected facility (else ErrNotFound).
func (s *Store) ResolveFinding(ctx context.Context, hook TxHook, reach *restrict.Restriction, id string, number int32,
	fn func(*sinergiv1.Inspection, *sinergiv1.InspectionFinding) (*FindingChange, error)) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		args := []any{id}
		var found bool
		q := `SELECT EXISTS (SELECT 1 FROM firearm_inspections i WHERE i.id = $1 AND ` + firearmsCond(reach, "i.facility_code", &args) + `)`
		if err := tx.QueryRow(ctx, q, args...).Scan(&found); err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM firearm_findings WHERE inspection_id = $1 AND number = $2 FOR UPDATE`, id, number); err != nil {
			return err
		}
		insps, err := loadInspections(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		if len(insps) == 0 {
			return ErrNotFound
		}
		var f *sinergiv1.InspectionFinding
		for _, x := range insps[0].GetFindings() {
			if x.GetNumber() == number {
				f = x
			}
		}
		if f == nil {
			return ErrNotFound
		}
		ch, err := fn(insps[0], f)
		if err != nil || ch == nil {
			return err
		}
		b := &pgx.Batch{}
		queueFirearmEvents(b, ch.Events)
		b.Queue(`UPDATE firearm_findings SET status = 'RESOLVED', resolution = $3, resolve_time = $4, resolve_operator = $5
			WHERE inspection_id = $1 AND number = $2`, id, number, ch.Resolution, ch.At, ch.Operator)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
}

// loadInspections reads whole inspections, in the order of ids, without reach.
func loadInspections(ctx context.Context, q interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, ids []string) ([]*sinergiv1.Inspection, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	byID := map[string]*sinergiv1.Inspection{}
	b := &pgx.Batch{}
	b.Queue(`SELECT id, facility_code, inspector_code, inspect_time, inspector_ids, note, operator_id, record_time
		FROM firearm_inspections WHERE id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			in := &sinergiv1.Inspection{}
			var at, rec time.Time
			if err := rows.Scan(&in.Id, &in.FacilityCode, &in.InspectorCode, &at, &in.InspectorIds, &in.Note, &in.OperatorId, &rec); err != nil {
				return err
			}
			in.InspectTime, in.RecordTime = timestamppb.New(at), timestamppb.New(rec)
			byID[in.Id] = in
		}
		return rows.Err()
	})
	b.Queue(`SELECT inspection_id, weapon_id, result, condition, note FROM firearm_inspection_checks WHERE inspection_id = ANY($1)
		ORDER BY inspection_id, position`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id, result, cond string
			c := &sinergiv1.InspectionCheck{}
			if err := rows.Scan(&id, &c.WeaponId, &result, &cond, &c.Note); err != nil {
				return err
			}
			c.Result = sinergiv1.CheckResult(enumValue(sinergiv1.CheckResult_value, checkResultPrefix, result))
			c.Condition = sinergiv1.WeaponCondition(enumValue(sinergiv1.WeaponCondition_value, weaponConditionPrefix, cond))
			if in := byID[id]; in != nil {
				in.Checks = append(in.Checks, c)
			}
		}
		return rows.Err()
	})
	b.Queue(`SELECT inspection_id, number, weapon_id, kind, description, due_time, status, resolution, resolve_time, resolve_operator
		FROM firearm_findings WHERE inspection_id = ANY($1) ORDER BY inspection_id, number`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id, kind, status string
			var due time.Time
			var resolved *time.Time
			f := &sinergiv1.InspectionFinding{}
			if err := rows.Scan(&id, &f.Number, &f.WeaponId, &kind, &f.Description, &due, &status, &f.Resolution, &resolved, &f.ResolveOperatorId); err != nil {
				return err
			}
			f.Kind = sinergiv1.FindingKind(enumValue(sinergiv1.FindingKind_value, findingKindPrefix, kind))
			f.Status = sinergiv1.FindingStatus(enumValue(sinergiv1.FindingStatus_value, findingStatusPrefix, status))
			f.DueTime, f.ResolveTime = timestamppb.New(due), optTime(resolved)
			if in := byID[id]; in != nil {
				in.Findings = append(in.Findings, f)
			}
		}
		return rows.Err()
	})
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	out := make([]*sinergiv1.Inspection, 0, len(ids))
	for _, id := range ids {
		if in := byID[id]; in != nil {
			out = append(out, in)
		}
	}
	return out, nil
}

// InspectionFilter selects inspections.
type InspectionFilter struct {
	ID           string
	Facility     string
	OpenFindings bool
	Before       string
	Limit        int
}

// ListInspections returns the inspections reach admits that match f, newest first.
func (s *Store) ListInspections(ctx context.Context, reach *restrict.Restriction, f InspectionFilter) ([]*sinergiv1.Inspection, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	conds := []string{firearmsCond(reach, "i.facility_code", &args)}
	if f.ID != "" {
		conds = append(conds, "i.id = "+arg(f.ID))
	}
	if f.Facility != "" {
		conds = append(conds, "i.facility_code = "+arg(f.Facility))
	}
	if f.OpenFindings {
		conds = append(conds, "EXISTS (SELECT 1 FROM firearm_findings x WHERE x.inspection_id = i.id AND x.status = 'OPEN')")
	}
	if f.Before != "" {
		conds = append(conds, "i.id < "+arg(f.Before))
	}
	q := `SELECT i.id FROM firearm_inspections i WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY i.id DESC LIMIT ` + arg(f.Limit)
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return loadInspections(ctx, s.Pool, ids)
}

const firearmEventColumns = `e.id, e.facility_code, e.kind, e.at, e.actor_code, e.operator_id, e.weapon_id, e.licence_id, e.assignment_id,
	e.inspection_id, e.finding_number, e.report_id, e.status, e.calibre, e.rounds, e.stock, e.days_left, e.licence_kind, e.expire_time, e.note`

func scanFirearmEvent(row pgx.Row, extra ...any) (*sinergiv1.FirearmEvent, error) {
	ev := &sinergiv1.FirearmEvent{}
	var kind, status, licenceKind string
	var at time.Time
	var expire *time.Time
	dest := append([]any{&ev.Id, &ev.FacilityCode, &kind, &at, &ev.ActorCode, &ev.OperatorId, &ev.WeaponId, &ev.LicenceId, &ev.AssignmentId,
		&ev.InspectionId, &ev.FindingNumber, &ev.ReportId, &status, &ev.Calibre, &ev.Rounds, &ev.Stock, &ev.DaysLeft, &licenceKind,
		&expire, &ev.Note}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	ev.Kind = sinergiv1.FirearmEventKind(enumValue(sinergiv1.FirearmEventKind_value, firearmEventPrefix, kind))
	ev.Status = sinergiv1.WeaponStatus(enumValue(sinergiv1.WeaponStatus_value, weaponStatusPrefix, status))
	ev.LicenceKind = sinergiv1.LicenceKind(enumValue(sinergiv1.LicenceKind_value, licenceKindPrefix, licenceKind))
	ev.Time, ev.ExpireTime = timestamppb.New(at), optTime(expire)
	return ev, nil
}

// FirearmEventFilter selects events.
type FirearmEventFilter struct {
	Facility  string
	WeaponID  string
	LicenceID string
	Kind      sinergiv1.FirearmEventKind
	Before    int64
	Limit     int
}

// ListFirearmEvents returns the events reach admits that match f, newest first.
func (s *Store) ListFirearmEvents(ctx context.Context, reach *restrict.Restriction, f FirearmEventFilter) ([]*sinergiv1.FirearmEvent, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	conds := []string{firearmsCond(reach, "e.facility_code", &args)}
	if f.Facility != "" {
		conds = append(conds, "e.facility_code = "+arg(f.Facility))
	}
	if f.WeaponID != "" {
		conds = append(conds, "e.weapon_id = "+arg(f.WeaponID))
	}
	if f.LicenceID != "" {
		conds = append(conds, "e.licence_id = "+arg(f.LicenceID))
	}
	if f.Kind != sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_UNSPECIFIED {
		conds = append(conds, "e.kind = "+arg(enumText(f.Kind.String(), firearmEventPrefix)))
	}
	if f.Before > 0 {
		conds = append(conds, "e.id < "+arg(f.Before))
	}
	q := `SELECT ` + firearmEventColumns + ` FROM firearm_events e WHERE ` + strings.Join(conds, " AND ") +
		` ORDER BY e.id DESC LIMIT ` + arg(f.Limit)
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.FirearmEvent, error) { return scanFirearmEvent(r) })
}

// FirearmPosition is a place in the stream of firearms events: the seq of
// the last event passed.
type FirearmPosition struct {
	Seq int64 `json:"s"`
}

// FirearmWatchStart is the position "now": after every event committed so far.
func (s *Store) FirearmWatchStart(ctx context.Context) (FirearmPosition, error) {
	var p FirearmPosition
	err := s.Pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM firearm_events`).Scan(&p.Seq)
	return p, err
}

// FirearmEventAfter is one event of a watch, at its position.
type FirearmEventAfter struct {
	Pos   FirearmPosition
	Event *sinergiv1.FirearmEvent
}

// FirearmEventsAfter returns up to limit events after position whose
// audience includes code, in seq order (which is commit order: see
// migration 00040).
func (s *Store) FirearmEventsAfter(ctx context.Context, code string, after FirearmPosition, limit int) ([]FirearmEventAfter, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+firearmEventColumns+`, e.seq FROM firearm_events e
		WHERE e.seq > $2 AND $1 = ANY(e.audience) ORDER BY e.seq LIMIT $3`, code, after.Seq, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (FirearmEventAfter, error) {
		var out FirearmEventAfter
		ev, err := scanFirearmEvent(r, &out.Pos.Seq)
		out.Event = ev
		return out, err
	})
}

// WeaponStatRow is one weapon as statistics count it: its facility,
// category, status and ownership licences (decided states).
type WeaponStatRow struct {
	Facility string
	Category sinergiv1.WeaponCategory
	Status   sinergiv1.WeaponStatus
	Licences []*sinergiv1.FirearmLicence
}

// FirearmsStatRows returns the weapons and licences reach admits, of
// facility or of facilities among facilities (when not nil), for counting.
func (s *Store) FirearmsStatRows(ctx context.Context, reach *restrict.Restriction, facility string, facilities []string) ([]WeaponStatRow, []*sinergiv1.FirearmLicence, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	cond := func(col string) string {
		args = args[:0]
		c := firearmsCond(reach, col, &args)
		if facility != "" {
			c += " AND " + col + " = " + arg(facility)
		}
		if facilities != nil {
			c += " AND " + col + " = ANY(" + arg(facilities) + "::text[])"
		}
		return c
	}
	var weapons []WeaponStatRow
	var licences []*sinergiv1.FirearmLicence
	q := `SELECT w.id, w.facility_code, w.category, w.status FROM firearm_weapons w WHERE ` + cond("w.facility_code") + ` ORDER BY w.id`
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	index := map[string]int{}
	for rows.Next() {
		var id, category, status string
		var r WeaponStatRow
		if err := rows.Scan(&id, &r.Facility, &category, &status); err != nil {
			rows.Close()
			return nil, nil, err
		}
		r.Category = sinergiv1.WeaponCategory(enumValue(sinergiv1.WeaponCategory_value, weaponCategoryPrefix, category))
		r.Status = sinergiv1.WeaponStatus(enumValue(sinergiv1.WeaponStatus_value, weaponStatusPrefix, status))
		index[id] = len(weapons)
		weapons = append(weapons, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	q = `SELECT ` + licenceColumns + ` FROM firearm_licences l WHERE ` + cond("l.facility_code") + ` ORDER BY l.id DESC`
	rows, err = s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	licences, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.FirearmLicence, error) { return scanLicence(r) })
	if err != nil {
		return nil, nil, err
	}
	for _, l := range licences {
		if i, ok := index[l.GetWeaponId()]; ok && l.GetKind() == sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP {
			weapons[i].Licences = append(weapons[i].Licences, l)
		}
	}
	return weapons, licences, nil
}

// GetInspection returns inspection id if reach admits its facility.
func (s *Store) GetInspection(ctx context.Context, reach *restrict.Restriction, id string) (*sinergiv1.Inspection, error) {
	list, err := s.ListInspections(ctx, reach, InspectionFilter{ID: id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}
