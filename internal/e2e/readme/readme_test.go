// Package readme_test runs every sinergictl command of the README against a
// real server, as a reader pastes it into bash after `make run`: the
// README's examples cannot rot.
//
// Each ```sh block that calls sinergictl (or curl, on the HTTP/JSON
// listener) runs as a bash script, in README
// order, on one server with what `make run` loads (the demo directory, 300
// people, the firearms register and screening lists). The script runs in a
// directory where .sinergi/bin/sinergictl is this test binary behind a small
// wrapper that records each call's exit status, and .sinergi/pki is the
// test's PKI; curl is real curl behind a wrapper that sends the README's
// https://127.0.0.1:7444 to the test server's HTTP/JSON listener and fails
// on an HTTP error (--fail-with-body). Besides sinergictl's and curl's
// lines, only variable assignments run;
// other commands (make, sinergi, grpcurl, psql) are left to their own tests.
//
// What a block says of its commands:
//
//   - a command succeeds (exit 0) unless the README says it fails: a
//     comment after it on its line, or on the lines under it, that begins
//     with a gRPC code (`# NOT_FOUND`, `#   INVALID_ARGUMENT: access.purpose`);
//     then it must fail with that code (and for INVALID_ARGUMENT name the
//     field given after the colon);
//   - a command ending in `&` runs in the background (a watch) until the
//     block ends; it must not fail meanwhile;
//   - `<!-- readme-test: skip: REASON -->` on the line before a block's
//     fence leaves the whole block out, and `# readme-test: skip: REASON`
//     at the end of a line leaves out that line. The reason is required.
package readme_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/ctl"
	"github.com/sinergi-id/sinergi/internal/demodata"
	"github.com/sinergi-id/sinergi/internal/firearms"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/servertest"
)

var db *pgtest.DB

// asCtl makes this test binary sinergictl, for the wrapper the scripts call.
const asCtl = "SINERGI_README_TEST_CTL"

func TestMain(m *testing.M) {
	if os.Getenv(asCtl) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := ctl.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	pgtest.Main(m, &db)
}

// grpcCodes are the status names a README comment may expect.
var grpcCodes = map[string]bool{
	"CANCELLED": true, "UNKNOWN": true, "INVALID_ARGUMENT": true, "DEADLINE_EXCEEDED": true, "NOT_FOUND": true,
	"ALREADY_EXISTS": true, "PERMISSION_DENIED": true, "RESOURCE_EXHAUSTED": true, "FAILED_PRECONDITION": true,
	"ABORTED": true, "OUT_OF_RANGE": true, "UNIMPLEMENTED": true, "INTERNAL": true, "UNAVAILABLE": true,
	"DATA_LOSS": true, "UNAUTHENTICATED": true,
}

// block is one ```sh block of the README.
type block struct {
	line    int // of the fence
	heading string
	skip    string
	lines   []logical
}

// logical is one command line, continuation lines joined.
type logical struct {
	line int // its first line in the README
	text string
}

// command is a line the script runs, and what the README says of it.
type command struct {
	logical
	ctl        bool   // it calls sinergictl
	background bool   // it ends in &
	want       string // the gRPC code it must fail with, or ""
	field      string // for INVALID_ARGUMENT: the field to be named
}

var (
	skipBlock  = regexp.MustCompile(`^<!--\s*readme-test:\s*skip:\s*(\S.*?)\s*-->$`)
	skipLine   = regexp.MustCompile(`#\s*readme-test:\s*skip:\s*\S`)
	assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	codeNote   = regexp.MustCompile(`^#\s*([A-Z_]+)\b:?\s*(\S*)`)
)

