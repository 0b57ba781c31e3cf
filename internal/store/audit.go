package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// AuditRecord is one row of the audit trail.
type AuditRecord struct {
	ID                int64
	At                time.Time
	RequestID         string
	CallerCode        string
	CertificateSerial string
	OperatorID        string
	Method            string
	Purpose           string
	CaseReference     string
	Decision          string
	Reason            string
	AgreementIDs      []string
	StatusCode        string
	Subjects          []string
	LatencyMicros     int64
	// MAC is the server's HMAC over the record's leaf bytes (internal/audit).
	MAC []byte

	// LeafIndex is the record's position in the log; -1 while it is not
	// integrated yet.
	LeafIndex int64

	// With are the writes that commit with the record, in its batch's
	// transaction (AppendAuditBatch); not part of the record.
	With []Companion
}

// Companion is a write that commits with an audit record, in the same
// transaction as the batch that carries it: the group commit of calls
// whose writes need nothing back from the database but their commit (a
// presence check's hits). If the batch fails, the write is not applied;
// if the database refuses the write, its record's call alone fails.
type Companion interface {
	// QueueWith queues the write's statements.
	QueueWith(b *pgx.Batch)
	// Channel is what to notify once the write commits ("" for nothing):
	// a batch notifies each channel once.
	Channel() string
}

// DB is what both a pool and a single connection offer. Loops that lead
// (the audit integrator, the escalator) work on the one connection that
// holds their advisory lock.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// appendArgs are sinergi_audit_append's arguments for recs: one array per
// column. The two list columns travel as one array literal per record,
// because PostgreSQL arrays cannot be ragged.
func appendArgs(recs []*AuditRecord) []any {
	n := len(recs)
	ids, latency := make([]int64, n), make([]int64, n)
	at := make([]time.Time, n)
	macs := make([][]byte, n)
	text := make([][]string, 13) // in sinergi_audit_append's order
	for i := range text {
		text[i] = make([]string, n)
	}
	for i, r := range recs {
		ids[i], at[i], latency[i], macs[i] = r.ID, r.At, r.LatencyMicros, r.MAC
		for j, v := range []string{r.RequestID, r.CallerCode, r.CertificateSerial, r.OperatorID, r.Method,
			r.Purpose, r.CaseReference, r.Decision, r.Reason, r.StatusCode,
			arrayLiteral(r.AgreementIDs), arrayLiteral(r.Subjects)} {
			text[j][i] = v
		}
	}
	args := []any{ids, at}
	for _, t := range text[:12] {
		args = append(args, t)
	}
	return append(args, latency, macs)
}

const appendSQL = `SELECT sinergi_audit_append($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
	$6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
	$15::bigint[], $16::bytea[])`

// AppendAuditBatch writes records with one statement in one round trip:
// the group commit of concurrent requests' audit records. The statement
// runs in its own implicit transaction, so the batch commits whole or not
// at all. The server may write the trail only through
// sinergi_audit_append (migration 00008).
//
// When records carry companions, the batch's statements travel as one
// pgx batch, which PostgreSQL runs as one implicit transaction: the
// records and their writes commit together or not at all.
func (s *Store) AppendAuditBatch(ctx context.Context, recs []*AuditRecord) error {
	var b *pgx.Batch
	var channels []string
	for _, r := range recs {
		for _, c := range r.With {
			if b == nil {
				b = &pgx.Batch{}
				b.Queue(appendSQL, appendArgs(recs)...)
			}
			c.QueueWith(b)
			if ch := c.Channel(); ch != "" && !slices.Contains(channels, ch) {
				channels = append(channels, ch)
			}
		}
	}
	if b == nil {
		_, err := s.batch.Exec(ctx, appendSQL, appendArgs(recs)...)
		return err
	}
	for _, ch := range channels {
		b.Queue(`SELECT pg_notify($1, '')`, ch)
	}
	return s.batch.SendBatch(ctx, b).Close()
}

// AppendAuditTx writes one record inside a write's own transaction.
func AppendAuditTx(ctx context.Context, tx pgx.Tx, r *AuditRecord) error {
	_, err := tx.Exec(ctx, appendSQL, appendArgs([]*AuditRecord{r})...)
	return err
}

