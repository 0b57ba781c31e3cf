package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// AuditRecord is one row of the audit trail.
type AuditRecord struct {
	ID                int64
	TxID              int64
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

	// From the chain, when sequenced.
	Seq  int64
	Hash []byte
}

var auditColumns = []string{"at", "request_id", "caller_code", "certificate_serial", "operator_id", "method",
	"purpose", "case_reference", "decision", "reason", "agreement_ids", "status_code", "subjects", "latency_us"}

func (r *AuditRecord) values() []any {
	return []any{r.At, r.RequestID, r.CallerCode, r.CertificateSerial, r.OperatorID, r.Method, r.Purpose,
		r.CaseReference, r.Decision, r.Reason, nonNil(r.AgreementIDs), r.StatusCode, nonNil(r.Subjects), r.LatencyMicros}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AppendAuditBatch writes records with one statement in one round trip:
// the group commit of concurrent requests' audit records. The statement
// runs in its own implicit transaction, so the batch commits whole or not
// at all. A round trip is what a busy server waits on longest (each one
// waits for the backend, then for the caller, to be scheduled), so this
// is one INSERT over unnest rather than BEGIN, COPY and COMMIT.
func (s *Store) AppendAuditBatch(ctx context.Context, recs []*AuditRecord) error {
	n := len(recs)
	at := make([]time.Time, n)
	latency := make([]int64, n)
	agreements, subjects := make([]string, n), make([]string, n)
	text := make([][]string, 10) // the text columns, in auditBatchSQL's order
	for i := range text {
		text[i] = make([]string, n)
	}
	for i, r := range recs {
		at[i], latency[i] = r.At, r.LatencyMicros
		agreements[i], subjects[i] = arrayLiteral(r.AgreementIDs), arrayLiteral(r.Subjects)
		for j, v := range []string{r.RequestID, r.CallerCode, r.CertificateSerial, r.OperatorID, r.Method,
			r.Purpose, r.CaseReference, r.Decision, r.Reason, r.StatusCode} {
			text[j][i] = v
		}
	}
	args := []any{at}
	for _, t := range text {
		args = append(args, t)
	}
	args = append(args, agreements, subjects, latency)
	_, err := s.batch.Exec(ctx, auditBatchSQL, args...)
	return err
}

// auditBatchSQL inserts one record per element of its parallel arrays. The
// two array columns travel as array literals, one per record, because
// PostgreSQL arrays cannot be ragged.
const auditBatchSQL = `INSERT INTO audit_records (at, request_id, caller_code, certificate_serial, operator_id, method,
		purpose, case_reference, decision, reason, status_code, agreement_ids, subjects, latency_us)
	SELECT at, request_id, caller_code, certificate_serial, operator_id, method,
		purpose, case_reference, decision, reason, status_code, agreement_ids::text[], subjects::text[], latency_us
	FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[])
		AS u(at, request_id, caller_code, certificate_serial, operator_id, method,
			purpose, case_reference, decision, reason, status_code, agreement_ids, subjects, latency_us)`

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

// AppendAuditTx writes one record inside a write's own transaction.
func AppendAuditTx(ctx context.Context, tx pgx.Tx, r *AuditRecord) error {
	_, err := tx.Exec(ctx, `INSERT INTO audit_records (`+strings.Join(auditColumns, ", ")+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, r.values()...)
	return err
}

const auditSelect = `SELECT r.id, r.txid, r.at, r.request_id, r.caller_code, r.certificate_serial, r.operator_id, r.method,
	r.purpose, r.case_reference, r.decision, r.reason, r.agreement_ids, r.status_code, r.subjects, r.latency_us`

func scanAudit(row pgx.Row, extra ...any) (*AuditRecord, error) {
	var r AuditRecord
	dest := append([]any{&r.ID, &r.TxID, &r.At, &r.RequestID, &r.CallerCode, &r.CertificateSerial, &r.OperatorID, &r.Method,
		&r.Purpose, &r.CaseReference, &r.Decision, &r.Reason, &r.AgreementIDs, &r.StatusCode, &r.Subjects, &r.LatencyMicros}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return &r, nil
}

// ChainHead is the last link of the hash chain.
type ChainHead struct {
	Seq  int64
	TxID int64
	ID   int64
	Hash []byte
}

// DB is what both a pool and a single connection offer. The audit
// sequencer works on the one connection that holds its advisory lock.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// AuditChainHead returns the last link, or, where retention cut the chain
// and nothing follows yet, the cut's checkpoint; ok is false for an empty chain.
func AuditChainHead(ctx context.Context, db DB) (h ChainHead, ok bool, err error) {
	err = db.QueryRow(ctx, `SELECT seq, txid, record_id, hash FROM audit_chain ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &h.TxID, &h.ID, &h.Hash)
	if errors.Is(err, pgx.ErrNoRows) {
		err = db.QueryRow(ctx, `SELECT seq, head_hash FROM audit_checkpoints WHERE kind = 'retention' ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &h.Hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return ChainHead{}, false, nil
		}
	}
	return h, err == nil, err
}

// SettledHorizon returns a transaction id below which every transaction
// that could have written to this database has committed or aborted: the
// oldest transaction still running in this database (or prepared in it),
// else the next transaction id to be assigned. Transactions of other
// databases on the same server do not hold it back, as the cluster-wide
// snapshot xmin would.
//
// The order of the two reads matters. The snapshot's xmax comes first: a
// transaction that takes an id after it is at or above it, and one that had
// an id by then is still listed as running when the second read looks, or
// has finished.
func SettledHorizon(ctx context.Context, db DB) (int64, error) {
	var xmax int64
	if err := db.QueryRow(ctx, `SELECT (pg_snapshot_xmax(pg_current_snapshot())::text)::bigint`).Scan(&xmax); err != nil {
		return 0, err
	}
	rows, err := db.Query(ctx, `
		SELECT (backend_xid::text)::bigint FROM pg_stat_activity
		WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
		UNION ALL
		SELECT (transaction::text)::bigint FROM pg_prepared_xacts WHERE database = current_database()`)
	if err != nil {
		return 0, err
	}
	running, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	horizon := xmax
	for _, x := range running {
		if full := widenXID(x, xmax); full < horizon {
			horizon = full
		}
	}
	return horizon, nil
}

// widenXID turns a 32-bit transaction id still running into the 64-bit one
// of the epoch in which it was assigned: below reference (the snapshot's xmax).
func widenXID(x32, reference int64) int64 {
	full := reference&^0xFFFFFFFF | x32
	if full >= reference {
		full -= 1 << 32
	}
	return full
}

// UnsequencedAudit returns up to limit records after position (txid, id),
// in (txid, id) order, written by transactions older than horizon (from
// SettledHorizon): such a transaction has committed or aborted for good, so
// no record can later appear before the ones returned.
func UnsequencedAudit(ctx context.Context, db DB, afterTx, afterID, horizon int64, limit int) ([]*AuditRecord, error) {
	rows, err := db.Query(ctx, auditSelect+`
		FROM audit_records r
		WHERE (r.txid, r.id) > ($1, $2)
		  AND r.txid < $3
		ORDER BY r.txid, r.id
		LIMIT $4`, afterTx, afterID, horizon, limit)
	if err != nil {
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

// ChainLink is one row of the hash chain.
type ChainLink struct {
	Seq      int64
	RecordID int64
	RecordAt time.Time
	TxID     int64
	Hash     []byte
}

// AppendChain writes chain links in one COPY.
func AppendChain(ctx context.Context, db DB, links []ChainLink) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_chain"}, []string{"seq", "record_id", "record_at", "txid", "hash"},
			pgx.CopyFromSlice(len(links), func(i int) ([]any, error) {
				l := links[i]
				return []any{l.Seq, l.RecordID, l.RecordAt, l.TxID, l.Hash}, nil
			}))
		return err
	})
}