// parseREADME returns the README's sh blocks.
func parseREADME(t *testing.T, text string) []block {
	t.Helper()
	var out []block
	var cur *block
	heading, pending := "", ""
	cont, contLine := "", 0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if cur == nil {
			switch {
			case strings.HasPrefix(l, "#"):
				heading = strings.TrimSpace(strings.TrimLeft(l, "#"))
			case strings.TrimSpace(l) == "```sh":
				cur = &block{line: n, heading: heading, skip: pending}
			case strings.HasPrefix(strings.TrimSpace(l), "<!--") && strings.Contains(l, "readme-test"):
				m := skipBlock.FindStringSubmatch(strings.TrimSpace(l))
				if m == nil {
					t.Fatalf("README.md:%d: a readme-test marker is <!-- readme-test: skip: REASON -->", n)
				}
				pending = m[1]
				continue
			}
			if strings.TrimSpace(l) != "" {
				pending = ""
			}
			continue
		}
		if strings.TrimSpace(l) == "```" {
			out = append(out, *cur)
			cur, pending = nil, ""
			continue
		}
		if cont == "" {
			contLine = n
		}
		// A line goes on after a backslash, or inside quotes.
		cont += l + "\n"
		if _, open := scanShell(cont); strings.HasSuffix(l, "\\") || open {
			continue
		}
		cur.lines = append(cur.lines, logical{line: contLine, text: strings.TrimSuffix(cont, "\n")})
		cont = ""
	}
	return out
}

// callsCtl reports whether a line calls sinergictl, or curl (whose calls
// are recorded the same way).
func callsCtl(s string) bool {
	return regexp.MustCompile(`(^|[\s($])((\.sinergi/bin/)?sinergictl|curl)\s`).MatchString(s)
}

// commands picks the lines of a block the script runs, with what the
// README expects of each.
func commands(t *testing.T, b block) (run []command, skipped []logical) {
	t.Helper()
	for i, l := range b.lines {
		trimmed := strings.TrimSpace(l.text)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.Contains(trimmed, "readme-test") {
			if !skipLine.MatchString(trimmed) {
				t.Fatalf("README.md:%d: a line's marker is # readme-test: skip: REASON", l.line)
			}
			skipped = append(skipped, l)
			continue
		}
		c := command{logical: l, ctl: callsCtl(trimmed)}
		if !c.ctl && (!assignment.MatchString(trimmed) || strings.Contains(trimmed, "$(")) {
			skipped = append(skipped, l)
			continue
		}
		code, rest := shellComment(trimmed)
		c.background = strings.HasSuffix(strings.TrimSpace(code), "&")
		// A code in the comment on its line, else in the comments under it.
		notes := []string{rest}
		for _, next := range b.lines[i+1:] {
			nt := strings.TrimSpace(next.text)
			if !strings.HasPrefix(nt, "#") {
				break
			}
			notes = append(notes, nt)
		}
		for _, note := range notes {
			if m := codeNote.FindStringSubmatch(note); m != nil && grpcCodes[m[1]] {
				c.want = m[1]
				if c.want == "INVALID_ARGUMENT" {
					c.field = strings.TrimRight(m[2], ".,;")
				}
				break
			}
		}
		run = append(run, c)
	}
	return run, skipped
}

// shellComment splits a line at its comment.
func shellComment(s string) (code, comment string) {
	at, _ := scanShell(s)
	if at < 0 {
		return s, ""
	}
	return s[:at], s[at:]
}

// scanShell reads s as bash quotes it: where its first comment starts (a #
// outside quotes that begins a word; -1 if none), and whether a quote is
// still open at its end. A comment runs to the end of its line.
func scanShell(s string) (comment int, open bool) {
	comment = -1
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				i++
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '\\':
			i++
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == '\n'):
			if comment < 0 {
				comment = i
			}
			for i < len(s) && s[i] != '\n' {
				i++
			}
		}
	}
	return comment, quote != 0
}

// wrapper is .sinergi/bin/sinergictl in the scripts' directory: the test
// binary as sinergictl, each call's exit status and error output recorded
// under the README line the script is at.
const wrapper = `#!/usr/bin/env bash
rec="$README_LOG/$README_LINE.$$"
: > "$rec.start"
` + asCtl + `=1 "$README_TEST_BIN" "$@" 2> "$rec.err"
code=$?
cat "$rec.err" >&2
echo "$code" > "$rec.code"
exit "$code"
`

