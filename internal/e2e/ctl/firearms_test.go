package ctl_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/ctl"
	"github.com/sinergi-id/sinergi/internal/demodata"
	"github.com/sinergi-id/sinergi/internal/firearms"
	"github.com/sinergi-id/sinergi/internal/servertest"
)

// TestREADMEFirearms runs the README's firearms register commands as a user
// types them, on the demo register `make run` loads: a facility registers a
// weapon, the Polda licenses it, an officer draws and returns it, an
// officer without a licence is refused, an inspection finds a discrepancy
// and the facility resolves it, and the expiring licences have warned both
// sides.
func TestREADMEFirearms(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	if _, err := demodata.Firearms(ctx, env.Server.Store, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The expiry worker's pass, as a running server makes it.
	exp := &firearms.Expirer{Store: env.Server.Store, Audit: env.Server.Writer.Sealer(), Now: time.Now, Log: env.Server.Config().Log}
	if _, err := exp.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	vars := func(as string) func(string) string {
		v := map[string]string{"SINERGI_ADDR": env.Addr(), "SINERGI_PKI_DIR": env.PKIDir, "SINERGI_AS": as}
		return func(k string) string { return v[k] }
	}
	run := func(as string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := ctl.Run(ctx, args, vars(as), strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	F := []string{"--access.operator-id", "198503152010011001", "--access.purpose", "security-coordination"}
	P := []string{"--access.operator-id", "85051234", "--access.purpose", "oversight"}
	cmd := func(words []string, access []string, flags ...string) []string {
		return append(append(append([]string{}, words...), access...), flags...)
	}
	idOf := regexp.MustCompile(`"id": "([^"]*)"`) // the README's sed
	id := func(what string, code int, out, errOut string) string {
		t.Helper()
		m := idOf.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("%s: exit %d\n%s%s", what, code, out, errOut)
		}
		return m[1]
	}
	want := func(what string, code int, out, errOut string, wantCode int, words ...string) {
		t.Helper()
		if code != wantCode {
			t.Fatalf("%s: exit %d, want %d\n%s%s", what, code, wantCode, out, errOut)
		}
		for _, w := range words {
			if !strings.Contains(out+errOut, w) {
				t.Fatalf("%s: no %q in\n%s%s", what, w, out, errOut)
			}
		}
	}

	code, out, errOut := run("lapas-permisan", cmd([]string{"-o", "json", "firearms", "register-weapon"}, F, "--category", "rubber-bullet",
		"--make", "Pindad", "--model", "SPR-3 RB", "--calibre", "12 gauge", "--serial-number", "RB-2026-0042", "--armoury", "Gudang senjata blok A")...)
	W := id("register-weapon", code, out, errOut)
	want("register-weapon", code, out, errOut, 0, `"licensing_code": "polda-jawa-tengah"`, "WEAPON_STATUS_IN_SERVICE")
	code, out, errOut = run("lapas-permisan", cmd([]string{"-o", "json", "firearms", "apply-for-licence"}, F, "--kind", "ownership", "--weapon-id", W)...)
	L := id("apply-for-licence", code, out, errOut)
	want("apply-for-licence", code, out, errOut, 0, "LICENCE_STATE_PENDING")
	code, out, errOut = run("polda-jawa-tengah", cmd([]string{"firearms", "approve-licence"}, P, "--id", L, "--number", "SI/42/XII/2026/Ditintelkam",
		"--expire-time", "2030-06-30")...)
	want("approve-licence", code, out, errOut, 0, "VALID")

	code, out, errOut = run("lapas-permisan", cmd([]string{"-o", "json", "firearms", "apply-for-licence"}, F, "--kind", "holder",
		"--holder-nip", "199203152019031004", "--holder-name", "Andi Saputra", "--category", "rubber-bullet")...)
	H := id("apply-for-licence holder", code, out, errOut)
	code, out, errOut = run("polda-jawa-tengah", cmd([]string{"firearms", "approve-licence"}, P, "--id", H, "--number", "SIP/7/XII/2026/Ditintelkam",
		"--expire-time", "2030-06-30")...)
	want("approve-licence holder", code, out, errOut, 0, "VALID")
	code, out, errOut = run("lapas-permisan", cmd([]string{"firearms", "record-ammunition"}, F, "--calibre", "12 gauge", "--change", "received", "--rounds", "50")...)
	want("record-ammunition", code, out, errOut, 0, "12 gauge")
	code, out, errOut = run("lapas-permisan", cmd([]string{"firearms", "issue-weapon"}, F, "--weapon-id", W, "--holder-nip", "199203152019031004",
		"--duty", "Pos jaga P2U", "--rounds", "10")...)
	want("issue-weapon", code, out, errOut, 0, "Andi Saputra")
	code, out, errOut = run("polres-cilacap", cmd([]string{"firearms", "get-weapon"}, P, "--id", W)...)
	want("get-weapon as the Polres", code, out, errOut, 0, "199203152019031004")
	code, out, errOut = run("lapas-permisan", cmd([]string{"firearms", "return-weapon"}, F, "--weapon-id", W, "--rounds-returned", "10")...)
	want("return-weapon", code, out, errOut, 0, "return_time")
	code, out, errOut = run("lapas-permisan", cmd([]string{"firearms", "issue-weapon"}, F, "--weapon-id", W, "--holder-nip", "198807122012121001",
		"--duty", "Pos jaga")...)
	want("issue-weapon without a holder licence", code, out, errOut, 1, "FAILED_PRECONDITION", "no valid holder licence")
	if strings.Contains(errOut, "198807122012121001") {
		t.Errorf("the refusal repeats the officer's NIP: %s", errOut)
	}

	inspection := `{"facility_code": "lapas-permisan",
    "inspect_time": "` + time.Now().Format(time.RFC3339) + `", "inspector_ids": ["85051234"], "checks": [{"weapon_id": "` + W + `",
    "result": "CHECK_RESULT_SERIAL_MISMATCH", "condition": "WEAPON_CONDITION_SERVICEABLE"}]}`
	code, out, errOut = run("polres-cilacap", cmd([]string{"-o", "json", "firearms", "record-inspection"}, P, "-d", inspection)...)
	I := id("record-inspection", code, out, errOut)
	want("record-inspection", code, out, errOut, 0, "FINDING_KIND_SERIAL_MISMATCH", "FINDING_STATUS_OPEN")
	code, out, errOut = run("lapas-permisan", cmd([]string{"firearms", "resolve-finding"}, F, "--inspection-id", I, "--number", "1",
		"--resolution", "Senjata tertukar saat servis; senjata yang benar dikembalikan (BA/3/XII/2026)")...)
	want("resolve-finding", code, out, errOut, 0, "RESOLVED")

	// Both sides were warned of the demo licence expiring within 30 days.
	code, out, errOut = run("lapas-permisan", cmd([]string{"firearms", "list-firearm-events"}, F, "--kind", "licence-expiring")...)
	want("list-firearm-events as the facility", code, out, errOut, 0, "LICENCE_EXPIRING", "30")
	code, out, errOut = run("polda-jawa-tengah", cmd([]string{"firearms", "list-firearm-events"}, P, "--facility-code", "lapas-permisan", "--kind", "licence-expiring")...)
	want("list-firearm-events as the Polda", code, out, errOut, 0, "LICENCE_EXPIRING", "lapas-permisan")
	code, out, errOut = run("polda-jawa-tengah", cmd([]string{"firearms", "list-licences"}, P, "--state", "expired")...)
	want("list-licences --state expired", code, out, errOut, 0, "EXPIRED", "lapas-permisan")

	// The watch: what follows, live (here, ammunition received at Permisan).
	var watchOut servertest.LogBuffer
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan int)
	go func() {
		var errs bytes.Buffer
		done <- ctl.Run(wctx, cmd([]string{"firearms", "watch-firearms"}, P), vars("polda-jawa-tengah"), strings.NewReader(""), &watchOut, &errs)
	}()
	// Established (its first line is a cursor), it shows what is recorded next.
	eventually(t, func() bool { return strings.Contains(watchOut.String(), "cursor") })
	if c, o, e := run("lapas-permisan", cmd([]string{"firearms", "record-ammunition"}, F, "--calibre", "12 gauge", "--change", "received", "--rounds", "1")...); c != 0 {
		t.Fatalf("record-ammunition: %s%s", o, e)
	}
	eventually(t, func() bool { return strings.Contains(watchOut.String(), "AMMUNITION_RECORDED") })
	cancel()
	<-done

	code, out, errOut = run("polda-lampung", cmd([]string{"firearms", "get-weapon"}, P, "--id", W)...)
	want("get-weapon by a Polda elsewhere", code, out, errOut, 1, "NOT_FOUND")
	code, out, errOut = run("mabes-polri", "firearms", "firearms-stats")
	want("firearms-stats", code, out, errOut, 0, "lapas-permisan")
}

// eventually waits until cond holds, failing the test after 30 s: for
// output a command writes from another goroutine.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