// AuditRecordCommitted reports whether the record written at at with id
// is in the trail: how a writer whose commit went unacknowledged learns
// what became of it.
func (s *Store) AuditRecordCommitted(ctx context.Context, at time.Time, id int64) (bool, error) {
	var ok bool
	err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_records WHERE at = $1 AND id = $2)`, at, id).Scan(&ok)
	return ok, err
}

// IsAmbiguous reports whether err, from a statement that commits, leaves
// unknown whether it committed: the database neither answered nor
// refused it (the connection broke, or the wait for its answer ended),
// and the statement may have been sent.
func IsAmbiguous(err error) bool {
	if err == nil || pgconn.SafeToRetry(err) {
		return false
	}
	var pe *pgconn.PgError
	return !errors.As(err, &pe)
}

// ReserveAuditIDs returns the first of AuditIDBlock record ids that are the
// caller's to give.
func (s *Store) ReserveAuditIDs(ctx context.Context) (int64, error) {
	return ReserveAuditIDs(ctx, s.Pool)
}

// ReserveAuditIDs is Store.ReserveAuditIDs on db: a transaction reserves
// on its own connection (the sequence is not transactional, so the block
// stays reserved whatever becomes of the transaction).
func ReserveAuditIDs(ctx context.Context, db DB) (int64, error) {
	var first int64
	err := db.QueryRow(ctx, `SELECT sinergi_audit_reserve_ids()`).Scan(&first)
	return first, err
}

// AuditIDBlock is how many ids ReserveAuditIDs hands out at once (the
// sequence's increment, migration 00008).
const AuditIDBlock = 4096

// IsDataError reports whether err is the database refusing what a
// statement carried (a bad value, a broken constraint, a value too big
// for an index), rather than failing to run it: the statement would fail
// again as it is, and the same statement without the bad row would not.
func IsDataError(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) != 5 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54": // data exception, integrity constraint, program limit
		return true
	}
	return false
}

// arrayLiteral is the text form of a text[] value: every element quoted,
// with backslashes and double quotes escaped.
func arrayLiteral(vs []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, c := range []byte(v) {
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

const auditColumns = `r.id, r.at, r.request_id, r.caller_code, r.certificate_serial, r.operator_id, r.method,
	r.purpose, r.case_reference, r.decision, r.reason, r.agreement_ids, r.status_code, r.subjects, r.latency_us,
	coalesce(r.mac, ''::bytea)`

func scanAudit(row pgx.Row, extra ...any) (*AuditRecord, error) {
	r := AuditRecord{LeafIndex: -1}
	dest := append([]any{&r.ID, &r.At, &r.RequestID, &r.CallerCode, &r.CertificateSerial, &r.OperatorID, &r.Method,
		&r.Purpose, &r.CaseReference, &r.Decision, &r.Reason, &r.AgreementIDs, &r.StatusCode, &r.Subjects,
		&r.LatencyMicros, &r.MAC}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return &r, nil
}

// Leaf is one leaf of the audit log.
type Leaf struct {
	Index    int64
	RecordID int64
	RecordAt time.Time
	Hash     []byte
	MAC      []byte
}

// Node is a stored node of the log's tree: a perfect subtree at a level
// that is a multiple of 8.
type Node struct {
	Level int
	Index int64
	Hash  []byte
}

// LogCheckpoint is a signed statement of the log's size and root.
type LogCheckpoint struct {
	TreeSize int64
	RootHash []byte
	At       time.Time
	// Note is the signed note (C2SP tlog-checkpoint).
	Note string
}

// TakeQueuedAudit removes up to limit records from the queue of records
// not yet in the log and returns them, in (at, id) order. Run it in the
// transaction that appends their leaves: if that rolls back, they stay
// queued.
//
// The records are read in a second statement bounded by the batch's first
// and last times, so that only the partitions of those months are read.
// Joined to the whole trail in one statement, the planner saw every
// monthly partition, and with a few thousand records queued it hashed the
// whole trail to find them: a sequential scan of every partition per
// batch, growing with the trail (docs/performance.md).
func TakeQueuedAudit(ctx context.Context, tx pgx.Tx, limit int) ([]*AuditRecord, error) {
	rows, err := tx.Query(ctx, `DELETE FROM audit_queue WHERE (at, id) IN (SELECT at, id FROM audit_queue ORDER BY at, id LIMIT $1)
		RETURNING at, id`, limit)
	if err != nil {
		return nil, err
	}
	var ats []time.Time
	var ids []int64
	for rows.Next() {
		var at time.Time
		var id int64
		if err := rows.Scan(&at, &id); err != nil {
			rows.Close()
			return nil, err
		}
		ats, ids = append(ats, at), append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	first, last := ats[0], ats[0]
	for _, at := range ats {
		first, last = minTime(first, at), maxTime(last, at)
	}
	if rows, err = tx.Query(ctx, takeQueuedRecords, ats, ids, first, last); err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*AuditRecord
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// takeQueuedRecords reads the records of a batch taken from the queue:
// $1 and $2 their times and ids, $3 and $4 the first and last time.
const takeQueuedRecords = `SELECT ` + auditColumns + `
	FROM unnest($1::timestamptz[], $2::bigint[]) AS q(at, id) JOIN audit_records r ON r.at = q.at AND r.id = q.id
	WHERE r.at >= $3 AND r.at <= $4
	ORDER BY r.at, r.id`

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// AppendLeaves writes leaves, and the tree nodes they completed, in tx.
func AppendLeaves(ctx context.Context, tx pgx.Tx, leaves []Leaf, nodes []Node) error {
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_leaves"}, []string{"leaf_index", "record_id", "record_at", "leaf_hash", "leaf_mac"},
		pgx.CopyFromSlice(len(leaves), func(i int) ([]any, error) {
			l := leaves[i]
			return []any{l.Index, l.RecordID, l.RecordAt, l.Hash, l.MAC}, nil
		})); err != nil {
		return err
	}
	if len(nodes) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_nodes"}, []string{"level", "idx", "hash"},
		pgx.CopyFromSlice(len(nodes), func(i int) ([]any, error) {
			n := nodes[i]
			return []any{int16(n.Level), n.Index, n.Hash}, nil
		}))
	return err
}

// RejectAudit records that the integrator refused a record (in tx).
func RejectAudit(ctx context.Context, tx pgx.Tx, r *AuditRecord, reason string) error {
	_, err := tx.Exec(ctx, `INSERT INTO audit_rejected (record_at, record_id, reason) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, r.At, r.ID, reason)
	return err
}

