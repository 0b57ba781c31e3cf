package store

import (
	"context"
	"sync"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5/pgxpool"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// lookupsInFlight bounds the shared lookup statements running at once.
const lookupsInFlight = 2

// recordLookups reads custody records by id for concurrent callers in
// shared round trips: while a lookup statement is out, the lookups that
// arrive wait together and go out in the next one, each with its own
// facilities, so that no caller sees a record outside its own reach. It is
// the read side of the audit trail's group commit. Under load a round trip
// is what costs most (the database backend, then the caller, must each be
// woken and scheduled); shared, it costs each caller a fraction. When idle
// a lookup goes out at once, alone: nothing waits on a timer.
type recordLookups struct {
	pool     *pgxpool.Pool
	inFlight int
	maxBatch int

	mu      sync.Mutex
	pending []*recordLookup
	running int
}

type recordLookup struct {
	id         string
	facilities []string // not changed while the lookup waits
	rec        *sinergiv1.CustodyRecord
	err        error
	done       chan struct{}
}

// IsCustodyRecordID reports whether id has the form of a custody record id
// as the store gives it out (a UUID, lower case): 8-4-4-4-12 hex digits.
func IsCustodyRecordID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// get returns record id if its facility is one of facilities, else
// ErrNotFound.
func (l *recordLookups) get(ctx context.Context, facilities []string, id string) (*sinergiv1.CustodyRecord, error) {
	// A malformed id would fail the statement for every lookup sharing it;
	// it names no record.
	if !IsCustodyRecordID(id) || len(facilities) == 0 {
		return nil, ErrNotFound
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := &recordLookup{id: id, facilities: facilities, done: make(chan struct{})}
	l.mu.Lock()
	l.pending = append(l.pending, q)
	if l.running < l.inFlight {
		l.running++
		go l.run()
	}
	l.mu.Unlock()
	select {
	case <-q.done:
		return q.rec, q.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run sends the waiting lookups, a batch at a time, until none wait.
func (l *recordLookups) run() {
	for {
		l.mu.Lock()
		n := min(len(l.pending), l.maxBatch)
		if n == 0 {
			l.running--
			l.mu.Unlock()
			return
		}
		batch := l.pending[:n:n]
		l.pending = l.pending[n:]
		if len(l.pending) == 0 {
			l.pending = nil
		}
		l.mu.Unlock()
		l.query(batch)
	}
}

// recordLookupSQL reads a batch: the row with ordinality n answers lookup
// n, and is found only in that lookup's own facilities. The facility lists
// travel once per distinct list ($3, array literals): the lookups of one
// caller share one, however many facilities it reaches. The ids travel as
// text: pgx cannot write a Go string as a binary uuid, and its failed try
// (an error built and dropped on every statement) cost more than the cast.
const recordLookupSQL = `WITH reach AS MATERIALIZED (
		SELECT k, f::text[] AS facilities FROM unnest($3::text[]) WITH ORDINALITY AS x(f, k))
	SELECT ` + custodyColumns + `, q.n
	FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS q(id, k, n)
	JOIN reach ON reach.k = q.k
	CROSS JOIN LATERAL (SELECT * FROM custody_records r
		WHERE r.id = q.id::uuid AND r.facility_code = ANY(reach.facilities)) r`

// reachKey names a facility list by the memory it lives in: callers pass
// the list their reach keeps, so equal keys are one list, written once.
type reachKey struct {
	first *string
	n     int
}

func (l *recordLookups) query(batch []*recordLookup) {
	ids, reachOf := make([]string, len(batch)), make([]int64, len(batch))
	var reaches []string
	seen := make(map[reachKey]int64, 1)
	for i, q := range batch {
		ids[i] = q.id
		key := reachKey{unsafe.SliceData(q.facilities), len(q.facilities)}
		k, ok := seen[key]
		if !ok {
			reaches = append(reaches, arrayLiteral(q.facilities))
			k = int64(len(reaches))
			seen[key] = k
		}
		reachOf[i] = k
	}
	found := make([]*sinergiv1.CustodyRecord, len(batch))
	// The statement serves many callers: no single caller's context ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := l.pool.Query(ctx, recordLookupSQL, ids, reachOf, reaches)
	if err == nil {
		for rows.Next() {
			var n int64
			rec, serr := scanCustody(rows, &n)
			if serr != nil {
				err = serr
				break
			}
			if n >= 1 && int(n) <= len(batch) {
				found[n-1] = rec
			}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	for i, q := range batch {
		switch {
		case err != nil:
			q.err = err
		case found[i] == nil:
			q.err = ErrNotFound
		default:
			q.rec = found[i]
		}
		close(q.done)
	}
}
