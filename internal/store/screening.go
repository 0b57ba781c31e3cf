package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// ScreeningChannel is NOTIFYed in the transaction of every referral, so
// that the owning units' watchers in every server process wake up.
const ScreeningChannel = "sinergi_screening_referrals"

// Where screening queries find what their restriction tests: an entry is
// admitted by its owning unit, a referral and a visit by their facility.
var (
	screeningEntryColumns = restrict.Columns{Facility: "e.owner_code"}
	referralColumns       = restrict.Columns{Facility: "r.facility_code"}
	visitColumns          = restrict.Columns{Facility: "v.facility_code"}
)

// condOn is rs over cols as a condition, adding its arguments.
func condOn(rs *restrict.Restriction, cols restrict.Columns, args *[]any) string {
	return rs.SQL(cols, func(v any) string {
		*args = append(*args, v)
		return "$" + strconv.Itoa(len(*args))
	})
}

// Enum prefixes of the screening tables' text columns.
const (
	categoryPrefix     = "SCREENING_CATEGORY_"
	instructionPrefix  = "HANDLING_INSTRUCTION_"
	matchPrefix        = "SCREENING_MATCH_"
	rolePrefix         = "SCREENED_ROLE_"
	relationshipPrefix = "VISITOR_RELATIONSHIP_"
	outcomePrefix      = "VISIT_OUTCOME_"
	resultPrefix       = "SCREENING_RESULT_"
)

func instructionOf(text string) sinergiv1.HandlingInstruction {
	return sinergiv1.HandlingInstruction(enumValue(sinergiv1.HandlingInstruction_value, instructionPrefix, text))
}

// Subjects of screening.
func ScreeningSubject(id string) string      { return "screening/" + id }
func ScreeningEntrySubject(id string) string { return "screening-entry/" + id }
func VisitSubject(id string) string          { return "visit/" + id }

// NewScreeningID is a fresh id for a screening, an entry, a referral or a
// visit: a UUID version 7, as report ids.
func NewScreeningID(now time.Time) string { return NewReportID(now) }

// searchNamesOf is a person's names as search_names holds them (the same
// form as custody records').
func searchNamesOf(p *sinergiv1.ScreenedPerson) string {
	return custodySearchNames(&sinergiv1.Identity{FullName: p.GetFullName(), Aliases: p.GetAliases()})
}

const entryColumns = `e.id::text, e.owner_code, e.category, coalesce(e.nik, ''), e.full_name, e.aliases, e.birth_date, e.reason,
	e.instruction, e.expire_time, e.create_time, e.remove_time, e.operator_id, e.purpose, e.case_reference, e.remove_operator`

func scanEntry(row pgx.Row, now time.Time) (*sinergiv1.ScreeningEntry, error) {
	e := &sinergiv1.ScreeningEntry{Person: &sinergiv1.ScreenedPerson{}}
	var category, instruction, purpose string
	var birth pgtype.Date
	var expire, created time.Time
	var removed pgtype.Timestamptz
	if err := row.Scan(&e.Id, &e.OwnerCode, &category, &e.Person.Nik, &e.Person.FullName, &e.Person.Aliases, &birth, &e.Reason,
		&instruction, &expire, &created, &removed, &e.OperatorId, &purpose, &e.CaseReference, &e.RemoveOperatorId); err != nil {
		return nil, err
	}
	if len(e.Person.Aliases) == 0 {
		e.Person.Aliases = nil
	}
	e.Person.BirthDate = dateText(birth)
	e.Category = sinergiv1.ScreeningCategory(enumValue(sinergiv1.ScreeningCategory_value, categoryPrefix, category))
	e.Instruction = instructionOf(instruction)
	e.Purpose = sinergiv1.Purpose(enumValue(sinergiv1.Purpose_value, "PURPOSE_", purpose))
	e.ExpireTime, e.CreateTime, e.RemoveTime = timestamppb.New(expire), timestamppb.New(created), timestampOf(removed)
	e.Active = !removed.Valid && expire.After(now)
	return e, nil
}

