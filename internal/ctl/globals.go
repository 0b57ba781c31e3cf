package ctl

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sinergi-id/sinergi/internal/pki"
)

const (
	defaultAddr    = "127.0.0.1:7443"
	defaultPKIDir  = ".sinergi/pki"
	defaultTimeout = 30 * time.Second
)

// options are the global flags.
type options struct {
	addr, ca, cert, key, as, pkiDir, output, requestID string
	timeout                                            optionalDuration
	utc                                                bool
}

// view is how this invocation prints times: in WIB, or in UTC with --utc.
func (o *options) view() *view {
	if o.utc {
		return &view{zone: time.UTC}
	}
	return &view{zone: wib}
}

// optionalDuration is a duration that remembers whether it was given, since
// unary calls and streams default differently.
type optionalDuration struct {
	d   time.Duration
	set bool
}

func (o *optionalDuration) String() string {
	if !o.set {
		return ""
	}
	return o.d.String()
}

func (o *optionalDuration) Set(s string) error {
	if s == "" {
		*o = optionalDuration{}
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return errors.New("want a duration such as 30s or 2m (0 for none)")
	}
	*o = optionalDuration{d: d, set: true}
	return nil
}

// globalFlag is one global flag with its environment fallback.
type globalFlag struct {
	name, short, env, arg, def, usage string
	value                             flag.Value
}

type stringValue struct{ p *string }

func (s stringValue) String() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}
func (s stringValue) Set(v string) error { *s.p = v; return nil }

type boolValue struct{ p *bool }

func (b boolValue) String() string {
	if b.p == nil {
		return ""
	}
	return strconv.FormatBool(*b.p)
}

func (b boolValue) Set(v string) error {
	if v == "" {
		*b.p = false
		return nil
	}
	x, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("want true or false")
	}
	*b.p = x
	return nil
}

func (b boolValue) IsBoolFlag() bool { return true }

func (o *options) flags() []globalFlag {
	return []globalFlag{
		{name: "addr", env: "SINERGI_ADDR", arg: "HOST:PORT", def: defaultAddr, usage: "server address", value: stringValue{&o.addr}},
		{name: "as", env: "SINERGI_AS", arg: "CODE", usage: "call as this institution: use <pki-dir>/CODE.crt and CODE.key", value: stringValue{&o.as}},
		{name: "cert", env: "SINERGI_CERT", arg: "FILE", usage: "client certificate (PEM); overrides --as", value: stringValue{&o.cert}},
		{name: "key", env: "SINERGI_KEY", arg: "FILE", usage: "client certificate's key (PEM)", value: stringValue{&o.key}},
		{name: "ca", env: "SINERGI_CA", arg: "FILE", usage: "CA certificates to verify the server (default <pki-dir>/ca.crt)", value: stringValue{&o.ca}},
		{name: "pki-dir", env: "SINERGI_PKI_DIR", arg: "DIR", def: defaultPKIDir, usage: "directory of the development PKI", value: stringValue{&o.pkiDir}},
		{name: "output", short: "o", env: "SINERGI_OUTPUT", arg: "FORMAT", def: outputTable, usage: "table or json", value: stringValue{&o.output}},
		{name: "utc", env: "SINERGI_UTC", usage: "print times in UTC instead of WIB (+07:00)", value: boolValue{&o.utc}},
		{name: "timeout", env: "SINERGI_TIMEOUT", arg: "DURATION", usage: "give up after this long (default 30s for a unary call, none for a stream)", value: &o.timeout},
		{name: "request-id", env: "SINERGI_REQUEST_ID", arg: "ID", usage: "sent as x-request-id metadata, to find the call in the server's logs and audit", value: stringValue{&o.requestID}},
	}
}

// loadOptions sets every global flag to its environment variable, or else
// its default, before the command line is read.
func loadOptions(env func(string) string) (*options, []globalFlag, error) {
	o := &options{}
	flags := o.flags()
	for _, f := range flags {
		v := f.def
		if e := env(f.env); e != "" {
			v = e
		}
		if err := f.value.Set(v); err != nil {
			return nil, nil, usagef(helpHint, "%s=%q: %v", f.env, env(f.env), err)
		}
	}
	return o, flags, nil
}

// register adds the global flags to fs, but for names skip says are taken.
func registerGlobals(fs *flag.FlagSet, flags []globalFlag, skip func(string) bool) {
	for _, f := range flags {
		for _, name := range []string{f.name, f.short} {
			if name != "" && (skip == nil || !skip(name)) {
				fs.Var(f.value, name, f.usage)
			}
		}
	}
}

func (o *options) validate() error {
	if o.output != outputTable && o.output != outputJSON {
		return usagef(helpHint, "-o %q: want table or json", o.output)
	}
	return nil
}

// tlsFiles picks the client certificate: --cert/--key when given, else the
// one --as names in the PKI directory.
func (o *options) tlsFiles() (pki.Files, error) {
	f := pki.Files{Cert: o.cert, Key: o.key, CA: o.ca}
	if f.CA == "" {
		f.CA = pki.CACertPath(o.pkiDir)
	}
	switch {
	case o.cert != "" || o.key != "":
		if o.cert == "" || o.key == "" {
			return f, usagef(helpHint, "--cert and --key go together: give both")
		}
	case o.as != "":
		f.Cert, f.Key = pki.ClientCertPath(o.pkiDir, o.as), pki.ClientKeyPath(o.pkiDir, o.as)
		if _, err := os.Stat(f.Cert); err != nil {
			return f, fmt.Errorf("no certificate for institution %q: %s does not exist (is --pki-dir right? check the code, or pass --cert and --key)", o.as, f.Cert)
		}
	default:
		return f, usagef(helpHint, "no client certificate: pass --as <institution-code> to use %s, or --cert and --key (or set SINERGI_AS, or SINERGI_CERT and SINERGI_KEY)",
			filepath.Join(o.pkiDir, "<code>.crt"))
	}
	return f, nil
}

// dial makes a client connection over mutual TLS. It does not connect yet:
// the first call does.
func (o *options) dial() (*grpc.ClientConn, error) {
	files, err := o.tlsFiles()
	if err != nil {
		return nil, err
	}
	target, host := targetAndHost(o.addr)
	cfg, err := pki.ClientTLS(files, host)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w", o.addr, err)
	}
	return conn, nil
}

// targetAndHost returns the gRPC target for addr and the host the server's
// certificate must name. A missing port means the default one.
func targetAndHost(addr string) (target, host string) {
	hostPort := addr
	if i := strings.LastIndex(addr, "/"); strings.Contains(addr, "://") && i >= 0 {
		hostPort = addr[i+1:]
	}
	h, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		_, port, _ := net.SplitHostPort(defaultAddr)
		h = strings.Trim(hostPort, "[]")
		if hostPort == addr {
			return net.JoinHostPort(h, port), h
		}
	}
	return addr, h
}
