package servertest

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// DBProxy stands between a server and its database, so that a test can
// take the database away (every connection cut, new ones refused) and
// give it back, as an outage would, without touching the database server
// other tests share.
type DBProxy struct {
	lis           net.Listener
	network, addr string // the database's
	mu            sync.Mutex
	down          bool
	conns         map[net.Conn]struct{}
	wg            sync.WaitGroup
	closed        bool
}

// NewDBProxy proxies the database url reaches, on 127.0.0.1.
func NewDBProxy(t testing.TB, url string) *DBProxy {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	p := &DBProxy{network: "tcp", addr: fmt.Sprintf("%s:%d", cfg.Host, cfg.Port), conns: map[net.Conn]struct{}{}}
	if strings.HasPrefix(cfg.Host, "/") {
		p.network, p.addr = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	if p.lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL is url through the proxy: the same user and database, its host and
// port the proxy's.
func (p *DBProxy) URL(t testing.TB, url string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	a := p.lis.Addr().(*net.TCPAddr)
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", cfg.User, a.Port, cfg.Database)
}

func (p *DBProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down || p.closed {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *DBProxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.drop(c)
	db, err := net.Dial(p.network, p.addr)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[db] = struct{}{}
	p.mu.Unlock()
	defer p.drop(db)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(db, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, db); done <- struct{}{} }()
	<-done
}

func (p *DBProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Down cuts every connection and refuses new ones until Up.
func (p *DBProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// Up lets connections through again.
func (p *DBProxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// Close stops the proxy.
func (p *DBProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.Down()
	p.lis.Close()
	p.wg.Wait()
}
