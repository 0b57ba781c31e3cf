package ctl_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/ctl"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/servertest"
)

// TestREADMESecurityCoordination runs the README's commands of security
// coordination as a user types them: a police warning acknowledged by the
// facility and seen by the unit; a riot request dispatched, followed live
// on its thread and closed with an after-action account; an emergency with
// no agreement reaching the police and appearing in both sides' oversight.
func TestREADMESecurityCoordination(t *testing.T) {
	// Its own database: the tour adds an office and an agreement.
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vars := map[string]string{"SINERGI_ADDR": env.Addr(), "SINERGI_PKI_DIR": env.PKIDir}
	run := func(ctx context.Context, args []string, stdout, stderr *syncBuffer) int {
		return ctl.Run(ctx, args, func(k string) string { return vars[k] }, strings.NewReader(""), stdout, stderr)
	}
	call := func(args ...string) (int, string, string) {
		var out, errOut syncBuffer
		code := run(ctx, args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	want := func(what string, code int, out, errOut string, words ...string) {
		t.Helper()
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", what, code, out, errOut)
		}
		for _, w := range words {
			if !strings.Contains(out, w) {
				t.Fatalf("%s: no %q in\n%s", what, w, out)
			}
		}
	}
	idOf := regexp.MustCompile(`"id": "([^"]*)"`) // the README's sed
	id := func(what string, code int, out, errOut string) string {
		t.Helper()
		want(what, code, out, errOut)
		m := idOf.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("%s printed no id:\n%s", what, out)
		}
		return m[1]
	}
	watch := func(args ...string) *syncBuffer {
		t.Helper()
		var out syncBuffer
		go run(ctx, args, &out, &out)
		waitFor(t, &out, "cursor:")
		return &out
	}
	O := []string{"--access.operator-id", "198503152010011001", "--access.purpose", "security-coordination"}
	P := []string{"--access.operator-id", "85031234", "--access.purpose", "intelligence-analysis"}
	with := func(head []string, access []string, rest ...string) []string {
		return append(append(append([]string{}, head...), access...), rest...)
	}
	occur := time.Now().Add(-10 * time.Minute).Format(time.RFC3339)

	// Police warnings to facilities.
	code, out, errOut := call("--as", "kemenimipas", "institution", "create-institution",
		"--access.operator-id", "198503152010011001", "--access.purpose", "administration",
		"--institution.code", "kanwil-jateng", "--institution.name", "Kanwil Kemenimipas Jawa Tengah",
		"--institution.kind", "kanwil", "--institution.region-code", "33", "--institution.parent-code", "kemenimipas")
	want("create-institution", code, out, errOut)
	// What restarting `make run` does: a certificate for the new office.
	if err := devenv.DevPKI(ctx, env.DB.URL, env.PKIDir, pki.DefaultTrustDomain); err != nil {
		t.Fatal(err)
	}
	facilityWatch := watch(with([]string{"--as", "lapas-permisan", "report", "watch-reports"}, O)...)
	kanwilWatch := watch("--as", "kanwil-jateng", "report", "watch-reports", "--access.operator-id", "198503152010011001", "--access.purpose", "oversight")
	code, out, errOut = call(with([]string{"--as", "polres-cilacap", "-o", "json", "report", "submit-report"}, P,
		"--idempotency-key", "2026-11-26-w01", "--facility-code", "lapas-permisan", "--kind", "narcotics", "--type", "smuggling-via-visitor",
		"--severity", "high", "--classification", "terbatas", "--occur-time", occur, "--place", "Ruang kunjungan",
		"--narrative", "Kurir jaringan sabu berkunjung Kamis pagi",
		"-d", `{"people": [{"outsider": {"name": "Rudi Hartono"}, "role": "REPORT_PERSON_ROLE_COURIER"}]}`)...)
	w := id("submit-report (warning)", code, out, errOut)
	waitFor(t, facilityWatch, w)
	waitFor(t, kanwilWatch, w)
	code, out, errOut = call(with([]string{"--as", "lapas-permisan", "report", "acknowledge-report"}, O, "--id", w)...)
	want("acknowledge-report (facility)", code, out, errOut, "ACKNOWLEDGED")
	code, out, errOut = call(with([]string{"--as", "polres-cilacap", "-o", "json", "report", "get-report"}, P, "--id", w)...)
	want("get-report (unit)", code, out, errOut, `"acknowledge_time"`, `"author_code": "polres-cilacap"`)

	// Assistance requests: dispatch and the coordination thread.
	code, out, errOut = call("--as", "kemenimipas", "agreement", "create-agreement", "--access.operator-id", "198503152010011001",
		"--access.purpose", "administration", "-d", `{"agreement": {"id": "pks-2026-permisan-kamtib", "number": "PKS/2026/KAMTIB (demo)",
      "kind": "AGREEMENT_KIND_PKS", "parties": [{"institution_code": "lapas-permisan"}, {"side": "SIDE_POLRI"}],
      "scopes": ["SCOPE_INCIDENT_REPORTS"], "effective_time": "2026-01-01T00:00:00+07:00"}}`)
	want("create-agreement", code, out, errOut)
	code, out, errOut = call("--as", "mabes-polri", "agreement", "confirm-agreement", "--access.operator-id", "85051234",
		"--access.purpose", "administration", "--id", "pks-2026-permisan-kamtib")
	want("confirm-agreement", code, out, errOut)
	code, out, errOut = call(with([]string{"--as", "lapas-permisan", "-o", "json", "report", "submit-report"}, O,
		"--idempotency-key", "2026-11-26-r01", "--kind", "assistance-request", "--type", "conflict-handling", "--severity", "critical",
		"--classification", "biasa", "--occur-time", occur, "--place", "Blok C", "--narrative", "Kerusuhan di blok C, dua petugas disandera")...)
	r := id("submit-report (riot)", code, out, errOut)
	thread := watch(with([]string{"--as", "lapas-permisan", "report", "watch-reports"}, O, "--report-id", r)...)
	code, out, errOut = call(with([]string{"--as", "polres-cilacap", "report", "acknowledge-report"}, P, "--id", r)...)
	want("acknowledge-report (riot)", code, out, errOut)
	eta := time.Now().Add(30 * time.Minute).Format(time.RFC3339)
	code, out, errOut = call(with([]string{"--as", "polres-cilacap", "report", "post-coordination-entry"}, P, "--id", r, "--kind", "dispatch",
		"--dispatch.units", "Sat Samapta", "--dispatch.units", "Kompi Brimob", "--dispatch.personnel-count", "60",
		"--dispatch.estimated-arrival-time", eta, "--dispatch.commander", "AKP Budi Santoso", "--dispatch.contact-channel", "HT kanal 7")...)
	want("dispatch", code, out, errOut, "IN_ACTION", "Kompi Brimob")
	waitFor(t, thread, "AKP Budi Santoso")
	code, out, errOut = call(with([]string{"--as", "lapas-permisan", "report", "post-coordination-entry"}, O, "--id", r, "--kind", "message",
		"--text", "Gerbang utama dibuka; sandera di pos jaga lantai 2")...)
	want("message", code, out, errOut)
	waitFor(t, thread, "Gerbang utama dibuka")
	for _, kind := range []string{"on-scene", "stood-down"} {
		code, out, errOut = call(with([]string{"--as", "polres-cilacap", "report", "post-coordination-entry"}, P, "--id", r, "--kind", kind)...)
		want(kind, code, out, errOut)
	}
	code, out, errOut = call(with([]string{"--as", "polres-cilacap", "report", "post-coordination-entry"}, P, "--id", r, "--kind", "after-action",
		"--outcome", "situation-resolved", "--text", "Sandera dibebaskan tanpa luka")...)
	want("after-action", code, out, errOut, "CLOSED", "SITUATION_RESOLVED")
	waitFor(t, thread, "Sandera dibebaskan tanpa luka")

	// Emergencies no agreement blocks.
	code, out, errOut = call(with([]string{"--as", "lpka-tenggarong", "-o", "json", "report", "submit-report"}, O,
		"--idempotency-key", "2026-11-27-e01", "--kind", "incident", "--type", "riot", "--severity", "critical", "--classification", "terbatas",
		"--occur-time", occur, "--place", "Wisma anak blok B", "--narrative", "Kerusuhan, dua petugas terluka",
		"--emergency-justification", "Korban luka; PKS keamanan dan ketertiban dengan Polres Kukar telah berakhir")...)
	e := id("submit-report (emergency)", code, out, errOut)
	want("submit-report (emergency)", code, out, errOut, "REPORT_RECIPIENT_REASON_EMERGENCY_OVERRIDE", "polda-kalimantan-timur",
		"COVERAGE_GAP_EXPIRED", "COVERAGE_GAP_SCOPE_NOT_COVERED")
	code, out, errOut = call(with([]string{"--as", "polres-kutai-kartanegara", "report", "acknowledge-report"}, P, "--id", e)...)
	want("acknowledge-report (emergency)", code, out, errOut, "ACKNOWLEDGED")
	code, out, errOut = call("--as", "mabes-polri", "-o", "json", "report", "list-emergency-overrides", "--access.operator-id", "85051234", "--access.purpose", "oversight")
	want("list-emergency-overrides (Mabes)", code, out, errOut, e, "Polres Kukar telah berakhir", `"acknowledge_time"`)
	code, out, errOut = call("--as", "kemenimipas", "-o", "json", "report", "list-emergency-overrides", "--access.operator-id", "198503152010011001", "--access.purpose", "oversight")
	want("list-emergency-overrides (ministry)", code, out, errOut, e)

	// Statistics by unit.
	code, out, errOut = call("--as", "kemenimipas", "-o", "json", "report", "report-stats", "--start-time", time.Now().Add(-24*time.Hour).Format(time.RFC3339))
	want("report-stats", code, out, errOut, `"units"`, `"dispatches"`)
}

// waitFor waits until out holds s.
func waitFor(t *testing.T, out *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("waited for %q in:\n%s", s, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
