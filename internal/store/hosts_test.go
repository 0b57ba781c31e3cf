package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/store"
)

// hostsURL is role's connection string to d listing hosts (host, port
// pairs) in that order.
func hostsURL(t *testing.T, url string, hosts ...string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var hs, ps []string
	for _, h := range hosts {
		hs = append(hs, h)
		ps = append(ps, fmt.Sprint(cfg.Port))
	}
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable", strings.Join(hs, ","), strings.Join(ps, ","), cfg.User, cfg.Database)
}

// sameServer is another spelling of url's host: a second "server" of a
// multi-host string that is in fact the same one.
func sameServer(t *testing.T, url string) (host, other string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		return cfg.Host, cfg.Host + "/."
	}
	return cfg.Host, "localhost"
}

// TestMultiHostURL: a connection string naming several servers gets to the
// one that answers and takes writes, for the pool and for Lead alike; one
// whose every server is read-only (a standby before its promotion) is
// refused on connecting instead of failing each write later. A single-host
// string is left as it is.
func TestMultiHostURL(t *testing.T) {
	ctx := context.Background()
	d := pgtest.Fresh(t)
	host, other := sameServer(t, d.App)
	down := t.TempDir() // no server's socket is in it: that host is down

	st, err := store.Open(ctx, hostsURL(t, d.App, down, host), store.Options{MaxConns: 2, IntegratorURL: hostsURL(t, d.Integrator, down, host)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("the second host answers, yet: %v", err)
	}
	for i, asIntegrator := range []bool{false, true} {
		var user string
		if err := st.Lead(ctx, int64(770+i), asIntegrator, func(ctx context.Context, db store.DB) error {
			return db.QueryRow(ctx, `SELECT current_user`).Scan(&user)
		}); err != nil {
			t.Fatalf("Lead (integrator %v) through a multi-host url: %v", asIntegrator, err)
		}
		if want := map[bool]string{false: store.AppRole, true: store.IntegratorRole}[asIntegrator]; user != want {
			t.Errorf("Lead (integrator %v) ran as %s, want %s", asIntegrator, user, want)
		}
	}

	// Every server read-only, as a standby is.
	admin, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{d.Name}.Sanitize()+" SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	ro, err := store.Open(ctx, hostsURL(t, d.App, host, other), store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Ping(ctx); !errors.Is(err, pgconn.ErrReadOnlyConnection) {
		t.Errorf("every host read-only: Ping gave %v, want %v", err, pgconn.ErrReadOnlyConnection)
	}
	single, err := store.Open(ctx, d.App, store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if err := single.Ping(ctx); err != nil {
		t.Errorf("a single-host url is not held to read-write, yet: %v", err)
	}
}

// stallProxy forwards TCP to a database until stalled: then it forwards
// nothing more, in either direction, and closes nothing, as a server
// whose host has vanished.
type stallProxy struct {
	lis     net.Listener
	network string
	addr    string
	mu      sync.Mutex
	stalled chan struct{}
	conns   []net.Conn
}

func newStallProxy(t *testing.T, url string) *stallProxy {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{network: "tcp", addr: fmt.Sprintf("%s:%d", cfg.Host, cfg.Port), stalled: make(chan struct{})}
	if strings.HasPrefix(cfg.Host, "/") {
		p.network, p.addr = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	if p.lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := p.lis.Accept()
			if err != nil {
				return
			}
			db, err := net.Dial(p.network, p.addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, db)
			p.mu.Unlock()
			go p.pipe(db, c)
			go p.pipe(c, db)
		}
	}()
	t.Cleanup(func() {
		p.lis.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *stallProxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.stalled:
			return // what came is dropped; the connection stays open
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) stall() { close(p.stalled) }

func (p *stallProxy) url(t *testing.T, url string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, p.lis.Addr(), cfg.Database)
}

// TestWaitForNotificationNoticesASilentServer: a listener whose server
// stops answering without closing the connection is told so by
// WaitForNotification (which then returns an error, for the caller to
// reconnect), instead of waiting for a notification that will never come.
func TestWaitForNotificationNoticesASilentServer(t *testing.T) {
	defer store.SetListenProbe(100*time.Millisecond, 500*time.Millisecond)()
	ctx := context.Background()
	p := newStallProxy(t, db.App)
	conn, err := pgx.Connect(ctx, p.url(t, db.App))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `LISTEN sinergi_listen_test`); err != nil {
		t.Fatal(err)
	}
	notifier, err := pgx.Connect(ctx, db.App)
	if err != nil {
		t.Fatal(err)
	}
	defer notifier.Close(ctx)

	// Several probes pass while the server answers, and a notification
	// after them still arrives.
	go func() {
		time.Sleep(time.Second)
		_, _ = notifier.Exec(ctx, `NOTIFY sinergi_listen_test, 'hello'`)
	}()
	n, err := store.WaitForNotification(ctx, conn)
	if err != nil || n.Payload != "hello" {
		t.Fatalf("notification through a live connection: %v, %v", n, err)
	}

	p.stall()
	got := make(chan error, 1)
	go func() {
		_, err := store.WaitForNotification(ctx, conn)
		got <- err
	}()
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("WaitForNotification on a silent server returned no error")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("WaitForNotification still waits on a server that stopped answering a minute ago")
	}
}