// SetLatestCheckpoint replaces the newest checkpoint, and keeps it in the
// history too when history is set (in tx).
func SetLatestCheckpoint(ctx context.Context, tx pgx.Tx, c LogCheckpoint, history bool) error {
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log_latest (tree_size, root_hash, at, note) VALUES ($1, $2, $3, $4)
		ON CONFLICT (one) DO UPDATE SET tree_size = EXCLUDED.tree_size, root_hash = EXCLUDED.root_hash, at = EXCLUDED.at, note = EXCLUDED.note`,
		c.TreeSize, c.RootHash, c.At, c.Note); err != nil {
		return err
	}
	if !history {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log_checkpoints (tree_size, root_hash, at, note) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tree_size) DO NOTHING`, c.TreeSize, c.RootHash, c.At, c.Note)
	return err
}

// LogSize is the number of leaves in the log.
func LogSize(ctx context.Context, db DB) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT coalesce(max(leaf_index) + 1, 0) FROM audit_leaves`).Scan(&n)
	return n, err
}

// LatestLogCheckpoint returns the newest checkpoint; ErrNotFound when the
// log has none yet.
func LatestLogCheckpoint(ctx context.Context, db DB) (LogCheckpoint, error) {
	var c LogCheckpoint
	err := db.QueryRow(ctx, `SELECT tree_size, root_hash, at, note FROM audit_log_latest`).Scan(&c.TreeSize, &c.RootHash, &c.At, &c.Note)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// LatestLogCheckpoint returns the newest checkpoint; ErrNotFound when none.
func (s *Store) LatestLogCheckpoint(ctx context.Context) (LogCheckpoint, error) {
	return LatestLogCheckpoint(ctx, s.Pool)
}

// LatestLogCheckpoint returns the newest checkpoint; ErrNotFound when none.
func (s Reader) LatestLogCheckpoint(ctx context.Context) (LogCheckpoint, error) {
	return LatestLogCheckpoint(ctx, s.db)
}

// Reader reads the audit trail and its log, through the pool or in one
// snapshot (InSnapshot).
type Reader struct{ db DB }

// Reader reads through the pool.
func (s *Store) Reader() Reader { return Reader{db: s.Pool} }

// InSnapshot runs fn with a Reader that sees the database as it was at one
// moment (a read-only REPEATABLE READ transaction): what it reads in
// several statements is consistent while the server goes on writing.
func (s *Store) InSnapshot(ctx context.Context, fn func(Reader) error) error {
	return pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(Reader{db: tx})
	})
}

// LogCheckpoints returns the kept checkpoints and the newest, by size.
func (s Reader) LogCheckpoints(ctx context.Context) ([]LogCheckpoint, error) {
	rows, err := s.db.Query(ctx, `
		SELECT tree_size, root_hash, at, note FROM audit_log_checkpoints
		UNION
		SELECT tree_size, root_hash, at, note FROM audit_log_latest
		ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LogCheckpoint, error) {
		var c LogCheckpoint
		err := r.Scan(&c.TreeSize, &c.RootHash, &c.At, &c.Note)
		return c, err
	})
}

