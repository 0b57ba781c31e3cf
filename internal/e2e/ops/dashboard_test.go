// Package ops_test checks the operations side of a real server: the
// Grafana dashboard in docs/grafana queries only metrics the server's
// /metrics has.
package ops_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/ctl"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// dashboard is what the test reads of a Grafana dashboard.
type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

var (
	// Label lists and selectors hold label names, not metrics.
	grouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	selectors = regexp.MustCompile(`\{[^}]*\}`)
	ranges    = regexp.MustCompile(`\[[^\]]*\]`)
	strs      = regexp.MustCompile(`"[^"]*"`)
	metric    = regexp.MustCompile(`\b(sinergi|grpc|go|process)_[a-zA-Z0-9_]+\b`)
)

// queried is every metric name the dashboard's queries use, with the
// panels that use it.
func queried(t *testing.T, d dashboard) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Title == "" || len(p.Targets) == 0 {
				t.Errorf("panel %q has no title or no query", p.Title)
			}
			for _, tg := range p.Targets {
				expr := strs.ReplaceAllString(tg.Expr, `""`)
				expr = ranges.ReplaceAllString(selectors.ReplaceAllString(grouping.ReplaceAllString(expr, ""), ""), "")
				names := metric.FindAllString(expr, -1)
				if len(names) == 0 {
					t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
				}
				for _, n := range names {
					out[n] = append(out[n], p.Title)
				}
			}
		}
	}
	walk(d.Panels)
	return out
}

// scrape returns the metric names /metrics serves (a histogram's as
// _bucket, _sum and _count).
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if i := strings.IndexAny(l, "{ "); i > 0 {
			names[l[:i]] = true
		}
	}
	return names
}

// TestDashboardMetricsExist loads docs/grafana/sinergi.json, makes calls
// of every kind the dashboard watches against a real server (a listing, a
// roster upload with sinergictl, a watch stream held open, a handshake
// without a certificate), and checks that /metrics has every metric the
// dashboard queries.
func TestDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile("../../../docs/grafana/sinergi.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Fatalf("the dashboard has no title or uid")
	}
	want := queried(t, d)
	if len(want) < 20 {
		t.Fatalf("the dashboard queries only %d metrics", len(want))
	}

	env := servertest.Start(t, db, servertest.Options{Configure: func(c *server.Config) { c.MetricsAddr = "127.0.0.1:0" }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	access := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: "LP/B/123/VIII/2026"}

	if _, err := sinergiv1.NewInstitutionServiceClient(env.ConnAs(t, "polres-metro")).ListInstitutions(ctx, &sinergiv1.ListInstitutionsRequest{}); err != nil {
		t.Fatal(err)
	}
	// A watch held open while /metrics is read.
	watch, err := sinergiv1.NewCustodyServiceClient(env.ConnAs(t, "polres-metro")).WatchCustodyEvents(ctx, &sinergiv1.WatchCustodyEventsRequest{Access: access})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"SINERGI_ADDR": env.Addr(), "SINERGI_PKI_DIR": env.PKIDir, "SINERGI_AS": "lapas-metro"}
	var out, errOut bytes.Buffer
	if code := ctl.Run(ctx, []string{"custody", "sync-roster", "--file", "../../../docs/examples/roster.jsonl"},
		func(k string) string { return vars[k] }, strings.NewReader(""), &out, &errOut); code != 0 || !strings.Contains(out.String(), "inserted: 3") {
		t.Fatalf("sync-roster of the sample roster: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	// A handshake without a client certificate, refused.
	ca, err := os.ReadFile(pki.CACertPath(env.PKIDir))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	if c, err := tls.Dial("tcp", env.Addr(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"h2"}}); err == nil {
		// TLS 1.3 reports the refusal on the first read.
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if err == nil {
			t.Fatal("a handshake without a certificate was not refused")
		}
	}

	// The certificates seen in use are written off the calls' path, and
	// /metrics reads them at most every 30 s: the first scrape waits for them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var seen int
		if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM client_certificates`).Scan(&seen); err != nil {
			t.Fatal(err)
		}
		if seen > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no client certificate recorded as seen")
		}
		time.Sleep(50 * time.Millisecond)
	}
	url := "http://" + env.Server.MetricsAddr() + "/metrics"
	for {
		have := scrape(t, url)
		var missing []string
		for name, panels := range want {
			if !have[name] {
				missing = append(missing, name+" (panel "+strings.Join(panels, ", ")+")")
			}
		}
		sort.Strings(missing)
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks what the dashboard queries:\n  %s", strings.Join(missing, "\n  "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
