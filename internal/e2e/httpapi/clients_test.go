package httpapi_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/servertest"
)

// The client examples run in make test: a missing tool fails the test
// (.ci/run installs Node, npm and Debian's grpcio and protoc), it is never
// skipped.

// root is the repository's top directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "buf.yaml")); err != nil {
		t.Fatalf("%s is not the repository's top: %v", dir, err)
	}
	return dir
}

// need finds a program, failing the test without it.
func need(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatalf("none of %v is installed (.ci/run installs them)", names)
	return ""
}

// run runs a command in dir and returns what it printed; a failure ends the test.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out.String())
	}
	return out.String()
}

// exampleEnv points an example at env's server as polres-metro.
func exampleEnv(env *servertest.Env) []string {
	return []string{
		"SINERGI_PKI=" + env.PKIDir,
		"SINERGI_AS=polres-metro",
		"SINERGI_ADDR=" + env.Addr(),
		"SINERGI_HTTP_URL=https://" + env.HTTPAddr(),
		"SINERGI_NIK=", "SINERGI_RECORD_ID=",
	}
}

// checkExample reads what an example printed: the directory, the person
// held at lapas-metro, their record, and the NIK's field violation.
func checkExample(t *testing.T, out string) {
	t.Helper()
	t.Logf("the example printed:\n%s", out)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^institutions: [1-9][0-9]*$`),
		regexp.MustCompile(`(?m)^presence: held at lapas-metro since 20[0-9-]+T`),
		regexp.MustCompile(`(?m)^record: \S+ HT\.[0-9]+ at lapas-metro$`),
		regexp.MustCompile(`(?m)^field violation nik: .+`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the example's output has no line like %s:\n%s", want, out)
		}
	}
}

// TestTypeScriptExample builds clients/typescript (buf and protoc-gen-es,
// tsc) and runs its example through the Connect protocol on the HTTP/JSON
// listener.
func TestTypeScriptExample(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	admitted(t, env)
	top := root(t)
	dir := filepath.Join(top, "clients", "typescript")
	node, npm := need(t, "node"), need(t, "npm")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", "protoc-gen-es")); err != nil {
		run(t, dir, nil, npm, "ci", "--no-audit", "--no-fund")
	}
	if _, err := os.Stat(filepath.Join(top, ".sinergi", "bin", "buf")); err != nil {
		run(t, top, nil, need(t, "make"), "tools")
	}
	run(t, dir, nil, npm, "run", "build")
	checkExample(t, run(t, dir, exampleEnv(env), node, "dist/example.js"))
}

// TestPythonExample generates clients/python's stubs and runs its example
// over gRPC with Debian's grpcio.
func TestPythonExample(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	admitted(t, env)
	dir := filepath.Join(root(t), "clients", "python")
	need(t, "protoc")
	need(t, "npm")
	// Debian's python3, which has python3-grpcio, before any other on PATH.
	python := need(t, "/usr/bin/python3", "python3")
	run(t, dir, nil, need(t, "bash"), "generate.sh")
	checkExample(t, run(t, dir, exampleEnv(env), python, "example.py"))
}
