package directory

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Snapshot is the whole directory at one moment. It is never changed after
// it is built: a change builds a new one.
type Snapshot struct {
	byCode     map[string]*sinergiv1.Institution
	codes      []string // sorted
	agreements []*sinergiv1.Agreement
	byID       map[string]*sinergiv1.Agreement
	revoked    map[string]time.Time
	facilities []*sinergiv1.Institution
	// boundaries are the moments an agreement's standing can change
	// (effective, expiry, revocation, confirmation), sorted.
	boundaries []time.Time
	// memo holds values derived from this snapshot (authz reaches).
	memo sync.Map
}

// NewSnapshot indexes a directory.
func NewSnapshot(d *store.Directory) *Snapshot {
	s := &Snapshot{
		byCode:     make(map[string]*sinergiv1.Institution, len(d.Institutions)),
		byID:       make(map[string]*sinergiv1.Agreement, len(d.Agreements)),
		agreements: d.Agreements,
		revoked:    d.Revoked,
	}
	for _, in := range d.Institutions {
		s.byCode[in.GetCode()] = in
		s.codes = append(s.codes, in.GetCode())
		if IsFacility(in.GetKind()) {
			s.facilities = append(s.facilities, in)
		}
	}
	sort.Strings(s.codes)
	for _, a := range d.Agreements {
		s.byID[a.GetId()] = a
		for _, t := range []*timestamppb.Timestamp{a.GetEffectiveTime(), a.GetExpireTime(), a.GetRevokeTime(), a.GetConfirmTime()} {
			if t != nil {
				s.boundaries = append(s.boundaries, t.AsTime())
			}
		}
	}
	sort.Slice(s.boundaries, func(i, j int) bool { return s.boundaries[i].Before(s.boundaries[j]) })
	sort.Slice(s.agreements, func(i, j int) bool { return s.agreements[i].GetId() < s.agreements[j].GetId() })
	return s
}

// Institution returns the institution with code, or nil.
func (s *Snapshot) Institution(code string) *sinergiv1.Institution { return s.byCode[code] }

// Institutions returns every institution, ordered by code.
func (s *Snapshot) Institutions() []*sinergiv1.Institution {
	out := make([]*sinergiv1.Institution, len(s.codes))
	for i, c := range s.codes {
		out[i] = s.byCode[c]
	}
	return out
}

// Facilities returns the institutions that hold people.
func (s *Snapshot) Facilities() []*sinergiv1.Institution { return s.facilities }

// Agreement returns the agreement with id, or nil.
func (s *Snapshot) Agreement(id string) *sinergiv1.Agreement { return s.byID[id] }

// Agreements returns every agreement, ordered by id.
func (s *Snapshot) Agreements() []*sinergiv1.Agreement { return s.agreements }

// ActiveAgreements lists the ids of the agreements in force at t, sorted.
func (s *Snapshot) ActiveAgreements(t time.Time) []string {
	var out []string
	for _, a := range s.agreements {
		if StatusAt(a, t) == sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE {
			out = append(out, a.GetId())
		}
	}
	return out
}

// Administrator is the headquarters that administers side: the ministry
// for the corrections side, Mabes Polri for the police; nil when the
// directory has none.
func (s *Snapshot) Administrator(side sinergiv1.Side) *sinergiv1.Institution {
	for _, c := range s.codes {
		in := s.byCode[c]
		if IsHeadquarters(in.GetKind()) && SideOf(in.GetKind()) == side {
			return in
		}
	}
	return nil
}

// Revoked reports whether a certificate serial (lower-case hex) is revoked.
func (s *Snapshot) Revoked(serial string) bool {
	_, ok := s.revoked[serial]
	return ok
}

// TermWindow is the span around t in which no agreement of the snapshot
// changes standing: anything judged from agreements at t holds from lo
// (inclusive) to hi (exclusive). A zero bound is unbounded.
func (s *Snapshot) TermWindow(t time.Time) (lo, hi time.Time) {
	// The first boundary after t; a boundary equal to t already applies at t.
	i := sort.Search(len(s.boundaries), func(i int) bool { return s.boundaries[i].After(t) })
	if i < len(s.boundaries) {
		hi = s.boundaries[i]
	}
	if i > 0 {
		lo = s.boundaries[i-1]
	}
	return lo, hi
}

// Memo returns the value derived from this snapshot under key, making it
// with make the first time. Values must not be changed once made.
func (s *Snapshot) Memo(key any, make func() any) any {
	if v, ok := s.memo.Load(key); ok {
		return v
	}
	v, _ := s.memo.LoadOrStore(key, make())
	return v
}

// Coverage is CoverageOf over this snapshot's agreements.
func (s *Snapshot) Coverage(a, b *sinergiv1.Institution, scope sinergiv1.Scope, t time.Time) Coverage {
	return CoverageOf(s.agreements, a, b, scope, t)
}

// Cache keeps the current snapshot of the directory, reloading it when the
// directory tables change (NOTIFY sinergi_directory, sent by triggers, so a
// change made through any server process or by `sinergi seed` reaches all).
type Cache struct {
	st      *store.Store
	current atomic.Pointer[Snapshot]
	mu      sync.Mutex // serialises reloads
}

// NewCache loads the directory.
func NewCache(ctx context.Context, st *store.Store) (*Cache, error) {
	c := &Cache{st: st}
	if err := c.Reload(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Snapshot returns the current snapshot.
func (c *Cache) Snapshot() *Snapshot { return c.current.Load() }

// Reload reads the directory again.
func (c *Cache) Reload(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := c.st.LoadDirectory(ctx)
	if err != nil {
		return err
	}
	c.current.Store(NewSnapshot(d))
	return nil
}

// Follow listens for directory changes until ctx ends, reloading on each.
// It also reloads every interval, in case a notification was lost with a
// connection.
func (c *Cache) Follow(ctx context.Context, interval time.Duration, log *slog.Logger) {
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.Reload(ctx); err != nil && ctx.Err() == nil {
					log.Warn("directory reload failed", "error", err)
				}
			}
		}
	}()
	for ctx.Err() == nil {
		if err := c.listen(ctx); err != nil && ctx.Err() == nil {
			log.Warn("directory listener stopped; retrying", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (c *Cache) listen(ctx context.Context) error {
	// A dedicated connection: a LISTENing connection must not go back to the pool.
	conn, err := pgx.ConnectConfig(ctx, c.st.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN sinergi_directory"); err != nil {
		return err
	}
	// Changes made between the first load and LISTEN would be missed otherwise.
	if err := c.Reload(ctx); err != nil {
		return err
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("wait for directory change: %w", err)
		}
		if err := c.Reload(ctx); err != nil {
			return err
		}
	}
}
