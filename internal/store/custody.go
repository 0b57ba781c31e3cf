package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/names"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// CustodyChannel is NOTIFYed in the transaction of every custody event, so
// that watchers in every server process wake up (internal/fanout).
const CustodyChannel = "sinergi_custody_events"

// SubjectTxHook is a TxHook that also records which records a write
// touched (audit.Entry is one): a write learns the ids of what it touched
// only inside its transaction, before the hook's last statement.
type SubjectTxHook interface {
	TxHook
	AddSubjects(subjects ...string)
}

// custodyColumns of a restriction: a query by record id or facility, and
// one that singles people out by identity (children's records only where
// the restriction shows children).
var (
	custodyByRecord   = restrict.Columns{Facility: "r.facility_code"}
	custodyByIdentity = restrict.Columns{Facility: "r.facility_code", Child: "r.child"}
)

// custodyCond is rs over cols as a condition on custody_records r, adding
// its arguments.
func custodyCond(rs *restrict.Restriction, cols restrict.Columns, args *[]any) string {
	return rs.SQL(cols, func(v any) string {
		*args = append(*args, v)
		return "$" + strconv.Itoa(len(*args))
	})
}

// CustodySubjectsByNIK names, as audit subjects, every custody record held
// under nik that rs admits (a query by identity): what a data subject's
// question covers, within what the asker could find itself.
// It returns the subjects and, in the same order, their facilities.
func (s *Store) CustodySubjectsByNIK(ctx context.Context, rs *restrict.Restriction, nik string) (subjects, facilities []string, err error) {
	args := []any{nik}
	rows, err := s.Pool.Query(ctx, `SELECT 'custody/' || r.id::text, r.facility_code FROM custody_records r WHERE r.nik = $1 AND `+
		custodyCond(rs, custodyByIdentity, &args)+` ORDER BY r.id`, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var sub, fc string
		if err := rows.Scan(&sub, &fc); err != nil {
			return nil, nil, err
		}
		subjects, facilities = append(subjects, sub), append(facilities, fc)
	}
	return subjects, facilities, rows.Err()
}

// CustodyRecordsAdmitted returns which of ids name records rs admits (by
// record id).
func (s *Store) CustodyRecordsAdmitted(ctx context.Context, rs *restrict.Restriction, ids []string) (map[string]bool, error) {
	var valid []string
	for _, id := range ids {
		if IsCustodyRecordID(id) {
			valid = append(valid, id)
		}
	}
	out := map[string]bool{}
	if len(valid) == 0 {
		return out, nil
	}
	args := []any{valid}
	rows, err := s.Pool.Query(ctx, `SELECT r.id::text FROM custody_records r WHERE r.id = ANY($1::uuid[]) AND `+
		custodyCond(rs, custodyByRecord, &args), args...)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, id := range found {
		out[id] = true
	}
	return out, err
}

// CustodySubject is the audit subject naming a custody record.
func CustodySubject(recordID string) string { return "custody/" + recordID }

// PreconditionError is a write refused because of the state of the data
// (an impossible transition): the caller's request was well formed.
type PreconditionError struct{ Reason string }

func (e *PreconditionError) Error() string { return e.Reason }

// Status values as stored.
const custodyRegistered = "REGISTERED"

func custodyStatusText(s sinergiv1.CustodyStatus) string {
	return enumText(s.String(), "CUSTODY_STATUS_")
}

func custodyStatusOf(text string) sinergiv1.CustodyStatus {
	return sinergiv1.CustodyStatus(enumValue(sinergiv1.CustodyStatus_value, "CUSTODY_STATUS_", text))
}

// custodyDateLayout is how calendar dates travel in the API.
const custodyDateLayout = "2006-01-02"

// custodyDate is a YYYY-MM-DD string as a date parameter (NULL when empty).
// Validators have checked the form; a malformed one is stored as NULL
// rather than failing a whole roster.
func custodyDate(s string) any {
	if s == "" {
		return nil
	}
	t, err := time.Parse(custodyDateLayout, s)
	if err != nil {
		return nil
	}
	return t
}

// dateText is a date column as the API gives it, "" when NULL.
func dateText(d pgtype.Date) string {
	if !d.Valid || d.InfinityModifier != pgtype.Finite {
		return ""
	}
	return d.Time.Format(custodyDateLayout)
}

