package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// RosterUpload is one roster upload being received. Its records are staged
// by COPY into a temporary table of its own connection, each COPY a short
// transaction of its own: a slow upload holds a connection but never an
// open transaction (which would hold back every watcher and the audit
// sequencer). Merge applies them in one transaction; Close drops them.
type RosterUpload struct {
	conn   *pgxpool.Conn
	staged int64
}

// StagedRecord is one valid record of a roster upload and its position in it.
type StagedRecord struct {
	Position int64
	Record   *sinergiv1.CustodyRecord
}

var rosterStagingColumns = append(append([]string{"position", "register_number"}, custodyContentColumns...), "held_since")

// ErrRosterBusy is an upload for a facility whose roster another upload
// is sending or merging.
var ErrRosterBusy = errors.New("another roster upload for this facility is in progress")

// BeginRoster starts an upload of facility's roster. One upload per
// facility at a time: it holds a session lock for the facility from its
// first message to its end (or its connection's), and a second one is
// refused at once with ErrRosterBusy, not after it has sent everything.
func (s *Store) BeginRoster(ctx context.Context, facility string) (*RosterUpload, error) {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('sinergi roster upload ' || $1, 0))`, facility).Scan(&got); err != nil {
		conn.Release()
		return nil, err
	}
	if !got {
		conn.Release()
		return nil, ErrRosterBusy
	}
	// Temporary: local buffers, no WAL, gone with the session if the
	// process dies half way.
	// Room for a large roster in local buffers (temporary tables live
	// there, not in shared buffers); only the first SET of a session
	// counts, and only as much as the roster needs is ever used.
	_, _ = conn.Exec(ctx, `SET temp_buffers = '256MB'`)
	_, err = conn.Exec(ctx, `DROP TABLE IF EXISTS roster_upload;
		CREATE TEMP TABLE roster_upload (
			position              bigint NOT NULL,
			register_number       text NOT NULL,
			full_name             text NOT NULL,
			aliases               text[] NOT NULL,
			search_names          text NOT NULL,
			nik                   text,
			birth_date            date,
			birth_place           text NOT NULL,
			sex                   text NOT NULL,
			nationality           text NOT NULL,
			passport_number       text NOT NULL,
			address               text NOT NULL,
			father_name           text NOT NULL,
			mother_name           text NOT NULL,
			legal_kind            text NOT NULL,
			detaining_authority   text NOT NULL,
			detention_end_date    date,
			sentence_months       int NOT NULL,
			life_sentence         boolean NOT NULL,
			expected_release_date date,
			offence_articles      text[] NOT NULL,
			risk_flags            text[] NOT NULL,
			photo_sha256          text NOT NULL,
			content_hash          bytea NOT NULL,
			held_since            timestamptz
		)`)
	if err != nil {
		conn.Release()
		return nil, err
	}
	return &RosterUpload{conn: conn}, nil
}

// Stage adds records to the upload with one COPY.
func (u *RosterUpload) Stage(ctx context.Context, recs []StagedRecord) error {
	n, err := u.conn.CopyFrom(ctx, pgx.Identifier{"roster_upload"}, rosterStagingColumns,
		pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
			r := recs[i].Record
			var held any
			if r.GetHeldSince() != nil {
				held = r.GetHeldSince().AsTime()
			}
			row := make([]any, 0, len(rosterStagingColumns))
			row = append(row, recs[i].Position, r.GetRegisterNumber())
			row = append(row, custodyContentValues(r)...)
			return append(row, held), nil
		}))
	u.staged += n
	return err
}

// Close drops what the upload staged and gives its connection back.
func (u *RosterUpload) Close() {
	if u.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := u.conn.Exec(ctx, `DROP TABLE IF EXISTS roster_upload; SELECT pg_advisory_unlock_all()`); err != nil {
		// A connection that cannot drop its table or its lock is not given
		// back as is.
		_ = u.conn.Conn().Close(ctx)
	}
	u.conn.Release()
	u.conn = nil
}

// RosterDuplicate is a record whose register number came earlier in the same upload.
type RosterDuplicate struct {
	Position, FirstPosition int64
	RegisterNumber          string
}

// RosterDiscrepancy is a record whose standing disagrees with a roster.
type RosterDiscrepancy struct {
	RecordID, RegisterNumber string
	Status                   sinergiv1.CustodyStatus
}

// RosterResult is what a merge did.
type RosterResult struct {
	Inserted, Updated, Unchanged int64
	// Every duplicate, by position; the first occurrence is the one applied.
	Duplicates []RosterDuplicate
	// Up to the merge's list limit each, by register number, with their counts.
	Missing      []RosterDiscrepancy
	MissingCount int64
	NotHeld      []RosterDiscrepancy
	NotHeldCount int64
	// Full rosters: the reconciliation items opened for the missing.
	ReconciliationOpened int64
}

// Merge applies the upload to facility's records in one transaction:
// new register numbers become records, HELD since their held_since (else
// rosterTime), each with an ADMISSION event; records whose content changed
// are updated; REGISTERED records on the roster are admitted; records with
// the same content are left alone. When full, HELD records missing from the
// roster are reported (never deleted, status untouched). Lists are cut at
// listLimit entries.
func (u *RosterUpload) Merge(ctx context.Context, hook SubjectTxHook, facility, facilityKind string, full bool,
	rosterTime, now time.Time, listLimit int,
) (*RosterResult, error) {
	res := &RosterResult{}
	err := pgx.BeginTxFunc(ctx, u.conn, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if err := lockFacilityRecords(ctx, tx, facility); err != nil {
			return err
		}
		// A merge is bulk work: room for its hash joins, and for the
		// trigram index's pending-list cleanups its inserts trigger.
		if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '64MB'`); err != nil {
			return err
		}
		// A register number given twice counts once, as its first record.
		// Looking costs one hash aggregate; removing, a sort, only when needed.
		var dups bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM roster_upload GROUP BY register_number HAVING count(*) > 1)`).Scan(&dups); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `WITH ranked AS (
				SELECT ctid, position, register_number,
				       first_value(position) OVER (PARTITION BY register_number ORDER BY position) AS first
				FROM roster_upload
				WHERE $1
			)
			DELETE FROM roster_upload u USING ranked d
			WHERE u.ctid = d.ctid AND d.position <> d.first
			RETURNING d.position, d.register_number, d.first`, dups)
		if err != nil {
			return err
		}
		if res.Duplicates, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (RosterDuplicate, error) {
			var d RosterDuplicate
			err := r.Scan(&d.Position, &d.RegisterNumber, &d.FirstPosition)
			return d, err
		}); err != nil {
			return err
		}
		slices.SortFunc(res.Duplicates, func(a, b RosterDuplicate) int { return cmp.Compare(a.Position, b.Position) })
		distinct := u.staged - int64(len(res.Duplicates))
		// A facility's first roster is all new: nothing to compare with,
		// update, admit or look up, so it goes straight in.
		var first bool
		if err := tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM custody_records WHERE facility_code = $1)`, facility).Scan(&first); err != nil {
			return err
		}
		touched := map[string]bool{}
		var admitted []string
		from := "roster_upload s"
		if !first {
			if admitted, err = mergeExisting(ctx, tx, facility, rosterTime, now, touched); err != nil {
				return err
			}
			from = "roster_upload s JOIN roster_new USING (register_number)"
		}
		res.Updated = int64(len(touched))

		insCols := append([]string{"facility_code", "facility_kind", "register_number"}, custodyContentColumns...)
		insCols = append(insCols, "status", "status_time", "held_since", "last_event_time", "create_time", "update_time")
		sel := make([]string, len(custodyContentColumns))
		for i, c := range custodyContentColumns {
			sel[i] = "s." + c
		}
		// The new records and their admissions in one statement: the
		// events are made from the inserted rows inside the database.
		rows, err = tx.Query(ctx, `WITH ins AS (
				INSERT INTO custody_records (`+strings.Join(insCols, ", ")+`)
				SELECT $1, $2, s.register_number, `+strings.Join(sel, ", ")+`, 'HELD',
					coalesce(s.held_since, $3), coalesce(s.held_since, $3), coalesce(s.held_since, $3), $4, $4
				FROM `+from+`
				RETURNING id, held_since
			), admitted AS (
				INSERT INTO custody_events (record_id, facility_code, type, effective_time, status_after, record_time)
				SELECT id, $1, 'ADMISSION', held_since, 'HELD', $4 FROM ins
			)
			SELECT id::text FROM ins`, facility, facilityKind, rosterTime, now)
		if err != nil {
			return fmt.Errorf("insert new records: %w", err)
		}
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("insert and admit new records: %w", err)
		}
		for _, id := range inserted {
			touched[id] = true
		}
		res.Inserted = int64(len(inserted))
		res.Unchanged = distinct - res.Inserted - res.Updated

		discrepancies := func(q string, count *int64) ([]RosterDiscrepancy, error) {
			rows, err := tx.Query(ctx, q, facility, listLimit)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RosterDiscrepancy, error) {
				var d RosterDiscrepancy
				var st string
				err := r.Scan(&d.RecordID, &d.RegisterNumber, &st, count)
				d.Status = custodyStatusOf(st)
				return d, err
			})
		}
		// After a first roster, everyone on record is on it, and held.
		if !first {
			if res.NotHeld, err = discrepancies(`SELECT r.id::text, r.register_number, r.status, count(*) OVER ()
				FROM custody_records r JOIN roster_upload s ON s.register_number = r.register_number
				WHERE r.facility_code = $1 AND r.status <> 'HELD'
				ORDER BY r.register_number LIMIT $2`, &res.NotHeldCount); err != nil {
				return err
			}
		}
		if full && !first {
			if res.Missing, err = discrepancies(`SELECT r.id::text, r.register_number, r.status, count(*) OVER ()
				FROM custody_records r
				WHERE r.facility_code = $1 AND r.status = 'HELD'
				  AND NOT EXISTS (SELECT 1 FROM roster_upload s WHERE s.register_number = r.register_number)
				ORDER BY r.register_number LIMIT $2`, &res.MissingCount); err != nil {
				return err
			}
			if res.MissingCount > 0 {
				// Each missing person is an item the facility must resolve
				// within a day (one open item per record).
				tag, err := tx.Exec(ctx, `INSERT INTO reconciliation_items (id, facility_code, record_id, open_time, due_time)
					SELECT gen_random_uuid(), r.facility_code, r.id, $2::timestamptz, $2::timestamptz + interval '1 day' FROM custody_records r
					WHERE r.facility_code = $1 AND r.status = 'HELD'
					  AND NOT EXISTS (SELECT 1 FROM roster_upload s WHERE s.register_number = r.register_number)
					ON CONFLICT DO NOTHING`, facility, now)
				if err != nil {
					return err
				}
				res.ReconciliationOpened = tag.RowsAffected()
			}
		}
		if len(admitted)+len(inserted) > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, CustodyChannel); err != nil {
				return err
			}
		}
		subjects := make([]string, 0, len(touched))
		for id := range touched {
			subjects = append(subjects, CustodySubject(id))
		}
		slices.Sort(subjects)
		hook.AddSubjects(subjects...)
		return hook.WriteTx(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// mergeExisting applies a roster to a facility that has records: it
// updates those whose content changed, admits the REGISTERED ones the
// roster lists (adding their ids to touched, and returning the admitted),
// and leaves in roster_new the register numbers that are new.
func mergeExisting(ctx context.Context, tx pgx.Tx, facility string, rosterTime, now time.Time, touched map[string]bool) ([]string, error) {
	// Temporary tables have no statistics until analyzed: the joins below
	// need them to pick hash joins over nested loops.
	if _, err := tx.Exec(ctx, `ANALYZE roster_upload`); err != nil {
		return nil, err
	}
	collect := func(rows pgx.Rows, err error) ([]string, error) {
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	sets := make([]string, len(custodyContentColumns))
	for i, c := range custodyContentColumns {
		sets[i] = c + " = s." + c
	}
	updated, err := collect(tx.Query(ctx, `UPDATE custody_records r SET `+strings.Join(sets, ", ")+`, update_time = $2
		FROM roster_upload s
		WHERE r.facility_code = $1 AND r.register_number = s.register_number AND r.content_hash <> s.content_hash
		RETURNING r.id::text`, facility, now))
	if err != nil {
		return nil, fmt.Errorf("update changed records: %w", err)
	}
	admitted, err := collect(tx.Query(ctx, `WITH adm AS (
			UPDATE custody_records r SET status = 'HELD', status_time = coalesce(s.held_since, $2), held_since = coalesce(s.held_since, $2),
				last_event_time = coalesce(s.held_since, $2), update_time = $3
			FROM roster_upload s
			WHERE r.facility_code = $1 AND r.register_number = s.register_number AND r.status = 'REGISTERED'
			RETURNING r.id, r.held_since
		), ev AS (
			INSERT INTO custody_events (record_id, facility_code, type, effective_time, status_after, record_time)
			SELECT id, $1, 'ADMISSION', held_since, 'HELD', $3 FROM adm
		)
		SELECT id::text FROM adm`, facility, rosterTime, now))
	if err != nil {
		return nil, fmt.Errorf("admit registered records: %w", err)
	}
	for _, ids := range [][]string{updated, admitted} {
		for _, id := range ids {
			touched[id] = true
		}
	}
	// New register numbers are found by a read-only anti-join before they
	// are inserted: a NOT EXISTS inside the INSERT would be planned while
	// the table may still be empty, as a scan of the very table the
	// statement fills (quadratic); ON CONFLICT would pay a speculative
	// insertion per row. The facility lock keeps the set true until commit.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE roster_new (register_number text NOT NULL) ON COMMIT DROP`); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO roster_new SELECT s.register_number FROM roster_upload s
		WHERE NOT EXISTS (SELECT 1 FROM custody_records r WHERE r.facility_code = $1 AND r.register_number = s.register_number)`, facility); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `ANALYZE roster_new`); err != nil {
		return nil, err
	}
	return admitted, nil
}

// BareCopyColumns gives the columns of custody_records a roster merge
// fills and, for a record, the row a bare COPY would write: the floor the
// roster benchmark compares SyncRoster with (same rows, same table, none of
// the checks, events or audit). The row is HELD since the record's
// held_since; a record without a facility code goes to lapas-metro, a
// LAPAS of the demo directory.
func BareCopyColumns() ([]string, func(rec *sinergiv1.CustodyRecord, now time.Time) []any) {
	cols := append([]string{"facility_code", "facility_kind", "register_number"}, custodyContentColumns...)
	cols = append(cols, "status", "status_time", "held_since", "last_event_time", "create_time", "update_time")
	return cols, func(r *sinergiv1.CustodyRecord, now time.Time) []any {
		facility := r.GetFacilityCode()
		if facility == "" {
			facility = "lapas-metro"
		}
		held := now
		if r.GetHeldSince() != nil {
			held = r.GetHeldSince().AsTime()
		}
		v := append([]any{facility, "LAPAS", r.GetRegisterNumber()}, custodyContentValues(r)...)
		return append(v, "HELD", held, held, held, now, now)
	}
}

// BulkChange is how many changed records make a load bulk: past it the
// planner's statistics are refreshed (AnalyzeCustody).
const BulkChange = 10000

// AnalyzeCustody refreshes the planner's statistics of the custody tables
// after a bulk load, so that lookups keep their index plans.
func (s *Store) AnalyzeCustody(ctx context.Context) error {
	_, err := s.Pool.Exec(ctx, `SELECT sinergi_analyze_custody()`)
	return err
}
