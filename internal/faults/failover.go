package faults

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"

	"github.com/sinergi-id/sinergi/internal/store"
)

// standbyName is the failover standby's application_name, the one
// synchronous_standby_names waits for.
const standbyName = "standby1"

// multiHostURL is a connection string listing the primary and the standby,
// as users run Sinergi on them (README, "Operations").
func multiHostURL(user, db, app string, hosts ...*Cluster) string {
	u := "postgres://" + url.PathEscape(user) + "@"
	for i, c := range hosts {
		if i > 0 {
			u += ","
		}
		u += c.Addr()
	}
	return u + "/" + db + "?sslmode=disable&target_session_attrs=read-write&application_name=" + url.QueryEscape(app)
}

// syncStandby sets the primary to wait for standbyName on every commit
// and waits until the standby streams synchronously.
func syncStandby(ctx context.Context, primary *Cluster) error {
	conn, err := pgx.Connect(ctx, primary.URL("postgres", "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (`+standbyName+`)'`); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		return err
	}
	if !waitFor(ctx, time.Minute, func() bool {
		var state string
		_ = conn.QueryRow(ctx, `SELECT sync_state FROM pg_stat_replication WHERE application_name = $1`, standbyName).Scan(&state)
		return state == "sync"
	}) {
		return fmt.Errorf("%s does not stream synchronously within a minute", standbyName)
	}
	return nil
}

// failover: a primary with a synchronous streaming standby, two servers
// on multi-host URLs, load (idempotent report submissions, custody
// events, reads) and watchers. The primary is stopped (immediate) and the
// standby promoted. The servers carry on against the new primary by
// themselves; no acknowledged write is lost, none applied twice or
// without its record; watchers resume from their cursors with no gap and
// no duplicate; the log verifies.
func failover(ctx context.Context, h *Harness, sz Size) (r Result) {
	r = Result{Name: "failover", Recovery: -1}
	primary, err := h.initCluster(ctx, "primary", "wal_level=replica", "max_wal_senders=5", "max_replication_slots=5")
	if err != nil {
		r.Err = err
		return r
	}
	defer h.drop(primary)
	h.logf("  preparing the database on the primary")
	d, err := h.prepare(ctx, primary, "sinergi")
	if err != nil {
		r.Err = err
		return r
	}
	d.Pool.Close()
	standby, err := h.standbyOf(ctx, primary, standbyName)
	if err != nil {
		r.Err = err
		return r
	}
	defer h.drop(standby)
	if err := syncStandby(ctx, primary); err != nil {
		r.Err = err
		return r
	}
	// Checks follow the primary too, whichever it is.
	if d.Pool, err = pgxpool.New(ctx, multiHostURL("postgres", "sinergi", "faults-checks", primary, standby)); err != nil {
		r.Err = err
		return r
	}
	defer d.Pool.Close()
	var servers []*Server
	for _, name := range []string{"failover-a", "failover-b"} {
		s, err := h.StartServer(ctx, name, multiHostURL(store.AppRole, "sinergi", name, primary, standby),
			multiHostURL(store.IntegratorRole, "sinergi", name, primary, standby))
		if err != nil {
			r.Err = err
			return r
		}
		defer s.Stop()
		servers = append(servers, s)
	}
	since := time.Now().Add(-time.Second)
	afterEvent, err := d.lastEvent(ctx)
	if err != nil {
		r.Err = err
		return r
	}
	held, err := d.heldAt(ctx, eventFacility, 200)
	if err != nil {
		r.Err = err
		return r
	}
	ws, err := startWatchers(ctx, r.Name, 2, servers)
	if err != nil {
		r.Err = err
		return r
	}
	defer stopWatchers(ws)
	load := &Load{Prefix: r.Name, Servers: servers, Held: held, ReadIDs: held,
		Reporters: sz.Reporters, Recorders: sz.Recorders, Readers: sz.Readers, Pause: sz.Pause}
	load.Start(ctx)
	sleep(ctx, sz.Before)
	hs := sampleHealth(ctx, servers...)
	down := time.Now()
	if err := primary.Stop(Immediate); err != nil {
		load.Stop(0)
		r.Err = err
		return r
	}
	// Whatever decides on a failover takes a moment to (Patroni: a TTL).
	sleep(ctx, time.Second)
	if err := standby.Promote(ctx); err != nil {
		load.Stop(0)
		r.Err = err
		return r
	}
	promoted := time.Now()
	r.note("health until the promotion: %s", hs.Stop())
	for _, s := range servers {
		if !waitFor(ctx, time.Minute, func() bool {
			for _, c := range load.Ledger.Calls() {
				if c.Server == s.Name && c.Write && c.Code == codes.OK && !c.Start.Before(promoted) {
					return true
				}
			}
			return false
		}) {
			r.fail("%s wrote nothing within a minute of the promotion", s.Name)
		}
	}
	if first := load.Ledger.FirstOKAfter(promoted, true); !first.IsZero() {
		r.Recovery = first.Sub(promoted)
		r.note("primary stopped, standby promoted %.2fs later; callers without a successful write for %.2fs",
			promoted.Sub(down).Seconds(), first.Sub(load.Ledger.LastOKBefore(down)).Seconds())
	}
	sleep(ctx, sz.After)
	load.Stop(20 * time.Second)
	for _, s := range servers {
		if err := s.WaitServing(ctx, 30*time.Second); err != nil {
			r.fail("%s: health not SERVING after the failover: %v", s.Name, err)
		}
	}
	if err := judge(ctx, &r, d, load, ws, afterEvent, since); err != nil {
		r.Err = err
		return r
	}
	if leader := d.integratorLeader(ctx); leader != "" {
		r.note("%s integrates the log on the new primary", leader)
	} else {
		r.fail("no integrator leads on the new primary")
	}
	finish(ctx, &r, h, d, multiHostURL(store.IntegratorRole, "sinergi", "faults-verify", primary, standby))
	return r
}
