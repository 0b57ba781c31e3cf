// Package ctl_test runs sinergictl against a real server: the command line
// a prison IT officer or a police analyst types.
package ctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

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

// TestREADMETour runs the README's tour of the demo rules as a user types
// it: the pending agreement, its confirmation by the other side, a child's
// identity masked under detainee data without children's data, a purpose
// refused naming the field, and an administrative act without its officer.
func TestREADMETour(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	run := func(as string, args ...string) (int, string, string) {
		vars := map[string]string{"SINERGI_ADDR": env.Addr(), "SINERGI_PKI_DIR": env.PKIDir, "SINERGI_AS": as}
		var out, errOut bytes.Buffer
		code := ctl.Run(context.Background(), args, func(k string) string { return vars[k] }, strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	A := []string{"--access.operator-id", "85051234", "--access.purpose", "intelligence-analysis"}

	code, out, errOut := run("polres-metro-jakarta-timur", "agreement", "check-coverage", "--counterpart-code", "lapas-cipinang", "--scope", "incident-reports")
	if code != 0 || !strings.Contains(out, "PENDING") {
		t.Fatalf("coverage of the pending PKS: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = run("kemenimipas", "agreement", "confirm-agreement", "--id", "pks-2026-lapas-cipinang-polres-jaktim",
		"--access.operator-id", "198503152010011001", "--access.purpose", "administration")
	if code != 1 || !strings.Contains(errOut, "FAILED_PRECONDITION") && !strings.Contains(errOut, "FailedPrecondition") {
		t.Fatalf("confirmed by the side that registered it: exit %d\n%s", code, errOut)
	}
	code, out, errOut = run("mabes-polri", "-o", "json", "agreement", "confirm-agreement", "--id", "pks-2026-lapas-cipinang-polres-jaktim",
		"--access.operator-id", "85051234", "--access.purpose", "administration")
	if code != 0 || !strings.Contains(out, "AGREEMENT_STATUS_ACTIVE") {
		t.Fatalf("confirmed by Mabes: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run("polres-metro-jakarta-timur", "agreement", "check-coverage", "--counterpart-code", "lapas-cipinang", "--scope", "incident-reports")
	if code != 0 || !strings.Contains(out, "covered: true") {
		t.Fatalf("coverage once confirmed: exit %d\n%s%s", code, out, errOut)
	}

	// A child of LPKA Tenggarong, read by Polda Metro Jaya: initials.
	if code, _, errOut := run("lpka-tenggarong", "custody", "upsert-custody-record", "-d", `{"record": {"register_number": "AN.TOUR.1",
		"identity": {"full_name": "Dimas Arya Pratama", "nik": "6402011503120001", "birth_date": "2012-03-15", "sex": "SEX_MALE", "nationality": "IDN"},
		"legal_status": {"kind": "LEGAL_STATUS_KIND_CHILD"}}}`); code != 0 {
		t.Fatalf("upsert: exit %d\n%s", code, errOut)
	}
	code, out, errOut = run("polda-metro-jaya", append([]string{"-o", "json", "custody", "search-custody-records", "--facility-code", "lpka-tenggarong"}, A...)...)
	if code != 0 || !strings.Contains(out, `"identity_masked": true`) || !strings.Contains(out, "D. A. P.") || strings.Contains(out, "6402011503120001") {
		t.Fatalf("search of the LPKA: exit %d\n%s%s", code, out, errOut)
	}

	// Custody events only: Polda Metro Jaya cannot read Permisan's records.
	F := []string{"--access.operator-id", "198503152010011001", "--access.purpose", "security-coordination"}
	if code, _, errOut := run("lapas-permisan", "custody", "upsert-custody-record", "-d", `{"record": {"register_number": "BI.TOUR.1",
		"identity": {"full_name": "Agus Salim", "nik": "3301011503800001", "birth_date": "1980-03-15", "sex": "SEX_MALE", "nationality": "IDN"},
		"legal_status": {"kind": "LEGAL_STATUS_KIND_CONVICTED", "sentence_months": 48, "expected_release_date": "2029-03-01"}}}`); code != 0 {
		t.Fatalf("upsert: exit %d\n%s", code, errOut)
	}
	code, out, errOut = run("lapas-permisan", append([]string{"-o", "json", "custody", "search-custody-records", "--register-number", "BI.TOUR.1", "--page-size", "1"}, F...)...)
	m := regexp.MustCompile(`"id": "([^"]*)"`).FindStringSubmatch(out) // the README's sed
	if code != 0 || m == nil {
		t.Fatalf("search: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run("lapas-permisan", "custody", "record-custody-event", "--record-id", m[1],
		"-d", `{"event": {"type": "CUSTODY_EVENT_TYPE_ADMISSION", "effective_time": "`+time.Now().Add(-time.Minute).Format(time.RFC3339)+`"}}`)
	if code != 0 {
		t.Fatalf("record an event: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run("lapas-permisan", append([]string{"custody", "search-custody-records", "--facility-code", "lapas-permisan", "--status", "held", "--page-size", "1"}, F...)...)
	if code != 0 || !strings.Contains(out, "HELD") {
		t.Fatalf("search held: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = run("polda-metro-jaya", append([]string{"custody", "get-custody-record", "--id", m[1]}, A...)...)
	if code != 1 || !strings.Contains(errOut, "NOT_FOUND") && !strings.Contains(errOut, "NotFound") {
		t.Fatalf("read under custody events only: exit %d\n%s", code, errOut)
	}

	// A Polres answers no data subject's request.
	code, _, errOut = run("polres-metro", "custody", "check-presence", "--nik", "1872011504850001",
		"--access.operator-id", "85051234", "--access.purpose", "data-subject-request", "--access.case-reference", "PDP/1/XI/2026")
	if code != 1 || !strings.Contains(errOut, "access.purpose") {
		t.Fatalf("purpose refused: exit %d\n%s", code, errOut)
	}
	// An administrative act names its officer.
	code, _, errOut = run("mabes-polri", "institution", "set-institution-status", "--code", "polsek-nusakambangan", "--status", "suspended")
	if code != 1 || !strings.Contains(errOut, "access") {
		t.Fatalf("act without an officer: exit %d\n%s", code, errOut)
	}
}
