package faults

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// operations is the README's section on running with a standby.
func operations(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "### PostgreSQL with a synchronous standby")
	if start < 0 {
		t.Fatal("the README has no section on a synchronous standby")
	}
	s = s[start:]
	if end := strings.Index(s, "\n### The fault battery"); end > 0 {
		s = s[:end]
	}
	return s
}

// TestREADMEOperations: the connection strings of the README's operations
// section parse, those listing both servers as several hosts that only
// connect read-write; the settings it gives the primary are PostgreSQL's.
func TestREADMEOperations(t *testing.T) {
	sec := operations(t)
	urls := regexp.MustCompile("`(postgres://[^`]+)`").FindAllStringSubmatch(sec, -1)
	kw := regexp.MustCompile("`(host=[^`]+)`").FindAllStringSubmatch(strings.ReplaceAll(sec, "\n", " "), -1)
	multi := 0
	for _, m := range append(urls, kw...) {
		cfg, err := pgx.ParseConfig(m[1])
		if err != nil {
			t.Errorf("%s: %v", m[1], err)
			continue
		}
		hosts := map[string]bool{cfg.Host: true}
		for _, fb := range cfg.Fallbacks { // sslmode=prefer lists a host twice
			hosts[fb.Host] = true
		}
		if len(hosts) < 2 {
			continue
		}
		multi++
		if cfg.ValidateConnect == nil {
			t.Errorf("%s lists several servers but may land on a standby: no target_session_attrs=read-write", m[1])
		}
	}
	if multi < 4 {
		t.Errorf("the section gives %d multi-host connection strings, want one per role and the keyword form", multi)
	}

	ctx := context.Background()
	c, err := h.base(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	settings := regexp.MustCompile(`(?m)^([a-z_]+) = `).FindAllStringSubmatch(sec, -1)
	if len(settings) < 5 {
		t.Fatalf("found %d primary settings in the section", len(settings))
	}
	for _, m := range settings {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_settings WHERE name = $1`, m[1]).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s is not a PostgreSQL setting (%v)", m[1], err)
		}
	}
}