// CreateScreeningEntry stores e (its owner, person, category, reason,
// instruction, expiry and access context) with a fresh id, and commits
// the call's audit record (hook) with it.
func (s *Store) CreateScreeningEntry(ctx context.Context, hook SubjectTxHook, e *sinergiv1.ScreeningEntry, now time.Time) (*sinergiv1.ScreeningEntry, error) {
	var out *sinergiv1.ScreeningEntry
	p := e.GetPerson()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanEntry(tx.QueryRow(ctx, `INSERT INTO screening_entries AS e (id, owner_code, category, nik, full_name, aliases,
				search_names, birth_date, reason, instruction, expire_time, create_time, operator_id, purpose, case_reference)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING `+entryColumns,
			NewScreeningID(now), e.GetOwnerCode(), enumText(e.GetCategory().String(), categoryPrefix), custodyOptText(p.GetNik()),
			strings.TrimSpace(p.GetFullName()), nonNil(p.GetAliases()), searchNamesOf(p), custodyDate(p.GetBirthDate()), e.GetReason(),
			enumText(e.GetInstruction().String(), instructionPrefix), e.GetExpireTime().AsTime(), now, e.GetOperatorId(),
			enumText(e.GetPurpose().String(), "PURPOSE_"), e.GetCaseReference()), now)
		if err != nil {
			return err
		}
		hook.AddSubjects(ScreeningEntrySubject(out.GetId()))
		return hook.WriteTx(ctx, tx)
	})
	return out, err
}

// GetScreeningEntry returns entry id if rs admits it (its owner);
// otherwise, as when it does not exist, ErrNotFound.
func (s *Store) GetScreeningEntry(ctx context.Context, rs *restrict.Restriction, id string, now time.Time) (*sinergiv1.ScreeningEntry, error) {
	if !IsCustodyRecordID(id) {
		return nil, ErrNotFound
	}
	args := []any{id}
	e, err := scanEntry(s.Pool.QueryRow(ctx, `SELECT `+entryColumns+` FROM screening_entries e WHERE e.id = $1 AND `+
		condOn(rs, screeningEntryColumns, &args), args...), now)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return e, err
}

// EntryPosition is a place in a list of entries, newest first.
type EntryPosition struct {
	CreateMicros int64  `json:"t"`
	ID           string `json:"i"`
}

