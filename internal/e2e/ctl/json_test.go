package ctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/sinergi-id/sinergi/internal/ctl"
	"github.com/sinergi-id/sinergi/internal/servertest"
)

// TestJSONForScripts: what a script reads from -o json against a real
// server. A no-hit CheckPresence says held: false, an uncovered
// CheckCoverage covered: false, an event's int64 id is a JSON number, and
// times are in WIB unless --utc; the sample roster uploads with its bare
// and wrapped lines.
func TestJSONForScripts(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	run := func(as string, args ...string) (int, map[string]any, string) {
		t.Helper()
		vars := map[string]string{"SINERGI_ADDR": env.Addr(), "SINERGI_PKI_DIR": env.PKIDir, "SINERGI_AS": as}
		var out, errOut bytes.Buffer
		code := ctl.Run(context.Background(), args, func(k string) string { return vars[k] }, strings.NewReader(""), &out, &errOut)
		var m map[string]any
		if code == 0 {
			if err := json.Unmarshal(out.Bytes(), &m); err != nil {
				t.Fatalf("%v: not JSON: %v\n%s", args, err, out.String())
			}
		}
		return code, m, out.String() + errOut.String()
	}
	A := []string{"--access.operator-id", "85051234", "--access.purpose", "criminal-investigation", "--access.case-reference", "LP/B/123/VIII/2026"}
	F := []string{"--access.operator-id", "198503152010011001", "--access.purpose", "security-coordination"}

	code, m, out := run("polres-metro", append([]string{"-o", "json", "custody", "check-presence", "--nik", "1872011504850009"}, A...)...)
	if code != 0 || m["held"] != false || m["placements"] == nil {
		t.Fatalf("no-hit check-presence: exit %d\n%s", code, out)
	}
	code, m, out = run("polres-kutai-kartanegara", "-o", "json", "agreement", "check-coverage", "--counterpart-code", "lpka-tenggarong", "--scope", "incident-reports")
	if code != 0 || m["covered"] != false || m["gap"] != "COVERAGE_GAP_EXPIRED" {
		t.Fatalf("uncovered check-coverage: exit %d\n%s", code, out)
	}

	code, m, out = run("lapas-metro", "-o", "json", "custody", "sync-roster", "--file", "../../../docs/examples/roster.jsonl")
	if code != 0 || m["inserted"] != float64(3) || m["rejected"] != float64(0) {
		t.Fatalf("the sample roster: exit %d\n%s", code, out)
	}
	code, _, out = run("lapas-metro", append([]string{"-o", "json", "custody", "search-custody-records", "--register-number", "BI.2026.0101"}, F...)...)
	id := regexp.MustCompile(`"id": "([^"]*)"`).FindStringSubmatch(out)
	if code != 0 || id == nil {
		t.Fatalf("search: exit %d\n%s", code, out)
	}
	code, m, out = run("lapas-metro", "-o", "json", "custody", "record-custody-event", "--record-id", id[1],
		"--event.type", "court-appearance", "--event.effective-time", "now")
	ev, _ := m["event"].(map[string]any)
	if code != 0 || ev == nil {
		t.Fatalf("record-custody-event: exit %d\n%s", code, out)
	}
	if n, ok := ev["id"].(float64); !ok || n <= 0 {
		t.Errorf("an event's int64 id is not a JSON number: %#v\n%s", ev["id"], out)
	}
	if rt, _ := ev["record_time"].(string); !strings.HasSuffix(rt, "+07:00") {
		t.Errorf("record_time %q is not in WIB\n%s", rt, out)
	}
	if ev["release_note"] != "" || ev["counterpart_facility_code"] != "" {
		t.Errorf("unset strings are not there as \"\":\n%s", out)
	}
	code, m, out = run("lapas-metro", append([]string{"-o", "json", "--utc", "custody", "list-custody-events", "--record-id", id[1]}, F...)...)
	events, _ := m["events"].([]any)
	if code != 0 || len(events) == 0 {
		t.Fatalf("list-custody-events: exit %d\n%s", code, out)
	}
	if rt, _ := events[0].(map[string]any)["record_time"].(string); !strings.HasSuffix(rt, "Z") {
		t.Errorf("with --utc, record_time %q is not in UTC\n%s", rt, out)
	}
}