// script writes the bash script of a block.
func script(cmds []command) string {
	var b strings.Builder
	b.WriteString("set -u\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "export README_LINE=%d\n", c.line)
		if !c.background {
			fmt.Fprintf(&b, "%s\n", c.text)
			continue
		}
		code, _ := shellComment(strings.TrimSpace(c.text))
		code = strings.TrimSuffix(strings.TrimSpace(code), "&")
		// Until it has printed something (a watch's first cursor), or ended.
		fmt.Fprintf(&b, "%s > \"$README_LOG/bg.%d.out\" 2>&1 &\n", code, c.line)
		fmt.Fprintf(&b, "pid=$!\nfor _ in $(seq 1200); do [ -s \"$README_LOG/bg.%d.out\" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done\n", c.line)
	}
	return b.String()
}

// call is one recorded sinergictl call.
type call struct {
	code   int // -1: still running, or killed
	stderr string
}

func calls(t *testing.T, logDir string, line int) []call {
	t.Helper()
	starts, _ := filepath.Glob(filepath.Join(logDir, fmt.Sprintf("%d.*.start", line)))
	sort.Strings(starts)
	var out []call
	for _, s := range starts {
		rec := strings.TrimSuffix(s, ".start")
		c := call{code: -1}
		if b, err := os.ReadFile(rec + ".code"); err == nil {
			c.code, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		b, _ := os.ReadFile(rec + ".err")
		c.stderr = string(b)
		out = append(out, c)
	}
	return out
}

// curlWrapper is curl in the scripts' PATH: the README's HTTP/JSON address
// sent to the test server's, an HTTP error a failure, each call recorded
// like sinergictl's.
const curlWrapper = `#!/usr/bin/env bash
rec="$README_LOG/$README_LINE.$$"
: > "$rec.start"
args=()
for a in "$@"; do args+=("${a//https:\/\/127.0.0.1:7444/https://$SINERGI_HTTP_ADDR}"); done
"$README_CURL" --fail-with-body -sS "${args[@]}" > "$rec.out" 2> "$rec.err"
code=$?
cat "$rec.out"
cat "$rec.out" >> "$rec.err"
cat "$rec.err" >&2
echo "$code" > "$rec.code"
exit "$code"
`

// TestREADME runs every sinergictl and curl command of README.md.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Abs("../../../docs")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("the README's commands are bash: %v", err)
	}
	blocks := parseREADME(t, string(readme))

	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	st := env.Server.Store
	dir, err := st.LoadDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	anchor := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if _, err := demodata.Load(ctx, st, 1, 300, demodata.FacilitiesOf(dir.Institutions), anchor); err != nil {
		t.Fatal(err)
	}
	if _, err := demodata.Firearms(ctx, st, time.Now()); err != nil {
		t.Fatal(err)
	}
	exp := &firearms.Expirer{Store: st, Audit: env.Server.Writer.Sealer(), Now: time.Now, Log: env.Server.Config().Log}
	if _, err := exp.Tick(ctx); err != nil {
		t.Fatal(err)
	}

	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, ".sinergi", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, ".sinergi", "bin", "sinergictl"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	realCurl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("the README calls the HTTP/JSON listener with curl: %v", err)
	}
	curlDir := filepath.Join(work, ".readme-bin")
	if err := os.MkdirAll(curlDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(curlDir, "curl"), []byte(curlWrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{filepath.Join(work, ".sinergi", "pki"): env.PKIDir, filepath.Join(work, "docs"): docs} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}

	ran := 0
	for _, b := range blocks {
		if b.skip != "" {
			t.Logf("README.md:%d (%s): block left out: %s", b.line, b.heading, b.skip)
			continue
		}
		cmds, skipped := commands(t, b)
		hasCtl := false
		for _, c := range cmds {
			hasCtl = hasCtl || c.ctl
		}
		if !hasCtl {
			continue
		}
		for _, l := range skipped {
			t.Logf("README.md:%d: not run: %s", l.line, strings.SplitN(strings.TrimSpace(l.text), "\n", 2)[0])
		}
		t.Run(fmt.Sprintf("line %d %s", b.line, b.heading), func(t *testing.T) {
			logDir := t.TempDir()
			cmd := exec.Command("bash", "-c", script(cmds))
			cmd.Dir = work
			cmd.Env = append(os.Environ(), "README_LOG="+logDir, "README_TEST_BIN="+self,
				"SINERGI_ADDR="+env.Addr(), "SINERGI_PKI_DIR=.sinergi/pki", "SINERGI_AS=", "SINERGI_OUTPUT=", asCtl+"=",
				"SINERGI_HTTP_ADDR="+env.HTTPAddr(), "README_CURL="+realCurl, "PATH="+curlDir+":"+os.Getenv("PATH"))
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			finished := false
			select {
			case <-done:
				finished = true
			case <-time.After(3 * time.Minute):
				t.Errorf("the block did not finish in 3 minutes (a watch without & ?)")
			}
			// The block's background watches end with it.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			if !finished {
				<-done
			}
			for _, c := range cmds {
				if !c.ctl {
					continue
				}
				ran++
				got := calls(t, logDir, c.line)
				where := fmt.Sprintf("README.md:%d: %s", c.line, strings.TrimSpace(c.text))
				switch {
				case len(got) == 0:
					t.Errorf("%s\n  never ran sinergictl", where)
				case c.background:
					for _, g := range got {
						if g.code > 0 && c.want == "" {
							t.Errorf("%s\n  ended with exit %d while the block ran:\n%s", where, g.code, g.stderr)
						}
					}
				case c.want != "":
					g := got[len(got)-1]
					if g.code != 1 || !strings.Contains(g.stderr, c.want) || c.field != "" && !strings.Contains(g.stderr, c.field) {
						t.Errorf("%s\n  exit %d, want %s %s:\n%s", where, g.code, c.want, c.field, g.stderr)
					}
				default:
					for _, g := range got {
						if g.code != 0 {
							t.Errorf("%s\n  exit %d:\n%s", where, g.code, g.stderr)
						}
					}
				}
			}
			if t.Failed() {
				t.Logf("the block's output:\n%s", out.String())
			}
		})
	}
	if ran < 20 {
		t.Fatalf("ran only %d sinergictl commands of the README", ran)
	}
}

