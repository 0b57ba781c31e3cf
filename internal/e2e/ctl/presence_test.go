package ctl_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/ctl"
	"github.com/sinergi-id/sinergi/internal/demodata"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestREADMEHitNoHitTour runs the README's "National hit / no-hit" block
// as it stands, on synthetic people at Lapas Tenggarong as `make run`
// loads them: Polres Metro Jakarta Timur learns a person is held in East
// Kalimantan and nothing more, is refused the record without the hit
// reference and for intelligence alone, asks for it for its case, Lapas
// Tenggarong's watch prints the hit and the request and the facility
// confirms, and the Polres reads the record.
func TestREADMEHitNoHitTour(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := demodata.Load(ctx, env.Server.Store, 17, 5, []demodata.Facility{{Code: "lapas-tenggarong",
		Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, Region: "64.02"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context, args []string, stdout, stderr *syncBuffer) int {
		vars := map[string]string{"SINERGI_ADDR": env.Addr(), "SINERGI_PKI_DIR": env.PKIDir}
		return ctl.Run(ctx, args, func(k string) string { return vars[k] }, strings.NewReader(""), stdout, stderr)
	}
	call := func(args ...string) (int, string, string) {
		var out, errOut syncBuffer
		code := run(ctx, args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	waitPrinted := func(out *syncBuffer, want ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			all := true
			for _, w := range want {
				all = all && strings.Contains(out.String(), w)
			}
			if all {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the watch printed no %q:\n%s", want, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	vars := map[string]string{}
	assign := regexp.MustCompile(`^([A-Z]+)="(.*)"$`)
	capture := regexp.MustCompile(`^([A-Z]+)=\$\((\.sinergi/bin/sinergictl .*) \| sed -n 's/\.\*"([a-z_]+)": .*$`)
	var watchOut syncBuffer
	watchDone := make(chan int, 1)
	var last struct {
		code        int
		out, errOut string
		line        string
	}
	ran := 0
	for _, line := range readmeBlock(t, "### National hit / no-hit") {
		switch {
		case strings.HasPrefix(line, "#   ") && strings.ToUpper(strings.Fields(line)[1]) == strings.Fields(line)[1] && strings.HasSuffix(strings.Fields(line)[1], ":"):
			want := strings.TrimSuffix(strings.Fields(line)[1], ":")
			rest := strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
			if last.code != 1 || !strings.Contains(last.errOut, want) || !strings.Contains(last.errOut, rest) {
				t.Fatalf("%s\n  exit %d, want %s naming %s\n%s%s", last.line, last.code, want, rest, last.out, last.errOut)
			}
			last.code = 0
		case strings.HasPrefix(line, "#"):
		case assign.MatchString(line):
			m := assign.FindStringSubmatch(line)
			vars[m[1]] = m[2]
		case capture.MatchString(line):
			m := capture.FindStringSubmatch(line)
			code, out, errOut := call(words(t, strings.TrimPrefix(m[2], ".sinergi/bin/sinergictl "), vars)...)
			if code != 0 {
				t.Fatalf("%s\n  exit %d\n%s", line, code, errOut)
			}
			v := regexp.MustCompile(`"` + m[3] + `": "([^"]*)"`).FindStringSubmatch(out)
			if v == nil {
				t.Fatalf("%s\n  printed no %s:\n%s", line, m[3], out)
			}
			vars[m[1]] = v[1]
			switch m[1] {
			case "REF":
				// Held in province 64, and nothing of the facility or the person.
				for _, want := range []string{`"held": true`, `"province_code": "64"`, "Kalimantan Timur"} {
					if !strings.Contains(out, want) {
						t.Fatalf("the check lacks %s:\n%s", want, out)
					}
				}
				// -o json prints every field: placements is there, and empty.
				if strings.Contains(out, `"placements"`) && !strings.Contains(out, `"placements": []`) {
					t.Fatalf("the check names a placement:\n%s", out)
				}
				for _, never := range []string{"tenggarong", "64.02", vars["NIK"]} {
					if strings.Contains(out, never) {
						t.Fatalf("the check says %q:\n%s", never, out)
					}
				}
				waitPrinted(&watchOut, "HIT", "polres-metro-jakarta-timur", "LP/B/123/VIII/2026/SPKT")
			case "REQ":
				if !strings.Contains(out, "HIT_REQUEST_STATE_PENDING") || strings.Contains(out, "tenggarong") {
					t.Fatalf("the request:\n%s", out)
				}
				waitPrinted(&watchOut, "CONFIRMATION_REQUESTED", vars["REQ"])
			}
			ran++
		case strings.HasPrefix(line, ".sinergi/bin/sinergictl "):
			background := strings.HasSuffix(line, " &")
			args := words(t, strings.TrimSuffix(strings.TrimPrefix(line, ".sinergi/bin/sinergictl "), " &"), vars)
			if background {
				go func() { watchDone <- run(ctx, args, &watchOut, &watchOut) }()
				waitPrinted(&watchOut, "cursor:")
				ran++
				continue
			}
			if last.code != 0 {
				t.Fatalf("%s\n  exit %d\n%s%s", last.line, last.code, last.out, last.errOut)
			}
			last.code, last.out, last.errOut = call(args...)
			last.line = line
			ran++
		default:
			t.Fatalf("the test does not know how to run %q", line)
		}
	}
	if last.code != 0 {
		t.Fatalf("%s\n  exit %d\n%s%s", last.line, last.code, last.out, last.errOut)
	}
	if ran < 8 {
		t.Fatalf("ran only %d commands of the README's block", ran)
	}
	// The last command, the Polres reading the request: confirmed, with the record.
	for _, want := range []string{"CONFIRMED", "answered_by_code: lapas-tenggarong", vars["NIK"], "legal_status:"} {
		if !strings.Contains(last.out, want) {
			t.Fatalf("the Polres reads:\n%s%s\nwithout %q", last.out, last.errOut, want)
		}
	}
	cancel()
	<-watchDone
}