// ListScreeningEntries lists the entries rs admits, newest first, after
// pos (nil: from the start); only those in force at now unless all.
func (s *Store) ListScreeningEntries(ctx context.Context, rs *restrict.Restriction, all bool, now time.Time, pos *EntryPosition, limit int) ([]*sinergiv1.ScreeningEntry, error) {
	args := []any{}
	where := []string{condOn(rs, screeningEntryColumns, &args)}
	if !all {
		args = append(args, now)
		where = append(where, fmt.Sprintf("e.remove_time IS NULL AND e.expire_time > $%d", len(args)))
	}
	if pos != nil {
		args = append(args, time.UnixMicro(pos.CreateMicros), pos.ID)
		where = append(where, fmt.Sprintf("(e.create_time, e.id::text) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, limit)
	rows, err := s.Pool.Query(ctx, `SELECT `+entryColumns+` FROM screening_entries e WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY e.create_time DESC, e.id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.ScreeningEntry, error) { return scanEntry(r, now) })
}

// RemoveScreeningEntry takes entry id off its owner's list (rs admits it)
// on behalf of operator, committing hook with it. An entry removed already
// is returned as it is, and nothing is written.
func (s *Store) RemoveScreeningEntry(ctx context.Context, hook SubjectTxHook, rs *restrict.Restriction, id, operator string, now time.Time) (*sinergiv1.ScreeningEntry, error) {
	if !IsCustodyRecordID(id) {
		return nil, ErrNotFound
	}
	var out *sinergiv1.ScreeningEntry
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		args := []any{id, now, operator}
		var err error
		out, err = scanEntry(tx.QueryRow(ctx, `UPDATE screening_entries e SET remove_time = $2, remove_operator = $3
			WHERE e.id = $1 AND e.remove_time IS NULL AND `+condOn(rs, screeningEntryColumns, &args)+` RETURNING `+entryColumns, args...), now)
		if errors.Is(err, pgx.ErrNoRows) {
			args = []any{id}
			out, err = scanEntry(tx.QueryRow(ctx, `SELECT `+entryColumns+` FROM screening_entries e WHERE e.id = $1 AND `+
				condOn(rs, screeningEntryColumns, &args), args...), now)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err // removed before: nothing to write
		}
		if err != nil {
			return err
		}
		hook.AddSubjects(ScreeningEntrySubject(id))
		return hook.WriteTx(ctx, tx)
	})
	return out, err
}

// ScreeningHit is an entry a screened person matched.
type ScreeningHit struct {
	EntryID, Owner string
	Instruction    sinergiv1.HandlingInstruction
	Match          sinergiv1.ScreeningMatch
}

// ScreeningQuery is one screening's lookups, made by one statement.
type ScreeningQuery struct {
	// Owners admits the entries of the lists that apply.
	Owners *restrict.Restriction
	// The person: a NIK (may be empty), a name and a birth date.
	NIK, Name string
	Birth     time.Time
	// Now: entries expired by then do not match.
	Now time.Time
	// InmateID (a visitor's screening) is looked up among the records
	// Inmates admits: is the person held there now? Otherwise Facility (an
	// officer's) among the designations in force. The entries are looked
	// up only when it is.
	InmateID string
	Inmates  *restrict.Restriction
	Facility string
}

// ScreeningLookup is what a ScreeningQuery found.
type ScreeningLookup struct {
	Hits []ScreeningHit
	// The precondition held: the inmate is held there (a visitor's), the
	// facility is designated (an officer's).
	InmateHeld, HighRisk bool
}

// matchSQL finds the entries in force a person matches: the same NIK, or
// the same birth date and a name alike, with the likeness of custody
// presence checks (FindPresence: word similarity of the name within the
// entry's names and aliases, presenceLikeness). Each arm is served by its
// partial index (migration 00050). Which owners' entries apply is decided
// on the rows found, with the restriction's in-memory form: a screening
// almost always finds none, and the owners' list is then neither sent
// nor tested.
const matchSQL = `SELECT e.id::text AS id, e.owner_code, e.instruction, coalesce(e.nik = $1, false) AS by_nik
	FROM screening_entries e
	WHERE p.ok AND e.remove_time IS NULL AND e.expire_time > $2
	  AND (e.nik = $1 OR (e.birth_date = $3 AND word_similarity($4, e.search_names) >= $5))`

// LookUpScreening makes a screening's lookups with one statement: its
// precondition (the inmate held, or the facility designated) and, when
// it holds, the entries the person matches.
func (s *Store) LookUpScreening(ctx context.Context, q ScreeningQuery) (*ScreeningLookup, error) {
	out := &ScreeningLookup{}
	args := []any{custodyOptText(q.NIK), q.Now, q.Birth, NormalizeName(q.Name), presenceLikeness}
	var pre string
	switch {
	case q.InmateID != "":
		if !IsCustodyRecordID(q.InmateID) {
			return out, nil
		}
		args = append(args, q.InmateID)
		pre = fmt.Sprintf(`EXISTS (SELECT 1 FROM custody_records r WHERE r.id = $%d AND r.status = 'HELD' AND %s)`,
			len(args), custodyCond(q.Inmates, custodyByRecord, &args))
	case q.Facility != "":
		args = append(args, q.Facility)
		pre = fmt.Sprintf(`EXISTS (SELECT 1 FROM facility_designations d WHERE d.facility_code = $%d AND d.lift_time IS NULL)`, len(args))
	default:
		pre = "TRUE"
	}
	// OFFSET 0 keeps the precondition a subquery of its own, evaluated once.
	rows, err := s.Pool.Query(ctx, `SELECT p.ok, m.id, m.owner_code, m.instruction, m.by_nik
		FROM (SELECT `+pre+` AS ok OFFSET 0) p LEFT JOIN LATERAL (`+matchSQL+`) m ON true ORDER BY m.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ok bool
		var id, owner, instruction *string
		var byNIK *bool
		if err := rows.Scan(&ok, &id, &owner, &instruction, &byNIK); err != nil {
			return nil, err
		}
		out.InmateHeld, out.HighRisk = ok && q.InmateID != "", ok && q.Facility != ""
		if id == nil || !q.Owners.Admits(restrict.Row{Facility: *owner}) {
			continue
		}
		h := ScreeningHit{EntryID: *id, Owner: *owner, Instruction: instructionOf(*instruction),
			Match: sinergiv1.ScreeningMatch_SCREENING_MATCH_NAME_AND_BIRTH_DATE}
		if *byNIK {
			h.Match = sinergiv1.ScreeningMatch_SCREENING_MATCH_NIK
		}
		out.Hits = append(out.Hits, h)
	}
	return out, rows.Err()
}

// RecordReferrals stores the referrals of one screening and wakes the
// owning units' watchers, committing them with the audit records write
// writes in the same transaction. The statements are the same whatever
// the number of referrals.
func (s *Store) RecordReferrals(ctx context.Context, refs []*sinergiv1.ScreeningReferral, write func(ctx context.Context, tx pgx.Tx) error) error {
	n := len(refs)
	ids, screenings, entries, owners, facilities := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	roles, matches, instructions, names, relationships, officers := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	niks, inmates := make([]*string, n), make([]*string, n)
	births, visits, screened := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	for i, r := range refs {
		p := r.GetPerson()
		ids[i], screenings[i], entries[i], owners[i], facilities[i] = r.GetId(), r.GetScreeningId(), r.GetEntryId(), r.GetOwnerCode(), r.GetFacilityCode()
		roles[i], matches[i] = enumText(r.GetRole().String(), rolePrefix), enumText(r.GetMatch().String(), matchPrefix)
		instructions[i], names[i] = enumText(r.GetInstruction().String(), instructionPrefix), strings.TrimSpace(p.GetFullName())
		if r.GetRelationship() != sinergiv1.VisitorRelationship_VISITOR_RELATIONSHIP_UNSPECIFIED {
			relationships[i] = enumText(r.GetRelationship().String(), relationshipPrefix)
		}
		officers[i] = r.GetOfficerId()
		if v := p.GetNik(); v != "" {
			niks[i] = &v
		}
		if v := r.GetInmateRecordId(); v != "" {
			inmates[i] = &v
		}
		birth, err := time.Parse(custodyDateLayout, p.GetBirthDate())
		if err != nil {
			return fmt.Errorf("referral %s: birth date: %w", r.GetId(), err)
		}
		births[i], visits[i], screened[i] = birth, r.GetVisitTime().AsTime(), r.GetScreenTime().AsTime()
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO screening_referrals (id, screening_id, entry_id, owner_code, facility_code, role, match, instruction, nik,
				full_name, birth_date, relationship, inmate_record_id, officer_id, visit_time, screen_time)
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
				$10::text[], $11::date[], $12::text[], $13::uuid[], $14::text[], $15::timestamptz[], $16::timestamptz[])`,
			ids, screenings, entries, owners, facilities, roles, matches, instructions, niks, names, births, relationships, inmates, officers,
			visits, screened)
		b.Queue(`SELECT pg_notify($1, '')`, ScreeningChannel)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return write(ctx, tx)
	})
}

const referralSelect = `r.id::text, r.screening_id::text, r.entry_id::text, r.owner_code, r.match, r.instruction, r.facility_code, r.role,
	coalesce(r.nik, ''), r.full_name, r.birth_date, r.relationship, coalesce(r.inmate_record_id::text, ''), r.officer_id, r.visit_time,
	r.screen_time, r.seq`

func scanReferral(row pgx.Row) (*sinergiv1.ScreeningReferral, int64, error) {
	r := &sinergiv1.ScreeningReferral{Person: &sinergiv1.ScreenedPerson{}}
	var match, instruction, role, relationship string
	var birth pgtype.Date
	var visit, screened time.Time
	var seq int64
	if err := row.Scan(&r.Id, &r.ScreeningId, &r.EntryId, &r.OwnerCode, &match, &instruction, &r.FacilityCode, &role,
		&r.Person.Nik, &r.Person.FullName, &birth, &relationship, &r.InmateRecordId, &r.OfficerId, &visit, &screened, &seq); err != nil {
		return nil, 0, err
	}
	r.Person.BirthDate = dateText(birth)
	r.Match = sinergiv1.ScreeningMatch(enumValue(sinergiv1.ScreeningMatch_value, matchPrefix, match))
	r.Instruction = instructionOf(instruction)
	r.Role = sinergiv1.ScreenedRole(enumValue(sinergiv1.ScreenedRole_value, rolePrefix, role))
	if relationship != "" {
		r.Relationship = sinergiv1.VisitorRelationship(enumValue(sinergiv1.VisitorRelationship_value, relationshipPrefix, relationship))
	}
	r.VisitTime, r.ScreenTime = timestamppb.New(visit), timestamppb.New(screened)
	return r, seq, nil
}

// ReferralPosition is a place in the stream of referrals: the seq of the
// last one passed.
type ReferralPosition struct {
	Seq int64 `json:"s"`
}

// ReferralsHead is the position "now": after every referral committed so
// far (one still committing gets a higher seq).
func (s *Store) ReferralsHead(ctx context.Context) (ReferralPosition, error) {
	var p ReferralPosition
	err := s.Pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM screening_referrals`).Scan(&p.Seq)
	return p, err
}

// ReferralRow is a referral with its place in the stream.
type ReferralRow struct {
	Pos      ReferralPosition
	Referral *sinergiv1.ScreeningReferral
}

// ReferralsAfter returns up to limit referrals of owner's entries after
// pos, in seq order (a seq follows commit order: see ReportEventsAfter).
// Which of them the owner may be told is the caller's to decide, with its
// restriction's in-memory form, at delivery time.
func (s *Store) ReferralsAfter(ctx context.Context, owner string, pos ReferralPosition, limit int) ([]ReferralRow, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+referralSelect+` FROM screening_referrals r
		WHERE r.owner_code = $1 AND r.seq > $2 ORDER BY r.seq LIMIT $3`, owner, pos.Seq, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReferralRow, error) {
		ref, seq, err := scanReferral(r)
		return ReferralRow{Pos: ReferralPosition{Seq: seq}, Referral: ref}, err
	})
}