// Checkpoint is a signed statement of the chain head.
type Checkpoint struct {
	Seq       int64
	HeadHash  []byte
	At        time.Time
	Kind      string
	Signature []byte
	PublicKey []byte
}

// AppendCheckpoint stores a checkpoint.
func AppendCheckpoint(ctx context.Context, db DB, c Checkpoint) error {
	_, err := db.Exec(ctx, `INSERT INTO audit_checkpoints (seq, head_hash, at, kind, signature, public_key) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (seq, kind) DO NOTHING`, c.Seq, c.HeadHash, c.At, c.Kind, c.Signature, c.PublicKey)
	return err
}

// Checkpoints returns every checkpoint in sequence order.
func (s *Store) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	rows, err := s.Pool.Query(ctx, `SELECT seq, head_hash, at, kind, signature, public_key FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Checkpoint, error) {
		var c Checkpoint
		err := r.Scan(&c.Seq, &c.HeadHash, &c.At, &c.Kind, &c.Signature, &c.PublicKey)
		return c, err
	})
}

// LatestCheckpoint returns the newest checkpoint; ErrNotFound when none.
func (s *Store) LatestCheckpoint(ctx context.Context) (Checkpoint, error) {
	var c Checkpoint
	err := s.Pool.QueryRow(ctx, `SELECT seq, head_hash, at, kind, signature, public_key FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).
		Scan(&c.Seq, &c.HeadHash, &c.At, &c.Kind, &c.Signature, &c.PublicKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// WalkChain calls fn for each link after seq, in sequence order, with its
// record (nil when the record is missing). It reads in pages so that a long
// chain does not sit in memory.
func (s *Store) WalkChain(ctx context.Context, afterSeq int64, fn func(ChainLink, *AuditRecord) error) error {
	const page = 5000
	for {
		rows, err := s.Pool.Query(ctx, `
			SELECT c.seq, c.record_id, c.record_at, c.txid, c.hash,
			       r.id IS NOT NULL, coalesce(r.id, 0), coalesce(r.txid, 0), coalesce(r.at, c.record_at), coalesce(r.request_id, ''),
			       coalesce(r.caller_code, ''), coalesce(r.certificate_serial, ''), coalesce(r.operator_id, ''), coalesce(r.method, ''),
			       coalesce(r.purpose, ''), coalesce(r.case_reference, ''), coalesce(r.decision, ''), coalesce(r.reason, ''),
			       coalesce(r.agreement_ids, '{}'), coalesce(r.status_code, ''), coalesce(r.subjects, '{}'), coalesce(r.latency_us, 0)
			FROM audit_chain c
			LEFT JOIN audit_records r ON r.id = c.record_id AND r.at = c.record_at
			WHERE c.seq > $1
			ORDER BY c.seq
			LIMIT $2`, afterSeq, page)
		if err != nil {
			return err
		}
		n := 0
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				var l ChainLink
				var present bool
				var r AuditRecord
				if err := rows.Scan(&l.Seq, &l.RecordID, &l.RecordAt, &l.TxID, &l.Hash, &present, &r.ID, &r.TxID, &r.At, &r.RequestID,
					&r.CallerCode, &r.CertificateSerial, &r.OperatorID, &r.Method, &r.Purpose, &r.CaseReference, &r.Decision, &r.Reason,
					&r.AgreementIDs, &r.StatusCode, &r.Subjects, &r.LatencyMicros); err != nil {
					return err
				}
				n++
				afterSeq = l.Seq
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

// CountUnchainedSettled counts records whose transaction is settled but that
// have no chain link: records the sequencer has not reached yet, or records
// slipped in behind its back.
func (s *Store) CountUnchainedSettled(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.Pool.QueryRow(ctx, `
		SELECT count(*) FROM audit_records r
		WHERE r.at < $1 AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.record_id = r.id AND c.record_at = r.at)`, before).Scan(&n)
	return n, err
}

// EnsureAuditPartitions creates the monthly partitions from the month of
// first on, months of them.
func (s *Store) EnsureAuditPartitions(ctx context.Context, first time.Time, months int) error {
	_, err := s.Pool.Exec(ctx, `SELECT sinergi_audit_ensure_partitions($1::date, $2)`, first, months)
	return err
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

// ListAudit returns records matching f, newest first, with their chain link when sequenced.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]*AuditRecord, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.CallerCode != "" {
		add("r.caller_code = $%d", f.CallerCode)
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
	if f.CallerIn != nil {
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
	if !f.BeforeAt.IsZero() {
		args = append(args, f.BeforeAt, f.BeforeID)
		where = append(where, fmt.Sprintf("(r.at, r.id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	q := auditSelect + `, coalesce(c.seq, 0), coalesce(c.hash, ''::bytea)
		FROM audit_records r LEFT JOIN audit_chain c ON c.record_id = r.id AND c.record_at = r.at`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY r.at DESC, r.id DESC LIMIT $%d", len(args))
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*AuditRecord
	for rows.Next() {
		var seq int64
		var hash []byte
		r, err := scanAudit(rows, &seq, &hash)
		if err != nil {
			return nil, err
		}
		r.Seq, r.Hash = seq, hash
		out = append(out, r)
	}
	return out, rows.Err()
}

// OldAuditPartitions lists the monthly partitions entirely before cutoff.
func (s *Store) OldAuditPartitions(ctx context.Context, cutoff time.Time) ([]time.Time, error) {
	rows, err := s.Pool.Query(ctx, `
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

// MaxSeqBefore returns the highest chained sequence number of records before t.
func (s *Store) MaxSeqBefore(ctx context.Context, t time.Time) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := s.Pool.QueryRow(ctx, `SELECT seq, hash FROM audit_chain WHERE record_at < $1 ORDER BY seq DESC LIMIT 1`, t).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil
	}
	return seq, hash, err
}

// DropAuditPartition drops the records and chain partitions of one month.
// It needs the schema owner: the application role cannot.
func (s *Store) DropAuditPartition(ctx context.Context, month time.Time) error {
	name := month.Format("2006_01")
	return s.inTx(ctx, func(tx pgx.Tx) error {
		for _, t := range []string{"audit_records_" + name, "audit_chain_" + name} {
			if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{t}.Sanitize()); err != nil {
				return err
			}
		}
		return nil
	})
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
