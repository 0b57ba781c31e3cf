// Package ctl_test runs sinergictl against a real server: the command line
// a prison IT officer or a police analyst types.
package ctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sinergi-id/sinergi/internal/ctl"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/servertest"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

func TestAgainstRealServer(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	run := func(as string, args ...string) (int, string, string) {
		vars := map[string]string{"SINERGI_ADDR": env.Addr(), "SINERGI_PKI_DIR": env.PKIDir, "SINERGI_AS": as}
		var out, errOut bytes.Buffer
		code := ctl.Run(context.Background(), args, func(k string) string { return vars[k] }, strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := run("polres-metro", "institution", "list-institutions", "--region-prefix", "33", "--kind", "polres")
	if code != 0 || !strings.Contains(out, "polres-cilacap") || strings.Contains(out, "polsek-nusakambangan") || !strings.Contains(out, "CODE") {
		t.Fatalf("table listing: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = run("polres-kutai-kartanegara", "-o", "json", "agreement", "check-coverage",
		"--counterpart-code", "lpka-tenggarong", "--scope", "incident-reports", "--at-time", "2024-06-01")
	var cov struct {
		Covered    bool `json:"covered"`
		Agreements []struct {
			ID string `json:"id"`
		} `json:"agreements"`
	}
	if err := json.Unmarshal([]byte(out), &cov); code != 0 || err != nil || !cov.Covered || len(cov.Agreements) != 1 || cov.Agreements[0].ID != "pks-2024-lpka-tenggarong-polres-kukar" {
		t.Fatalf("check-coverage json: exit %d err %v\n%s%s", code, err, out, errOut)
	}

	code, out, errOut = run("polres-kutai-kartanegara", "agreement", "check-coverage", "--counterpart-code", "lpka-tenggarong", "--scope", "incident-reports")
	if code != 0 || !strings.Contains(out, "covered: false") || !strings.Contains(out, "EXPIRED") {
		t.Fatalf("check-coverage today: exit %d\n%s%s", code, out, errOut)
	}

	// Refusals reach the user with the code and the bad field.
	code, _, errOut = run("polres-metro", "institution", "create-institution", "--institution.code", "x")
	if code != 1 || !strings.Contains(errOut, "PermissionDenied") && !strings.Contains(errOut, "PERMISSION_DENIED") {
		t.Fatalf("forbidden call: exit %d\n%s", code, errOut)
	}
	code, _, errOut = run("kemenimipas", "audit", "list-audit-records")
	if code != 1 || !strings.Contains(errOut, "access") {
		t.Fatalf("missing access context: exit %d\n%s", code, errOut)
	}
	code, out, errOut = run("mabes-polri", "audit", "list-audit-records", "--caller-code", "polres-metro",
		"--access.operator-id", "85051234", "--access.purpose", "oversight")
	if code != 0 || !strings.Contains(out, "polres-metro") {
		t.Fatalf("audit listing: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = run("", "institution", "list-institutions")
	if code != 2 {
		t.Fatalf("no certificate chosen: exit %d, want 2\n%s", code, errOut)
	}
}