// The parser finds what a block expects of its commands.
func TestParse(t *testing.T) {
	text := "## A\n\n```sh\nX=\"--a b\"\n.sinergi/bin/sinergictl --as a x y $X   # NOT_FOUND: as if missing\n" +
		".sinergi/bin/sinergictl --as a x z \\\n    --c d\n#   INVALID_ARGUMENT: access.purpose\n" +
		"W=$(.sinergi/bin/sinergi witness key)\n.sinergi/bin/sinergictl --as a w v &   # live\n" +
		".sinergi/bin/sinergictl --as a q # readme-test: skip: needs a terminal\n```\n\n" +
		"<!-- readme-test: skip: a real standby -->\n```sh\n.sinergi/bin/sinergictl x y\n```\n"
	blocks := parseREADME(t, text)
	if len(blocks) != 2 || blocks[0].heading != "A" || blocks[1].skip != "a real standby" {
		t.Fatalf("blocks: %+v", blocks)
	}
	run, skipped := commands(t, blocks[0])
	if len(run) != 4 || len(skipped) != 2 {
		t.Fatalf("run %+v\nskipped %+v", run, skipped)
	}
	if run[0].ctl || run[1].want != "NOT_FOUND" || run[2].want != "INVALID_ARGUMENT" || run[2].field != "access.purpose" ||
		run[2].line != 6 || !run[3].background || run[3].want != "" {
		t.Fatalf("commands: %+v", run)
	}
}