// ListReferrals lists the referrals of rs's caller's entries that rs
// admits (by facility), newest first, before pos (nil: from the newest),
// only entry's when it is set.
func (s *Store) ListReferrals(ctx context.Context, rs *restrict.Restriction, entry string, pos *ReferralPosition, limit int) ([]ReferralRow, error) {
	args := []any{rs.Caller()}
	where := []string{"r.owner_code = $1", "r.seq IS NOT NULL", condOn(rs, referralColumns, &args)}
	if entry != "" {
		if !IsCustodyRecordID(entry) {
			return nil, nil
		}
		args = append(args, entry)
		where = append(where, fmt.Sprintf("r.entry_id = $%d", len(args)))
	}
	if pos != nil {
		args = append(args, pos.Seq)
		where = append(where, fmt.Sprintf("r.seq < $%d", len(args)))
	}
	args = append(args, limit)
	rows, err := s.Pool.Query(ctx, `SELECT `+referralSelect+` FROM screening_referrals r WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY r.seq DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReferralRow, error) {
		ref, seq, err := scanReferral(r)
		return ReferralRow{Pos: ReferralPosition{Seq: seq}, Referral: ref}, err
	})
}

const visitSelect = `v.id::text, v.facility_code, coalesce(v.visitor_nik, ''), v.visitor_name, v.visitor_birth_date, v.relationship,
	v.inmate_record_id::text, v.time_in, v.time_out, v.items_deposited, v.outcome, coalesce(v.screening_id::text, ''), v.screening_result,
	v.screening_instruction, v.operator_id, v.end_operator, v.create_time`

func scanVisit(row pgx.Row) (*sinergiv1.Visit, error) {
	v := &sinergiv1.Visit{Visitor: &sinergiv1.ScreenedPerson{}}
	var birth pgtype.Date
	var relationship, outcome, result, instruction string
	var in, created time.Time
	var out pgtype.Timestamptz
	if err := row.Scan(&v.Id, &v.FacilityCode, &v.Visitor.Nik, &v.Visitor.FullName, &birth, &relationship, &v.InmateRecordId, &in, &out,
		&v.ItemsDeposited, &outcome, &v.ScreeningId, &result, &instruction, &v.OperatorId, &v.EndOperatorId, &created); err != nil {
		return nil, err
	}
	if len(v.ItemsDeposited) == 0 {
		v.ItemsDeposited = nil
	}
	v.Visitor.BirthDate = dateText(birth)
	v.Relationship = sinergiv1.VisitorRelationship(enumValue(sinergiv1.VisitorRelationship_value, relationshipPrefix, relationship))
	v.Outcome = sinergiv1.VisitOutcome(enumValue(sinergiv1.VisitOutcome_value, outcomePrefix, outcome))
	if result != "" {
		v.ScreeningResult = sinergiv1.ScreeningResult(enumValue(sinergiv1.ScreeningResult_value, resultPrefix, result))
	}
	if instruction != "" {
		v.ScreeningInstruction = instructionOf(instruction)
	}
	v.TimeIn, v.TimeOut, v.CreateTime = timestamppb.New(in), timestampOf(out), timestamppb.New(created)
	return v, nil
}

// RegisterVisit stores visit v (its facility, visitor, inmate, times,
// items, outcome, screening and officer) with a fresh id, if the inmate is
// held at a facility inmates admits, and check, given whether the facility
// is designated prone to narcotics trafficking now, lets it; the audit
// record (hook) commits with it. A screening registers one visit: a second
// is ErrConflict; an inmate not held there is ErrNotFound.
func (s *Store) RegisterVisit(ctx context.Context, hook SubjectTxHook, inmates *restrict.Restriction, v *sinergiv1.Visit, now time.Time,
	check func(highRisk bool) error,
) (*sinergiv1.Visit, error) {
	if !IsCustodyRecordID(v.GetInmateRecordId()) {
		return nil, ErrNotFound
	}
	var out *sinergiv1.Visit
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		args := []any{v.GetInmateRecordId(), v.GetFacilityCode()}
		var held, highRisk bool
		// The designation's row is held until the visit commits, so that it
		// cannot be lifted, or given, half-way.
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM custody_records r WHERE r.id = $1 AND r.status = 'HELD' AND `+
			custodyCond(inmates, custodyByRecord, &args)+`),
			EXISTS (SELECT 1 FROM facility_designations d WHERE d.facility_code = $2 AND d.lift_time IS NULL FOR SHARE)`, args...).Scan(&held, &highRisk); err != nil {
			return err
		}
		if !held {
			return ErrNotFound
		}
		if err := check(highRisk); err != nil {
			return err
		}
		p := v.GetVisitor()
		var result, instruction string
		if v.GetScreeningId() != "" {
			result = enumText(v.GetScreeningResult().String(), resultPrefix)
			if v.GetScreeningInstruction() != sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_UNSPECIFIED {
				instruction = enumText(v.GetScreeningInstruction().String(), instructionPrefix)
			}
		}
		var err error
		out, err = scanVisit(tx.QueryRow(ctx, `INSERT INTO visits AS v (id, facility_code, inmate_record_id, visitor_nik, visitor_name,
				visitor_search_names, visitor_birth_date, relationship, time_in, items_deposited, outcome, screening_id, screening_result,
				screening_instruction, operator_id, create_time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::uuid, $13, $14, $15, $16) RETURNING `+visitSelect,
			NewScreeningID(now), v.GetFacilityCode(), v.GetInmateRecordId(), custodyOptText(p.GetNik()), strings.TrimSpace(p.GetFullName()),
			searchNamesOf(&sinergiv1.ScreenedPerson{FullName: p.GetFullName()}), custodyDate(p.GetBirthDate()),
			enumText(v.GetRelationship().String(), relationshipPrefix), v.GetTimeIn().AsTime(), nonNil(v.GetItemsDeposited()),
			enumText(v.GetOutcome().String(), outcomePrefix), custodyOptText(v.GetScreeningId()), result, instruction, v.GetOperatorId(), now))
		if isUniqueViolation(err) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
		hook.AddSubjects(VisitSubject(out.GetId()), CustodySubject(out.GetInmateRecordId()))
		if out.GetScreeningId() != "" {
			hook.AddSubjects(ScreeningSubject(out.GetScreeningId()))
		}
		return hook.WriteTx(ctx, tx)
	})
	return out, err
}