// HashRange is a run of hashes of the tree: leaves [From, To) at level 0,
// or stored nodes at Level (a stored level, see internal/audit).
type HashRange struct {
	Level    int
	From, To int64
}

// TreeHashes reads the hashes of every range in one statement, in the
// ranges' order; a hash the log does not have (yet) is missing from its
// range's slice.
func TreeHashes(ctx context.Context, db DB, ranges []HashRange) ([][][]byte, error) {
	if len(ranges) == 0 {
		return nil, nil
	}
	var q strings.Builder
	var args []any
	for i, r := range ranges {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		args = append(args, r.From, r.To)
		a, b := len(args)-1, len(args)
		if r.Level == 0 {
			fmt.Fprintf(&q, "(SELECT %d, leaf_index, leaf_hash FROM audit_leaves WHERE leaf_index >= $%d AND leaf_index < $%d)", i, a, b)
		} else {
			args = append(args, int16(r.Level))
			fmt.Fprintf(&q, "(SELECT %d, idx, hash FROM audit_nodes WHERE level = $%d AND idx >= $%d AND idx < $%d)", i, len(args), a, b)
		}
	}
	q.WriteString(" ORDER BY 1, 2")
	rows, err := db.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([][][]byte, len(ranges))
	for rows.Next() {
		var i int
		var idx int64
		var h []byte
		if err := rows.Scan(&i, &idx, &h); err != nil {
			return nil, err
		}
		if want := ranges[i].From + int64(len(out[i])); idx != want {
			return nil, fmt.Errorf("audit log: hash %d at level %d missing", want, ranges[i].Level)
		}
		out[i] = append(out[i], h)
	}
	return out, rows.Err()
}

// TreeHashes reads hashes of the log's tree (see TreeHashes).
func (s *Store) TreeHashes(ctx context.Context, ranges []HashRange) ([][][]byte, error) {
	return TreeHashes(ctx, s.Pool, ranges)
}

// Batcher sends a batch of statements in one round trip (a pool, a
// connection, a transaction).
type Batcher interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}

// NodeKey is a node of the log's tree: its level and index there.
type NodeKey struct {
	Level int
	Index int64
}

// ProofRead is what a proof needs from the log, read in one round trip
// (ReadForProof).
type ProofRead struct {
	// Latest is the newest checkpoint (HasLatest false: none yet).
	Latest    LogCheckpoint
	HasLatest bool
	// Record is the record asked for, with its leaf index (nil: not in
	// the log, or none asked).
	Record *AuditRecord
	// Hashes are the stored hashes of the blocks around the points (see
	// ReadForProof), by node.
	Hashes map[NodeKey][]byte
}

