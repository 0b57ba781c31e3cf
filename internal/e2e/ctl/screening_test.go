package ctl_test

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/ctl"
	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/servertest"
)

// syncBuffer is a buffer a background command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// readmeBlock returns the lines of the first sh block after heading in
// the README, continuation lines joined.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, heading)
	if i < 0 {
		t.Fatalf("the README has no %q", heading)
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	end := strings.Index(s[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatalf("no sh block under %q", heading)
	}
	var lines []string
	cont := ""
	for _, l := range strings.Split(s[start+6:start+6+end], "\n") {
		if strings.HasSuffix(l, "\\") {
			cont += strings.TrimSuffix(l, "\\")
			continue
		}
		if l = strings.TrimSpace(cont + l); l != "" {
			lines = append(lines, l)
		}
		cont = ""
	}
	return lines
}

// words splits a command line as sh does for what the README writes:
// double quotes group, an unquoted $NAME expands to its words, "$NAME" and
// a $NAME inside a word to its value.
func words(t *testing.T, line string, vars map[string]string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	expand := func(s string) string {
		return regexp.MustCompile(`\$([A-Z]+)`).ReplaceAllStringFunc(s, func(v string) string { return vars[v[1:]] })
	}
	flush := func() {
		if inWord {
			w := cur.String()
			if m := regexp.MustCompile(`^\$([A-Z]+)$`).FindStringSubmatch(w); m != nil {
				out = append(out, strings.Fields(vars[m[1]])...)
			} else {
				out = append(out, expand(w))
			}
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			quoted = !quoted
			inWord = true
		case c == ' ' && !quoted:
			flush()
		default:
			if quoted && c == '$' {
				// A quoted expansion is one word whatever it holds.
				j := i + 1
				for j < len(line) && line[j] >= 'A' && line[j] <= 'Z' {
					j++
				}
				cur.WriteString(vars[line[i+1:j]])
				i = j - 1
			} else {
				cur.WriteByte(c)
			}
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", line)
	}
	flush()
	return out
}

// TestREADMEScreeningTour runs the README's "Screening at the gate" block
// as it stands: a visitor on Polres Metro Jakarta Timur's list is referred
// at the gate of Lapas Cipinang, designated prone to narcotics
// trafficking, and the Polres's watch prints the referral live; the
// unscreened visit and the admission against the instruction are refused;
// the Polres reads the visit for its investigation and not for
// intelligence alone.
func TestREADMEScreeningTour(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The tour's inmate: one person held at Lapas Cipinang.
	run := func(ctx context.Context, args []string, stdout, stderr *syncBuffer) int {
		vars := map[string]string{"SINERGI_ADDR": env.Addr(), "SINERGI_PKI_DIR": env.PKIDir}
		return ctl.Run(ctx, args, func(k string) string { return vars[k] }, strings.NewReader(""), stdout, stderr)
	}
	call := func(args ...string) (int, string, string) {
		var out, errOut syncBuffer
		code := run(ctx, args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, _, errOut := call("--as", "lapas-cipinang", "custody", "upsert-custody-record", "-d", `{"record": {"register_number": "BI.TOUR.SCR",
		"identity": {"full_name": "Budi Hartono", "nik": "3175011503800001", "birth_date": "1980-03-15", "sex": "SEX_MALE", "nationality": "IDN"},
		"legal_status": {"kind": "LEGAL_STATUS_KIND_CONVICTED", "sentence_months": 60, "expected_release_date": "2029-03-01"}}}`); code != 0 {
		t.Fatalf("upsert: exit %d\n%s", code, errOut)
	}
	var rec syncBuffer
	if code := run(ctx, []string{"--as", "lapas-cipinang", "-o", "json", "custody", "search-custody-records", "--register-number", "BI.TOUR.SCR",
		"--access.operator-id", "198503152010011001", "--access.purpose", "security-coordination"}, &rec, &syncBuffer{}); code != 0 {
		t.Fatal("search")
	}
	recID := regexp.MustCompile(`"id": "([^"]*)"`).FindStringSubmatch(rec.String())[1]
	if code, _, errOut := call("--as", "lapas-cipinang", "custody", "record-custody-event", "--record-id", recID,
		"-d", `{"event": {"type": "CUSTODY_EVENT_TYPE_ADMISSION", "effective_time": "`+time.Now().Add(-time.Minute).Format(time.RFC3339)+`"}}`); code != 0 {
		t.Fatalf("admit: exit %d\n%s", code, errOut)
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
	for _, line := range readmeBlock(t, "### Screening at the gate") {
		switch {
		case strings.HasPrefix(line, "#   ") && strings.ToUpper(strings.Fields(line)[1]) == strings.Fields(line)[1] && strings.HasSuffix(strings.Fields(line)[1], ":"):
			// An expected refusal of the command above: "#   CODE: why".
			want := strings.TrimSuffix(strings.Fields(line)[1], ":")
			rest := strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
			if last.code != 1 || !strings.Contains(last.errOut, want) {
				t.Fatalf("%s\n  exit %d, want %s\n%s%s", last.line, last.code, want, last.out, last.errOut)
			}
			if want == "INVALID_ARGUMENT" && !strings.Contains(last.errOut, rest) {
				t.Fatalf("%s\n  does not name %s: %s", last.line, rest, last.errOut)
			}
			last.code = 0
		case strings.HasPrefix(line, "#"):
		case assign.MatchString(line):
			m := assign.FindStringSubmatch(line)
			vars[m[1]] = m[2]
		case capture.MatchString(line):
			m := capture.FindStringSubmatch(line)
			args := words(t, strings.TrimPrefix(m[2], ".sinergi/bin/sinergictl "), vars)
			code, out, errOut := call(args...)
			if code != 0 {
				t.Fatalf("%s\n  exit %d\n%s", line, code, errOut)
			}
			v := regexp.MustCompile(`"` + m[3] + `": "([^"]*)"`).FindStringSubmatch(out)
			if v == nil {
				t.Fatalf("%s\n  printed no %s:\n%s", line, m[3], out)
			}
			vars[m[1]] = v[1]
			if m[1] == "TOKEN" {
				// The answer at the gate: REFER, the instruction, the
				// match, and nothing of why.
				for _, want := range []string{"SCREENING_RESULT_REFER", "HANDLING_INSTRUCTION_REFUSE_ENTRY", "SCREENING_MATCH_NIK"} {
					if !strings.Contains(out, want) {
						t.Fatalf("the screening lacks %s:\n%s", want, out)
					}
				}
				for _, never := range []string{"DPO", "pencurian", "polres", "WANTED", "entry"} {
					if strings.Contains(out, never) {
						t.Fatalf("the screening says %q:\n%s", never, out)
					}
				}
				// The Polres's watch shows it at once.
				deadline := time.Now().Add(30 * time.Second)
				for !strings.Contains(watchOut.String(), "referral:") {
					if time.Now().After(deadline) {
						t.Fatalf("the Polres's watch printed no referral:\n%s", watchOut.String())
					}
					time.Sleep(20 * time.Millisecond)
				}
				w := watchOut.String()
				for _, want := range []string{screening.DemoEntryID("jaktim-dpo"), "lapas-cipinang", vars["ID"], "3175071203880003", "REFUSE_ENTRY", "NIK", "SIBLING"} {
					if !strings.Contains(w, want) {
						t.Fatalf("the referral lacks %q:\n%s", want, w)
					}
				}
			}
			ran++
		case strings.HasPrefix(line, ".sinergi/bin/sinergictl "):
			background := strings.HasSuffix(line, " &")
			args := words(t, strings.TrimSuffix(strings.TrimPrefix(line, ".sinergi/bin/sinergictl "), " &"), vars)
			if background {
				go func() { watchDone <- run(ctx, args, &watchOut, &watchOut) }()
				// Established once its first message (the cursor) is printed.
				deadline := time.Now().Add(30 * time.Second)
				for !strings.Contains(watchOut.String(), "cursor:") {
					if time.Now().After(deadline) {
						t.Fatalf("the watch did not start:\n%s", watchOut.String())
					}
					time.Sleep(20 * time.Millisecond)
				}
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
	if ran < 9 {
		t.Fatalf("ran only %d commands of the README's block", ran)
	}
	// The last consultation that succeeded shows the refused visit.
	code, out, errOut := call(words(t, `--as polres-metro-jakarta-timur -o json screening list-visits --visitor.nik 3175071203880003 `+
		`--access.operator-id 85051234 --access.purpose criminal-investigation --access.case-reference LP/B/123/VIII/2026/SPKT`, vars)...)
	if code != 0 || !strings.Contains(out, "VISIT_OUTCOME_REFUSED") || !strings.Contains(out, "SCREENING_RESULT_REFER") || !strings.Contains(out, vars["ID"]) {
		t.Fatalf("the register: exit %d\n%s%s", code, out, errOut)
	}
	cancel()
	<-watchDone
}