// EndVisit records that the visitor of visit id (a visit rs admits) left
// at timeOut, on behalf of operator, if check lets it (given the visit as
// it stands). A visit ended already is returned as it is.
func (s *Store) EndVisit(ctx context.Context, hook SubjectTxHook, rs *restrict.Restriction, id string, timeOut time.Time, operator string,
	check func(cur *sinergiv1.Visit) error,
) (*sinergiv1.Visit, error) {
	if !IsCustodyRecordID(id) {
		return nil, ErrNotFound
	}
	var out *sinergiv1.Visit
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		args := []any{id}
		cur, err := scanVisit(tx.QueryRow(ctx, `SELECT `+visitSelect+` FROM visits v WHERE v.id = $1 AND `+
			condOn(rs, visitColumns, &args)+` FOR UPDATE`, args...))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if cur.GetTimeOut() != nil {
			out = cur
			return nil
		}
		if err := check(cur); err != nil {
			return err
		}
		if out, err = scanVisit(tx.QueryRow(ctx, `UPDATE visits v SET time_out = $2, end_operator = $3 WHERE v.id = $1 RETURNING `+visitSelect,
			id, timeOut, operator)); err != nil {
			return err
		}
		hook.AddSubjects(VisitSubject(id), CustodySubject(out.GetInmateRecordId()))
		return hook.WriteTx(ctx, tx)
	})
	return out, err
}