// ReadForProof reads, in one round trip, the newest checkpoint, the record
// with recordID and its leaf (when recordID > 0), and the stored hashes
// near the points a proof walks: for each point (points, the record's leaf
// index, and size-1) and each stored level (0 and every multiple of
// every), the aligned block of 2^every hashes at that level that holds
// the point's ancestor, as far as the log of size has them. size 0, or a
// size past the newest checkpoint's, is the newest checkpoint's size. What
// a proof needs outside these blocks the caller reads itself.
func ReadForProof(ctx context.Context, db Batcher, recordID int64, points []int64, size int64, every int) (*ProofRead, error) {
	b := &pgx.Batch{}
	out := &ProofRead{Hashes: map[NodeKey][]byte{}}
	b.Queue(`SELECT tree_size, root_hash, at, note FROM audit_log_latest`).QueryRow(func(row pgx.Row) error {
		c := &out.Latest
		err := row.Scan(&c.TreeSize, &c.RootHash, &c.At, &c.Note)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		out.HasLatest = err == nil
		return err
	})
	if recordID > 0 {
		b.Queue(auditLeafOf, recordID).QueryRow(func(row pgx.Row) error {
			var idx int64
			r, err := scanAudit(row, &idx)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			r.LeafIndex = idx
			out.Record = r
			return nil
		})
	}
	mask := int64(1)<<every - 1
	b.Queue(`
		-- Never past the newest checkpoint (a size beyond it is the
		-- caller's to refuse), so that no block's end passes int8.
		WITH latest AS (SELECT coalesce((SELECT tree_size FROM audit_log_latest), 0) AS n),
		sz AS (SELECT least(coalesce(nullif($3::bigint, 0), latest.n), latest.n) AS n FROM latest),
		pts AS (
			SELECT DISTINCT p FROM sz, unnest($1::bigint[] || (sz.n - 1) || ARRAY(SELECT leaf_index FROM audit_leaves WHERE record_id = $2)) AS p
			WHERE p >= 0 AND p < sz.n
		), blocks AS (
			SELECT DISTINCT lvl::smallint AS lvl, (pts.p >> lvl) & ~$5::bigint AS lo, least(((pts.p >> lvl) & ~$5::bigint) + $5 + 1, sz.n >> lvl) AS hi
			FROM sz, pts, generate_series(0, 62, $4::int) AS lvl WHERE (sz.n >> lvl) > 0
		)
		-- Each block is its own index range scan (OFFSET 0 keeps the
		-- planner from joining the blocks to a whole table instead).
		SELECT b.lvl, h.idx, h.hash FROM blocks b, LATERAL (
			SELECT leaf_index AS idx, leaf_hash AS hash FROM audit_leaves WHERE b.lvl = 0 AND leaf_index >= b.lo AND leaf_index < b.hi
			UNION ALL
			SELECT idx, hash FROM audit_nodes WHERE b.lvl > 0 AND level = b.lvl AND idx >= b.lo AND idx < b.hi
			OFFSET 0) h`,
		append([]int64{}, points...), recordID, size, every, mask).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var level int16
			var idx int64
			var h []byte
			if err := rows.Scan(&level, &idx, &h); err != nil {
				return err
			}
			out.Hashes[NodeKey{int(level), idx}] = h
		}
		return rows.Err()
	})
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// auditLeafOf reads the record with id $1 and its leaf index.
const auditLeafOf = `SELECT ` + auditColumns + `, l.leaf_index
	FROM audit_leaves l JOIN audit_records r ON r.id = l.record_id AND r.at = l.record_at
	WHERE l.record_id = $1`

// AuditLeafOf returns the record with id and its leaf index; ErrNotFound
// when there is no such record, or it is not in the log yet.
func (s *Store) AuditLeafOf(ctx context.Context, id int64) (*AuditRecord, error) {
	var idx int64
	r, err := scanAudit(s.Pool.QueryRow(ctx, auditLeafOf, id), &idx)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r.LeafIndex = idx
	return r, nil
}

// WalkLeaves calls fn for each leaf from index from on, in order, with its
// record (nil when the record is gone). It reads in pages, so a long log
// never sits in memory.
func (s Reader) WalkLeaves(ctx context.Context, from int64, fn func(Leaf, *AuditRecord) error) error {
	const page = 10000
	for {
		rows, err := s.db.Query(ctx, `
			SELECT l.leaf_index, l.record_id, l.record_at, l.leaf_hash, l.leaf_mac, r.id IS NOT NULL,
				coalesce(r.id, 0), coalesce(r.at, l.record_at), coalesce(r.request_id, ''), coalesce(r.caller_code, ''),
				coalesce(r.certificate_serial, ''), coalesce(r.operator_id, ''), coalesce(r.method, ''), coalesce(r.purpose, ''),
				coalesce(r.case_reference, ''), coalesce(r.decision, ''), coalesce(r.reason, ''), coalesce(r.agreement_ids, '{}'),
				coalesce(r.status_code, ''), coalesce(r.subjects, '{}'), coalesce(r.latency_us, 0), coalesce(r.mac, ''::bytea)
			FROM audit_leaves l LEFT JOIN audit_records r ON r.id = l.record_id AND r.at = l.record_at
			WHERE l.leaf_index >= $1
			ORDER BY l.leaf_index
			LIMIT $2`, from, page)
		if err != nil {
			return err
		}
		n := 0
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				var l Leaf
				var present bool
				r := AuditRecord{}
				if err := rows.Scan(&l.Index, &l.RecordID, &l.RecordAt, &l.Hash, &l.MAC, &present,
					&r.ID, &r.At, &r.RequestID, &r.CallerCode, &r.CertificateSerial, &r.OperatorID, &r.Method, &r.Purpose,
					&r.CaseReference, &r.Decision, &r.Reason, &r.AgreementIDs, &r.StatusCode, &r.Subjects, &r.LatencyMicros, &r.MAC); err != nil {
					return err
				}
				n++
				from = l.Index + 1
				r.LeafIndex = l.Index
				var rec *AuditRecord
				if present {
					rec = &r
				}
				if err := fn(l, rec); err != nil {
					return err
				}
			}
			return rows.Err()
		}()
		if err != nil || n < page {
			return err
		}
	}
}