// timestampOf is a timestamptz column as the API gives it, nil when NULL.
func timestampOf(t pgtype.Timestamptz) *timestamppb.Timestamp {
	if !t.Valid || t.InfinityModifier != pgtype.Finite {
		return nil
	}
	return timestamppb.New(t.Time)
}

func custodyOptText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// NormalizeName is how names are compared: lower case, single spaces.
func NormalizeName(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// SearchName is a name as searches look it up: normalized, in today's
// spelling (internal/names), which search_names holds besides the name as
// written.
func SearchName(s string) string { return names.Modern(NormalizeName(s)) }

func custodySearchNames(id *sinergiv1.Identity) string {
	parts := []string{NormalizeName(id.GetFullName())}
	for _, a := range id.GetAliases() {
		if n := NormalizeName(a); n != "" {
			parts = append(parts, n)
		}
	}
	// Names in the old spellings are found in today's too.
	for _, p := range parts[:len(parts):len(parts)] {
		if m := names.Modern(p); m != p {
			parts = append(parts, m)
		}
	}
	return strings.Join(parts, " | ")
}

// NormalizePassport is a passport number as compared: upper case, no spaces.
func NormalizePassport(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// ContentHash identifies what a facility sent of a record: identity,
// legal status, case, risk flags and photo hash. Server-kept fields
// (status, times, id) do not count, so resending the same content is a no-op.
func ContentHash(rec *sinergiv1.CustodyRecord) []byte {
	c := &sinergiv1.CustodyRecord{
		RegisterNumber:  rec.GetRegisterNumber(),
		Identity:        rec.GetIdentity(),
		LegalStatus:     rec.GetLegalStatus(),
		OffenceArticles: rec.GetOffenceArticles(),
		RiskFlags:       rec.GetRiskFlags(),
		PhotoSha256:     rec.GetPhotoSha256(),
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	h := sha256.Sum256(b)
	return h[:]
}

// custodyContentColumns are the columns a facility writes, in the order of custodyContentValues.
var custodyContentColumns = []string{"full_name", "aliases", "search_names", "nik", "birth_date", "birth_place", "sex", "nationality",
	"passport_number", "address", "father_name", "mother_name", "legal_kind", "detaining_authority", "detention_end_date",
	"sentence_months", "life_sentence", "expected_release_date", "offence_articles", "risk_flags", "photo_sha256", "content_hash"}

func custodyContentValues(rec *sinergiv1.CustodyRecord) []any {
	id, ls := rec.GetIdentity(), rec.GetLegalStatus()
	flags := make([]string, len(rec.GetRiskFlags()))
	for i, f := range rec.GetRiskFlags() {
		flags[i] = enumText(f.String(), "RISK_FLAG_")
	}
	sex := ""
	if id.GetSex() != sinergiv1.Sex_SEX_UNSPECIFIED {
		sex = enumText(id.GetSex().String(), "SEX_")
	}
	return []any{
		strings.TrimSpace(id.GetFullName()), nonNil(id.GetAliases()), custodySearchNames(id), custodyOptText(id.GetNik()), custodyDate(id.GetBirthDate()),
		id.GetBirthPlace(), sex, id.GetNationality(), id.GetPassportNumber(), id.GetAddress(), id.GetFatherName(), id.GetMotherName(),
		enumText(ls.GetKind().String(), "LEGAL_STATUS_KIND_"), ls.GetDetainingAuthority(), custodyDate(ls.GetDetentionEndDate()),
		ls.GetSentenceMonths(), ls.GetLifeSentence(), custodyDate(ls.GetExpectedReleaseDate()),
		nonNil(rec.GetOffenceArticles()), flags, rec.GetPhotoSha256(), ContentHash(rec),
	}
}

const custodyColumns = `r.id::text, r.facility_code, r.register_number, r.full_name, r.aliases, coalesce(r.nik, ''), r.birth_date,
	r.birth_place, r.sex, r.nationality, r.passport_number, r.address, r.father_name, r.mother_name, r.legal_kind,
	r.detaining_authority, r.detention_end_date, r.sentence_months, r.life_sentence, r.expected_release_date,
	r.offence_articles, r.risk_flags, r.photo_sha256, r.status, r.status_time, r.held_since, r.child, r.create_time, r.update_time`

func scanCustody(row pgx.Row, extra ...any) (*sinergiv1.CustodyRecord, error) {
	rec := &sinergiv1.CustodyRecord{Identity: &sinergiv1.Identity{}, LegalStatus: &sinergiv1.LegalStatus{}}
	id, ls := rec.Identity, rec.LegalStatus
	// Value types, not pointers: a pointer is a heap allocation per
	// column per record, and every GetCustodyRecord scans one.
	var birth, detEnd, release pgtype.Date
	var statusTime, heldSince pgtype.Timestamptz
	var sex, legal, status string
	var flags []string
	var created, updated time.Time
	dest := append([]any{&rec.Id, &rec.FacilityCode, &rec.RegisterNumber, &id.FullName, &id.Aliases, &id.Nik, &birth,
		&id.BirthPlace, &sex, &id.Nationality, &id.PassportNumber, &id.Address, &id.FatherName, &id.MotherName, &legal,
		&ls.DetainingAuthority, &detEnd, &ls.SentenceMonths, &ls.LifeSentence, &release,
		&rec.OffenceArticles, &flags, &rec.PhotoSha256, &status, &statusTime, &heldSince, &rec.Child, &created, &updated}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if len(id.Aliases) == 0 {
		id.Aliases = nil
	}
	if len(rec.OffenceArticles) == 0 {
		rec.OffenceArticles = nil
	}
	id.BirthDate = dateText(birth)
	if sex != "" {
		id.Sex = sinergiv1.Sex(enumValue(sinergiv1.Sex_value, "SEX_", sex))
	}
	ls.Kind = sinergiv1.LegalStatusKind(enumValue(sinergiv1.LegalStatusKind_value, "LEGAL_STATUS_KIND_", legal))
	ls.DetentionEndDate, ls.ExpectedReleaseDate = dateText(detEnd), dateText(release)
	for _, f := range flags {
		rec.RiskFlags = append(rec.RiskFlags, sinergiv1.RiskFlag(enumValue(sinergiv1.RiskFlag_value, "RISK_FLAG_", f)))
	}
	rec.Status = custodyStatusOf(status)
	rec.StatusTime, rec.HeldSince = timestampOf(statusTime), timestampOf(heldSince)
	rec.CreateTime, rec.UpdateTime = timestamppb.New(created), timestamppb.New(updated)
	return rec, nil
}

// lockFacilityRecords serialises the writes that create a facility's
// records (an upsert, a roster merge) until the transaction ends, so that a
// merge's view of which register numbers are new stays true.
func lockFacilityRecords(ctx context.Context, tx pgx.Tx, facility string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('sinergi custody records ' || $1, 0))`, facility)
	return err
}

// IsLockTimeout reports whether err is a wait for a lock that ran out
// (lock_timeout): the caller may retry.
func IsLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// UpsertCustodyRecord creates or updates facility's record with rec's
// register number. A new record is REGISTERED; an update changes only the
// content a facility sends (never status or times), and an update with the
// same content changes nothing. created reports whether it was new.
func (s *Store) UpsertCustodyRecord(ctx context.Context, hook SubjectTxHook, facility, facilityKind string, rec *sinergiv1.CustodyRecord, now time.Time) (out *sinergiv1.CustodyRecord, created bool, err error) {
	cols := append([]string{"facility_code", "facility_kind", "register_number"}, custodyContentColumns...)
	cols = append(cols, "status", "create_time", "update_time")
	vals := append([]any{facility, facilityKind, rec.GetRegisterNumber()}, custodyContentValues(rec)...)
	vals = append(vals, custodyRegistered, now, now)
	ph := make([]string, len(vals))
	for i := range ph {
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	sets := make([]string, 0, len(custodyContentColumns)+1)
	for _, c := range custodyContentColumns {
		sets = append(sets, c+" = EXCLUDED."+c)
	}
	sets = append(sets, "update_time = EXCLUDED.update_time")
	q := `INSERT INTO custody_records (` + strings.Join(cols, ", ") + `) VALUES (` + strings.Join(ph, ", ") + `)
		ON CONFLICT (facility_code, register_number) DO UPDATE SET ` + strings.Join(sets, ", ") + `
		WHERE custody_records.content_hash <> EXCLUDED.content_hash
		RETURNING id::text, (xmax = 0)`
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockFacilityRecords(ctx, tx, facility); err != nil {
			return err
		}
		var id string
		err := tx.QueryRow(ctx, q, vals...).Scan(&id, &created)
		if errors.Is(err, pgx.ErrNoRows) {
			// Same content: nothing to write, but the caller gets the record.
			err = tx.QueryRow(ctx, `SELECT id::text FROM custody_records WHERE facility_code = $1 AND register_number = $2`,
				facility, rec.GetRegisterNumber()).Scan(&id)
		}
		if err != nil {
			return err
		}
		if out, err = scanCustody(tx.QueryRow(ctx, `SELECT `+custodyColumns+` FROM custody_records r WHERE r.id = $1`, id)); err != nil {
			return err
		}
		hook.AddSubjects(CustodySubject(id))
		return hook.WriteTx(ctx, tx)
	})
	return out, created, err
}

// GetCustodyRecord returns record id if rs admits it; otherwise, as when
// it does not exist, ErrNotFound. The lookup may be sent after the caller
// has gone, in a statement shared with other callers, with the list of
// facilities rs admits records of (never changed: a restriction's list is
// made once).
func (s *Store) GetCustodyRecord(ctx context.Context, rs *restrict.Restriction, id string) (*sinergiv1.CustodyRecord, error) {
	facilities, ok := rs.Facilities()
	if !ok {
		return nil, ErrNotFound // a restriction that tests more than the facility: fail closed
	}
	return s.records.get(ctx, facilities, id)
}

// CustodyFilter selects custody records. Only records Restriction admits
// are ever read; identifying criteria (NIK, name, birth date) match
// children's records only where it shows children's identities.
type CustodyFilter struct {
	Restriction *restrict.Restriction

	NIK, RegisterNumber, Name string
	// Passport number, exactly (NormalizePassport).
	Passport string
	// BirthFrom and BirthTo bound the birth date (zero: unbounded).
	BirthFrom, BirthTo time.Time
	FacilityCode       string
	Status             sinergiv1.CustodyStatus
	LegalKind          sinergiv1.LegalStatusKind

	// Keyset position for searches without a name: after (facility, register number).
	AfterFacility, AfterRegister string
	// Offset for name searches, which are ranked by likeness.
	Offset int
	Limit  int
}

// identifying reports whether f matches on identity.
func (f CustodyFilter) identifying() bool {
	return f.NIK != "" || f.Name != "" || f.Passport != "" || !f.BirthFrom.IsZero() || !f.BirthTo.IsZero()
}

// SearchCustodyRecords returns the records matching f: ranked by name
// likeness (word similarity over the full name and aliases) when f has a
// name, else by facility and register number.
func (s *Store) SearchCustodyRecords(ctx context.Context, f CustodyFilter) ([]*sinergiv1.CustodyRecord, error) {
	var args []any
	cols := custodyByRecord
	if f.identifying() {
		cols = custodyByIdentity
	}
	where := []string{custodyCond(f.Restriction, cols, &args)}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.NIK != "" {
		add("r.nik = $%d", f.NIK)
	}
	if f.RegisterNumber != "" {
		add("r.register_number = $%d", f.RegisterNumber)
	}
	if f.Passport != "" {
		add("r.passport_number <> '' AND upper(replace(r.passport_number, ' ', '')) = $%d", NormalizePassport(f.Passport))
	}
	if !f.BirthFrom.IsZero() {
		add("r.birth_date >= $%d", f.BirthFrom)
	}
	if !f.BirthTo.IsZero() {
		add("r.birth_date <= $%d", f.BirthTo)
	}
	if f.FacilityCode != "" {
		add("r.facility_code = $%d", f.FacilityCode)
	}
	if f.Status != sinergiv1.CustodyStatus_CUSTODY_STATUS_UNSPECIFIED {
		add("r.status = $%d", custodyStatusText(f.Status))
	}
	if f.LegalKind != sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_UNSPECIFIED {
		add("r.legal_kind = $%d", enumText(f.LegalKind.String(), "LEGAL_STATUS_KIND_"))
	}
	var q string
	if name := SearchName(f.Name); name != "" {
		// search_names %> name: word similarity of name within the names at
		// least pg_trgm.word_similarity_threshold; the trigram index serves it.
		add("r.search_names %%> $%d", name)
		n := len(args)
		args = append(args, f.Limit, f.Offset)
		q = fmt.Sprintf(`SELECT `+custodyColumns+` FROM custody_records r WHERE %s
			ORDER BY word_similarity($%d, r.search_names) DESC, similarity($%d, r.full_name) DESC, r.id
			LIMIT $%d OFFSET $%d`, strings.Join(where, " AND "), n, n, len(args)-1, len(args))
	} else {
		if f.AfterFacility != "" || f.AfterRegister != "" {
			args = append(args, f.AfterFacility, f.AfterRegister)
			where = append(where, fmt.Sprintf("(r.facility_code, r.register_number) > ($%d, $%d)", len(args)-1, len(args)))
		}
		args = append(args, f.Limit)
		q = fmt.Sprintf(`SELECT `+custodyColumns+` FROM custody_records r WHERE %s
			ORDER BY r.facility_code, r.register_number LIMIT $%d`, strings.Join(where, " AND "), len(args))
	}
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*sinergiv1.CustodyRecord
	for rows.Next() {
		rec, err := scanCustody(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// Presence is one place a person is held.
type Presence struct {
	RecordID     string
	FacilityCode string
	HeldSince    time.Time
	// A child's record (see custody_records.child).
	Child bool
}

// presenceLikeness is how alike a name must be to count as a hit (word
// similarity, 0 to 1): spelling variants (Muhammad, Mohammad) pass, other
// people of the same birth date do not.
const presenceLikeness = 0.7

// FindPresence returns where a person is held now, among the records rs
// admits: by NIK, or by name and birth date (a query by identity: see
// CustodyFilter).
func (s *Store) FindPresence(ctx context.Context, rs *restrict.Restriction, nik, name string, birth time.Time) ([]Presence, error) {
	var rows pgx.Rows
	var err error
	if nik != "" {
		args := []any{nik}
		rows, err = s.Pool.Query(ctx, `SELECT r.id::text, r.facility_code, coalesce(r.held_since, r.create_time), r.child FROM custody_records r
			WHERE r.nik = $1 AND r.status = 'HELD' AND `+custodyCond(rs, custodyByIdentity, &args)+`
			ORDER BY r.facility_code, r.register_number`, args...)
	} else {
		args := []any{birth, SearchName(name), presenceLikeness}
		rows, err = s.Pool.Query(ctx, `SELECT r.id::text, r.facility_code, coalesce(r.held_since, r.create_time), r.child FROM custody_records r
			WHERE r.birth_date = $1 AND word_similarity($2, r.search_names) >= $3 AND r.status = 'HELD'
			  AND `+custodyCond(rs, custodyByIdentity, &args)+`
			ORDER BY r.facility_code, r.register_number`, args...)
	}
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Presence, error) {
		var p Presence
		err := r.Scan(&p.RecordID, &p.FacilityCode, &p.HeldSince, &p.Child)
		return p, err
	})
}

// CustodyRecordFacility returns the facility of record id when rs admits
// it; otherwise, as when it does not exist, ErrNotFound.
func (s *Store) CustodyRecordFacility(ctx context.Context, rs *restrict.Restriction, id string) (string, error) {
	if !IsCustodyRecordID(id) {
		return "", ErrNotFound
	}
	var f string
	args := []any{id}
	err := s.Pool.QueryRow(ctx, `SELECT r.facility_code FROM custody_records r WHERE r.id = $1 AND `+custodyCond(rs, custodyByRecord, &args), args...).Scan(&f)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return f, err
}

// CountCustodyRecords counts the records of facilities (all when empty).
func (s *Store) CountCustodyRecords(ctx context.Context, facilities []string) (int64, error) {
	var n int64
	err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM custody_records WHERE cardinality($1::text[]) = 0 OR facility_code = ANY($1)`,
		nonNil(facilities)).Scan(&n)
	return n, err
}