// VisitFilter selects visits. Only visits Restriction admits are read.
type VisitFilter struct {
	Restriction *restrict.Restriction
	// The visits of an inmate; of a visitor, by NIK or by name and birth
	// date (the likeness of custody presence checks).
	InmateID                string
	VisitorNIK, VisitorName string
	VisitorBirth            time.Time
	FacilityCode            string
	Start, End              time.Time
	BeforeMicros            int64
	BeforeID                string
	Limit                   int
}

// VisitPosition is a place in a list of visits, newest first.
type VisitPosition struct {
	TimeInMicros int64  `json:"t"`
	ID           string `json:"i"`
}

// ListVisits lists the visits matching f, newest first.
func (s *Store) ListVisits(ctx context.Context, f VisitFilter) ([]*sinergiv1.Visit, error) {
	var args []any
	where := []string{condOn(f.Restriction, visitColumns, &args)}
	add := func(cond string, vs ...any) {
		n := make([]any, len(vs))
		for i, v := range vs {
			args = append(args, v)
			n[i] = len(args)
		}
		where = append(where, fmt.Sprintf(cond, n...))
	}
	if f.InmateID != "" {
		if !IsCustodyRecordID(f.InmateID) {
			return nil, nil
		}
		add("v.inmate_record_id = $%d", f.InmateID)
	}
	switch {
	case f.VisitorNIK != "":
		add("v.visitor_nik = $%d", f.VisitorNIK)
	case f.VisitorName != "":
		add("v.visitor_birth_date = $%d AND word_similarity($%d, v.visitor_search_names) >= $%d", f.VisitorBirth, NormalizeName(f.VisitorName), presenceLikeness)
	}
	if f.FacilityCode != "" {
		add("v.facility_code = $%d", f.FacilityCode)
	}
	if !f.Start.IsZero() {
		add("v.time_in >= $%d", f.Start)
	}
	if !f.End.IsZero() {
		add("v.time_in < $%d", f.End)
	}
	if f.BeforeID != "" {
		add("(v.time_in, v.id::text) < ($%d, $%d)", time.UnixMicro(f.BeforeMicros), f.BeforeID)
	}
	args = append(args, f.Limit)
	rows, err := s.Pool.Query(ctx, `SELECT `+visitSelect+` FROM visits v WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY v.time_in DESC, v.id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.Visit, error) { return scanVisit(r) })
}

const designationSelect = `d.id, d.facility_code, d.reason, d.designate_time, d.operator_id, d.lift_time, d.lift_operator`

func scanDesignation(row pgx.Row) (*sinergiv1.HighRiskDesignation, int64, error) {
	d := &sinergiv1.HighRiskDesignation{}
	var id int64
	var at time.Time
	var lifted pgtype.Timestamptz
	if err := row.Scan(&id, &d.FacilityCode, &d.Reason, &at, &d.OperatorId, &lifted, &d.LiftOperatorId); err != nil {
		return nil, 0, err
	}
	d.DesignateTime, d.LiftTime, d.Active = timestamppb.New(at), timestampOf(lifted), !lifted.Valid
	return d, id, nil
}

// Designate marks facility as prone to narcotics trafficking for reason,
// on behalf of operator, committing hook with it; created is false (and
// nothing is written) when a designation is in force already.
func (s *Store) Designate(ctx context.Context, hook SubjectTxHook, facility, reason, operator string, now time.Time) (d *sinergiv1.HighRiskDesignation, created bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		d, _, err = scanDesignation(tx.QueryRow(ctx, `INSERT INTO facility_designations AS d (facility_code, reason, designate_time, operator_id)
			VALUES ($1, $2, $3, $4) ON CONFLICT (facility_code) WHERE lift_time IS NULL DO NOTHING RETURNING `+designationSelect,
			facility, reason, now, operator))
		if errors.Is(err, pgx.ErrNoRows) {
			d, _, err = scanDesignation(tx.QueryRow(ctx, `SELECT `+designationSelect+` FROM facility_designations d
				WHERE d.facility_code = $1 AND d.lift_time IS NULL`, facility))
			return err
		}
		if err != nil {
			return err
		}
		created = true
		hook.AddSubjects("institution/" + facility)
		return hook.WriteTx(ctx, tx)
	})
	return d, created, err
}

// LiftDesignation ends facility's designation in force, on behalf of
// operator, committing hook with it; ErrNotFound when there is none.
func (s *Store) LiftDesignation(ctx context.Context, hook SubjectTxHook, facility, operator string, now time.Time) (*sinergiv1.HighRiskDesignation, error) {
	var d *sinergiv1.HighRiskDesignation
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		d, _, err = scanDesignation(tx.QueryRow(ctx, `UPDATE facility_designations d SET lift_time = $2, lift_operator = $3
			WHERE d.facility_code = $1 AND d.lift_time IS NULL RETURNING `+designationSelect, facility, now, operator))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		hook.AddSubjects("institution/" + facility)
		return hook.WriteTx(ctx, tx)
	})
	return d, err
}

// ListDesignations lists designations, newest first, after the one with
// id before (0: from the newest): facility's only when set, lifted ones
// too when all.
func (s *Store) ListDesignations(ctx context.Context, facility string, all bool, before int64, limit int) ([]*sinergiv1.HighRiskDesignation, int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+designationSelect+` FROM facility_designations d
		WHERE ($1 = '' OR d.facility_code = $1) AND ($2 OR d.lift_time IS NULL) AND ($3 = 0 OR d.id < $3)
		ORDER BY d.id DESC LIMIT $4`, facility, all, before, limit)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*sinergiv1.HighRiskDesignation
	var last int64
	for rows.Next() {
		d, id, err := scanDesignation(rows)
		if err != nil {
			return nil, 0, err
		}
		out, last = append(out, d), id
	}
	return out, last, rows.Err()
}

// SeedScreening adds what is missing of entries (by id) and designations
// (to facilities that never had one: a lifted designation stays lifted),
// and commits the audit records
// write makes of what was added in the same transaction (nothing, when
// nothing was). Entries and designations carry every column (their
// times included).
func (s *Store) SeedScreening(ctx context.Context, entries []*sinergiv1.ScreeningEntry, designations []*sinergiv1.HighRiskDesignation,
	write func(ctx context.Context, tx pgx.Tx, entries []*sinergiv1.ScreeningEntry, designations []*sinergiv1.HighRiskDesignation) error,
) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var addedEntries []*sinergiv1.ScreeningEntry
		var addedDesignations []*sinergiv1.HighRiskDesignation
		for _, e := range entries {
			p := e.GetPerson()
			tag, err := tx.Exec(ctx, `INSERT INTO screening_entries (id, owner_code, category, nik, full_name, aliases, search_names, birth_date,
					reason, instruction, expire_time, create_time, operator_id, purpose, case_reference)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (id) DO NOTHING`,
				e.GetId(), e.GetOwnerCode(), enumText(e.GetCategory().String(), categoryPrefix), custodyOptText(p.GetNik()),
				strings.TrimSpace(p.GetFullName()), nonNil(p.GetAliases()), searchNamesOf(p), custodyDate(p.GetBirthDate()), e.GetReason(),
				enumText(e.GetInstruction().String(), instructionPrefix), e.GetExpireTime().AsTime(), e.GetCreateTime().AsTime(),
				e.GetOperatorId(), enumText(e.GetPurpose().String(), "PURPOSE_"), e.GetCaseReference())
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				addedEntries = append(addedEntries, e)
			}
		}
		for _, d := range designations {
			tag, err := tx.Exec(ctx, `INSERT INTO facility_designations (facility_code, reason, designate_time, operator_id)
				SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM facility_designations WHERE facility_code = $1)`,
				d.GetFacilityCode(), d.GetReason(), d.GetDesignateTime().AsTime(), d.GetOperatorId())
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				addedDesignations = append(addedDesignations, d)
			}
		}
		if len(addedEntries) == 0 && len(addedDesignations) == 0 {
			return nil
		}
		return write(ctx, tx, addedEntries, addedDesignations)
	})
}

// VisitFacility returns the facility of visit id when rs admits it;
// otherwise, as when it does not exist, ErrNotFound.
func (s *Store) VisitFacility(ctx context.Context, rs *restrict.Restriction, id string) (string, error) {
	if !IsCustodyRecordID(id) {
		return "", ErrNotFound
	}
	var f string
	args := []any{id}
	err := s.Pool.QueryRow(ctx, `SELECT v.facility_code FROM visits v WHERE v.id = $1 AND `+condOn(rs, visitColumns, &args), args...).Scan(&f)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return f, err
}