// AllNodes returns every stored node of the tree, by level and index.
func (s Reader) AllNodes(ctx context.Context) ([]Node, error) {
	rows, err := s.db.Query(ctx, `SELECT level, idx, hash FROM audit_nodes ORDER BY level, idx`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
		var n Node
		var level int16
		err := r.Scan(&level, &n.Index, &n.Hash)
		n.Level = int(level)
		return n, err
	})
}

// Unintegrated is what of the trail is not in the log.
type Unintegrated struct {
	// Records with a MAC, older than the cut-off, not in the log.
	Pending []PendingRecord
	// Records the integrator refused, with why.
	Rejected []RejectedRecord
	// Records without a MAC: from before the log (migration 00008), or
	// written outside the server's write path.
	WithoutMAC    int64
	LegacyRecords int64
	LegacyMaxID   int64
	// Records without a MAC whose id is above the last legacy one.
	NotLegacy int64
}

// PendingRecord is a record not in the log, and whether it is queued for it.
type PendingRecord struct {
	*AuditRecord
	Queued bool
}

// RejectedRecord is a record the integrator refused.
type RejectedRecord struct {
	ID     int64
	At     time.Time
	Reason string
}

// UnintegratedAudit reports the records not in the log, looking at those
// with a MAC written before cutoff (younger ones may be on their way).
func (s Reader) UnintegratedAudit(ctx context.Context, cutoff time.Time, limit int) (*Unintegrated, error) {
	u := &Unintegrated{}
	rows, err := s.db.Query(ctx, `SELECT `+auditColumns+`,
			EXISTS (SELECT 1 FROM audit_queue q WHERE q.at = r.at AND q.id = r.id)
		FROM audit_records r
		WHERE r.mac IS NOT NULL AND r.at < $1
		  AND NOT EXISTS (SELECT 1 FROM audit_leaves l WHERE l.record_id = r.id AND l.record_at = r.at)
		  AND NOT EXISTS (SELECT 1 FROM audit_rejected x WHERE x.record_id = r.id AND x.record_at = r.at)
		ORDER BY r.at, r.id LIMIT $2`, cutoff, limit)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var queued bool
		r, err := scanAudit(rows, &queued)
		if err != nil {
			rows.Close()
			return nil, err
		}
		u.Pending = append(u.Pending, PendingRecord{AuditRecord: r, Queued: queued})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.Query(ctx, `SELECT record_id, record_at, reason FROM audit_rejected ORDER BY record_at, record_id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	u.Rejected, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (RejectedRecord, error) {
		var x RejectedRecord
		err := r.Scan(&x.ID, &x.At, &x.Reason)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	err = s.db.QueryRow(ctx, `SELECT m.legacy_records, m.legacy_max_id,
			(SELECT count(*) FROM audit_records WHERE mac IS NULL),
			(SELECT count(*) FROM audit_records WHERE mac IS NULL AND id > m.legacy_max_id)
		FROM audit_log_meta m`).Scan(&u.LegacyRecords, &u.LegacyMaxID, &u.WithoutMAC, &u.NotLegacy)
	return u, err
}

// EnsureAuditPartitions creates the monthly partitions from the month of
// first on, months of them (on the integrator's connection).
func EnsureAuditPartitions(ctx context.Context, db DB, first time.Time, months int) error {
	_, err := db.Exec(ctx, `SELECT sinergi_audit_ensure_partitions($1::date, $2)`, first, months)
	return err
}

// DroppedAuditMonths returns the months retention dropped.
func (s Reader) DroppedAuditMonths(ctx context.Context) (map[time.Time]bool, error) {
	rows, err := s.db.Query(ctx, `SELECT month FROM audit_retention`)
	if err != nil {
		return nil, err
	}
	months, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	out := map[time.Time]bool{}
	for _, m := range months {
		out[time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, time.UTC)] = true
	}
	return out, err
}

// AuditFilter selects audit records.
type AuditFilter struct {
	CallerCode, OperatorID, Subject, Method, Decision string
	// AnySubject selects records naming at least one of these subjects.
	AnySubject []string
	// CallerIn, when not nil, selects records whose caller is one of these
	// codes ("" for records of no institution: refusals before one was
	// known, the server's and the command line's own acts).
	CallerIn   []string
	Start, End time.Time
	// Keyset position: records strictly before (BeforeAt, BeforeID).
	BeforeAt time.Time
	BeforeID int64
	Limit    int
}

// ListAudit returns records matching f, newest first, with their leaf
// index when integrated.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]*AuditRecord, error) {
	q, args := listAuditQuery(f)
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*AuditRecord
	for rows.Next() {
		var idx int64
		r, err := scanAudit(rows, &idx)
		if err != nil {
			return nil, err
		}
		r.LeafIndex = idx
		out = append(out, r)
	}
	return out, rows.Err()
}

// listAuditQuery is ListAudit's statement for f.
//
// A search by subject finds the subject's records through the subjects
// index first and orders only those (a materialized CTE). Written as one
// ordered query, its generic plan, which the server's cached statements
// get after a few calls, walked every monthly partition backwards in time
// and filtered each record, to the end of the trail for a subject with
// fewer records than the page: linear in the trail (docs/performance.md).
func listAuditQuery(f AuditFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	// One caller's listing is a range of the caller index (caller_code,
	// at, id), read backwards from the page's bound: written as
	// caller_code = $c, the planner drops caller_code from the order (a
	// constant) and may read a month through the primary key instead,
	// judging by statistics that say the caller is frequent there while
	// its calls lie under 266 000 newer ones of another caller (129 ms a
	// page in make bench-scale, against 0.9 ms through the index). As a
	// range ordered by the index's own key, only the index gives the order.
	caller := 0
	if f.CallerCode != "" {
		add("r.caller_code >= $%d", f.CallerCode)
		caller = len(args)
	}
	if f.OperatorID != "" {
		add("r.operator_id = $%d", f.OperatorID)
	}
	if f.Subject != "" {
		add("r.subjects @> ARRAY[$%d::text]", f.Subject)
	}
	if f.AnySubject != nil {
		add("r.subjects && $%d::text[]", f.AnySubject)
	}
	switch {
	case f.CallerIn == nil:
	case caller > 0 && slices.Contains(f.CallerIn, f.CallerCode):
		// Decided here: as an array in the statement beside the range,
		// the plan read every record of the side's callers (hundreds of
		// codes) and sorted them (13 s a page in make bench-scale).
	case caller > 0:
		where = append(where, "false")
	default:
		add("r.caller_code = ANY($%d::text[])", f.CallerIn)
	}
	if f.Method != "" {
		add("r.method = $%d", f.Method)
	}
	if f.Decision != "" {
		add("r.decision = $%d", f.Decision)
	}
	if !f.Start.IsZero() {
		add("r.at >= $%d", f.Start)
	}
	if !f.End.IsZero() {
		add("r.at < $%d", f.End)
	}
	switch {
	case caller > 0 && !f.BeforeAt.IsZero():
		args = append(args, f.BeforeAt, f.BeforeID)
		where = append(where, fmt.Sprintf("(r.caller_code, r.at, r.id) < ($%d, $%d, $%d)", caller, len(args)-1, len(args)))
	case caller > 0:
		where = append(where, fmt.Sprintf("(r.caller_code, r.at) < ($%d, 'infinity'::timestamptz)", caller))
	case !f.BeforeAt.IsZero():
		args = append(args, f.BeforeAt, f.BeforeID)
		// r.at <= bounds an index's range scan; the row comparison alone
		// is a filter.
		where = append(where, fmt.Sprintf("r.at <= $%d AND (r.at, r.id) < ($%d, $%d)", len(args)-1, len(args)-1, len(args)))
	}
	// A record without a MAC is one from before the log, or one written
	// outside the server's write path: only the former are listed.
	where = append(where, "(r.mac IS NOT NULL OR r.id <= (SELECT legacy_max_id FROM audit_log_meta))")
	cond := strings.Join(where, " AND ")
	q := `SELECT ` + auditColumns + `, coalesce(l.leaf_index, -1)
		FROM audit_records r LEFT JOIN audit_leaves l ON l.record_id = r.id AND l.record_at = r.at
		WHERE ` + cond
	if f.Subject != "" || f.AnySubject != nil {
		q = `WITH r AS MATERIALIZED (SELECT * FROM audit_records r WHERE ` + cond + `)
		SELECT ` + auditColumns + `, coalesce(l.leaf_index, -1)
		FROM r LEFT JOIN audit_leaves l ON l.record_id = r.id AND l.record_at = r.at`
	}
	order := "r.at DESC, r.id DESC"
	if caller > 0 {
		order = "r.caller_code DESC, " + order // the same order: one caller
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY %s LIMIT $%d", order, len(args))
	return q, args
}

// OldAuditPartitions lists the monthly partitions entirely before cutoff.
func OldAuditPartitions(ctx context.Context, db DB, cutoff time.Time) ([]time.Time, error) {
	rows, err := db.Query(ctx, `
		SELECT to_date(substr(c.relname, length('audit_records_') + 1), 'YYYY_MM')
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname = 'audit_records'
		ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	months, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for _, m := range months {
		if !m.AddDate(0, 1, 0).After(cutoff) {
			out = append(out, m)
		}
	}
	return out, nil
}

// DropAuditMonth drops one month of records through
// sinergi_audit_drop_month (on the integrator's connection), which refuses
// a month younger than a year or with records not yet in the log. It
// returns how many records the month held.
func DropAuditMonth(ctx context.Context, db DB, month time.Time) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT sinergi_audit_drop_month($1::date)`, month).Scan(&n)
	return n, err
}

// CleanAuditPending merges the pending lists of the audit trail's subjects
// index into the index proper and returns how many pending pages it
// merged. Left to themselves, the lists are merged by whichever insert
// finds one full, and that insert is the audit writer's group commit, on
// every waiting call's path (migration 00006). Calling this often, off
// that path, keeps the lists short.
func CleanAuditPending(ctx context.Context, db DB) (int64, error) {
	var pages int64
	err := db.QueryRow(ctx, `SELECT sinergi_audit_clean_pending()`).Scan(&pages)
	return pages, err
}

// Witness is an institution registered to cosign the log's checkpoints.
type Witness struct {
	InstitutionCode string
	// Name and VKey are its cosigning key's name and verifier key.
	Name, VKey string
}

// Witnesses returns the registered witnesses.
func (s Reader) Witnesses(ctx context.Context) ([]Witness, error) {
	rows, err := s.db.Query(ctx, `SELECT institution_code, name, vkey FROM audit_witnesses ORDER BY institution_code`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Witness, error) {
		var w Witness
		err := r.Scan(&w.InstitutionCode, &w.Name, &w.VKey)
		return w, err
	})
}

// RegisterWitness registers (or re-keys) a witness.
func (s *Store) RegisterWitness(ctx context.Context, w Witness) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO audit_witnesses (institution_code, name, vkey) VALUES ($1, $2, $3)
		ON CONFLICT (institution_code) DO UPDATE SET name = EXCLUDED.name, vkey = EXCLUDED.vkey`, w.InstitutionCode, w.Name, w.VKey)
	if isForeignKeyViolation(err) {
		return ErrNotFound
	}
	return err
}

// Cosignature is a witness's cosignature of one checkpoint.
type Cosignature struct {
	WitnessCode string
	TreeSize    int64
	RootHash    []byte
	// Note is the checkpoint with the log's signature and the witness's.
	Note string
	At   time.Time
}

// AddCosignature stores a cosignature (the witness's newest for its size
// wins).
func (s *Store) AddCosignature(ctx context.Context, c Cosignature) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO audit_cosignatures (witness_code, tree_size, root_hash, note) VALUES ($1, $2, $3, $4)
		ON CONFLICT (witness_code, tree_size) DO NOTHING`, c.WitnessCode, c.TreeSize, c.RootHash, c.Note)
	return err
}

// Cosignatures returns every witness's cosignatures at treeSize (all
// sizes when treeSize is negative), by size then witness.
func (s Reader) Cosignatures(ctx context.Context, treeSize int64) ([]Cosignature, error) {
	rows, err := s.db.Query(ctx, `SELECT witness_code, tree_size, root_hash, note, at FROM audit_cosignatures
		WHERE $1 < 0 OR tree_size = $1 ORDER BY tree_size, witness_code`, treeSize)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Cosignature, error) {
		var c Cosignature
		err := r.Scan(&c.WitnessCode, &c.TreeSize, &c.RootHash, &c.Note, &c.At)
		return c, err
	})
}

// LatestCosignedSize is the largest tree size any witness cosigned, or 0.
func (s *Store) LatestCosignedSize(ctx context.Context) (int64, error) {
	var n int64
	err := s.Pool.QueryRow(ctx, `SELECT coalesce(max(tree_size), 0) FROM audit_cosignatures`).Scan(&n)
	return n, err
}

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
