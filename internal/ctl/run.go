package ctl

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Registers the sinergi.v1 descriptors and types that the catalog walks.
	_ "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

const helpHint = "Run 'sinergictl help' for usage."

// Run is sinergictl. args are the arguments after the program name, env
// looks up an environment variable (os.Getenv), and the result is the exit
// status: 0 done, 1 the call failed, 2 the command line is wrong, 130
// interrupted. Cancelling ctx (Ctrl-C) ends a call or a stream.
func Run(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{
		files: protoregistry.GlobalFiles, types: protoregistry.GlobalTypes, pkg: apiPackage,
		env: env, stdin: stdin, stdout: stdout, stderr: stderr,
	}
	return a.run(ctx, args)
}

// app is one invocation. Its registries are the global ones except in tests
// that bring services of their own (streaming ones, which sinergi.v1 does
// not have yet).
type app struct {
	files *protoregistry.Files
	types *protoregistry.Types
	pkg   protoreflect.FullName

	env            func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

var errInterrupted = errors.New("interrupted")

func (a *app) run(ctx context.Context, args []string) int {
	err := a.exec(ctx, args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	}
	return writeError(a.stderr, err)
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are written by Run, in its words
	fs.Usage = func() {}
	return fs
}

func (a *app) exec(ctx context.Context, args []string) error {
	cat, err := loadCatalog(a.files, a.types, a.pkg)
	if err != nil {
		return err
	}
	opts, globals, err := loadOptions(a.env)
	if err != nil {
		return err
	}
	fs := newFlagSet("sinergictl")
	registerGlobals(fs, globals, nil)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return writeHelp(a.stdout, cat, globals)
		}
		return usagef(helpHint, "%s", flagError(err))
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return writeHelp(a.stdout, cat, globals)
	}
	if rest[0] == "help" {
		return a.help(cat, globals, rest[1:])
	}
	_, m, err := lookup(cat, rest[0], rest[1:])
	if err != nil {
		return err
	}
	rf, req, err := parseMethod(m, rest[2:], globals, a.stdin)
	if errors.Is(err, flag.ErrHelp) {
		return writeMethodHelp(a.stdout, m, rf, globals)
	}
	if err != nil {
		return err
	}
	if err := opts.validate(); err != nil {
		return err
	}
	conn, err := opts.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	return a.call(ctx, conn, m, req, rf, opts)
}

// parseMethod reads the command line after the method: its request flags,
// -d, and global flags the request leaves free. It builds the request but
// for a client stream, whose requests come from --file. On --help it
// returns flag.ErrHelp with the flags, for the help text.
func parseMethod(m *method, args []string, globals []globalFlag, stdin io.Reader) (*requestFlags, proto.Message, error) {
	hint := fmt.Sprintf("Run 'sinergictl %s %s --help' for its flags.", m.service.name, m.name)
	rf, err := newRequestFlags(m.request)
	if err != nil {
		return nil, nil, err
	}
	clientStream := m.desc.IsStreamingClient()
	fs := newFlagSet(m.name)
	rf.register(fs, clientStream)
	// Global flags may follow the method, unless the request has a field of
	// the same name: then the flag is the field's.
	registerGlobals(fs, globals, func(name string) bool { return fs.Lookup(name) != nil })
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return rf, nil, err
		}
		return nil, nil, usagef(hint, "%s", flagError(err))
	}
	if len(fs.Args()) > 0 {
		return nil, nil, usagef(hint, "unexpected argument %q (values go after a flag, e.g. --code VALUE; quote values with spaces)", fs.Args()[0])
	}
	req := m.request.New()
	if !clientStream {
		if err := rf.build(req, stdin); err != nil {
			return nil, nil, usagef(hint, "%v", err)
		}
	}
	return rf, req.Interface(), nil
}

// flagError writes the flag package's errors with the dashes users type:
// "invalid value for flag -kind" becomes "... --kind".
func flagError(err error) string {
	return longFlag.ReplaceAllString(err.Error(), "$1--$2")
}

var longFlag = regexp.MustCompile(`(^|\s)-([a-z0-9][a-z0-9.-]+)`)

// lookup finds the method the command line names.
func lookup(cat *catalog, serviceWord string, rest []string) (*service, *method, error) {
	svc := cat.service(serviceWord)
	if svc == nil {
		return nil, nil, usagef(helpHint, "unknown service %q; the services are: %s", serviceWord, strings.Join(cat.serviceNames(), ", "))
	}
	hint := fmt.Sprintf("Run 'sinergictl help %s' for its methods.", svc.name)
	if len(rest) == 0 {
		return nil, nil, usagef(hint, "missing method; the methods of %s are: %s", svc.name, strings.Join(svc.methodNames(), ", "))
	}
	m := svc.method(rest[0])
	if m == nil {
		return nil, nil, usagef(hint, "unknown method %q of %s; its methods are: %s", rest[0], svc.name, strings.Join(svc.methodNames(), ", "))
	}
	return svc, m, nil
}

// help answers "sinergictl help [service [method]]".
func (a *app) help(cat *catalog, globals []globalFlag, args []string) error {
	if len(args) == 0 {
		return writeHelp(a.stdout, cat, globals)
	}
	if svc := cat.service(args[0]); svc != nil && len(args) == 1 {
		return writeServiceHelp(a.stdout, svc)
	}
	_, m, err := lookup(cat, args[0], args[1:])
	if err != nil {
		return err
	}
	rf, err := newRequestFlags(m.request)
	if err != nil {
		return err
	}
	return writeMethodHelp(a.stdout, m, rf, globals)
}

func writeHelp(w io.Writer, cat *catalog, globals []globalFlag) error {
	tw := newHelpWriter(w)
	fmt.Fprint(tw, `sinergictl calls the Sinergi service, which exchanges custody data between
prisons and the police, over mutual TLS.

Usage:
  sinergictl [global flags] <service> <method> [request flags]
  sinergictl <service> <method> --help    the request flags of a method
  sinergictl help [<service> [<method>]]

Services and methods:
`)
	for _, s := range cat.services {
		writeRow(tw, "  "+s.name, describe(s.desc, ""))
		for _, m := range s.methods {
			writeRow(tw, "    "+m.name, describe(m.desc, m.shape()))
		}
	}
	fmt.Fprint(tw, "\nGlobal flags (also after the method; each falls back to its environment variable):\n")
	writeGlobalFlags(tw, globals)
	fmt.Fprint(tw, `
Request flags are the request's fields: --page-size 10, enums by short name
(--kind lapas), times as RFC 3339, a date (midnight WIB) or relative to now
(now, +90d, -2h, +1w), nested fields with a dot (--access.purpose
criminal-investigation), lists repeated or comma-separated. -d '<json>' (or
-d @file.json, or -d - for stdin) gives the whole request as protojson; flags
apply on top of it.

Output: -o table for people (nested fields as columns, at most 120 characters
wide, times in WIB to the minute); -o json for scripts (every field, set or
not, under its proto name; 64-bit integers as numbers; times in WIB, or UTC
with --utc). A client stream (custody sync-roster) reads one request per line
from --file, or one of its messages bare ({"register_number": ...}).

Examples:
  sinergictl --as polres-metro-jakarta-timur institution list-institutions --kind lapas --region-prefix 31
  sinergictl --as polres-metro-jakarta-timur -o json institution get-institution --code lapas-cipinang
  sinergictl --as mabes-polri agreement confirm-agreement --id pks-2026-lapas-cipinang-polres-jaktim \
      --access.operator-id 85051234 --access.purpose administration
`)
	return tw.Flush()
}

// describe is a service's or method's proto comment, when the descriptors
// carry it, and how a method streams.
func describe(d protoreflect.Descriptor, shape string) string {
	text := comment(d)
	if shape != "" && shape != "unary" {
		text = strings.TrimSpace(text + " [" + shape + "]")
	}
	return text
}

func writeGlobalFlags(tw io.Writer, globals []globalFlag) {
	for _, f := range globals {
		name := "--" + f.name
		if f.short != "" {
			name = "-" + f.short + ", " + name
		}
		usage := f.usage
		if f.def != "" {
			usage += " (default " + f.def + ")"
		}
		fmt.Fprintf(tw, "  %s %s\t%s\t%s\n", name, f.arg, f.env, usage)
	}
}

func writeServiceHelp(w io.Writer, s *service) error {
	tw := newHelpWriter(w)
	fmt.Fprintf(tw, "Usage: sinergictl [global flags] %s <method> [request flags]\n\n", s.name)
	if c := comment(s.desc); c != "" {
		fmt.Fprintf(tw, "%s\n\n", c)
	}
	fmt.Fprintf(tw, "Methods of %s:\n", s.desc.FullName())
	for _, m := range s.methods {
		writeRow(tw, "  "+m.name, describe(m.desc, m.shape()))
	}
	fmt.Fprintf(tw, "\nRun 'sinergictl %s <method> --help' for a method's flags.\n", s.name)
	return tw.Flush()
}

func writeMethodHelp(w io.Writer, m *method, rf *requestFlags, globals []globalFlag) error {
	tw := newHelpWriter(w)
	fmt.Fprintf(tw, "Usage: sinergictl [global flags] %s %s [request flags]\n\n", m.service.name, m.name)
	if c := comment(m.desc); c != "" {
		fmt.Fprintf(tw, "%s\n\n", c)
	}
	fmt.Fprintf(tw, "Calls %s (%s).\n", m.fullMethod, m.shape())
	in, out := m.request.Descriptor().FullName(), m.response.Descriptor().FullName()
	if m.desc.IsStreamingClient() {
		fmt.Fprintf(tw, "Sends a %s for each line of protojson read from --file or standard input.\n", in)
	} else {
		fmt.Fprintf(tw, "Sends a %s built from the flags below.\n", in)
	}
	if m.desc.IsStreamingServer() {
		fmt.Fprintf(tw, "Prints each %s as it arrives, until the stream ends or Ctrl-C.\n\n", out)
	} else {
		fmt.Fprintf(tw, "Prints the %s.\n\n", out)
	}
	fmt.Fprint(tw, "Request flags:\n")
	if m.desc.IsStreamingClient() {
		fmt.Fprint(tw, "  --file PATH\trequests as protojson, one per line (default: standard input)\n")
		fmt.Fprintf(tw, "\nFields of each line (%s):\n", in)
		fields := m.request.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			note := protoType(fd)
			if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
				note += "; oneof " + string(o.Name())
			}
			writeRow(tw, "  "+string(fd.Name()), note)
		}
	} else {
		for _, f := range rf.fields {
			arg, desc := f.help()
			writeRow(tw, strings.TrimRight("  --"+f.name+" "+arg, " "), desc)
		}
		fmt.Fprint(tw, "  -d, --data JSON\tthe whole request as protojson; @FILE reads a file, - standard input; flags apply on top\n")
		if len(rf.viaData) > 0 {
			fmt.Fprintf(tw, "\nOnly through -d: %s.\n", strings.Join(rf.viaData, ", "))
		}
	}
	fmt.Fprint(tw, "\nGlobal flags:\n")
	writeGlobalFlags(tw, globals)
	return tw.Flush()
}

// helpWriter aligns help text in columns, leaving no spaces at line ends
// where a row has nothing in its last column.
type helpWriter struct {
	out io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newHelpWriter(out io.Writer) *helpWriter {
	h := &helpWriter{out: out}
	h.tw = tabwriter.NewWriter(&h.buf, 0, 0, 2, ' ', 0)
	return h
}

func (h *helpWriter) Write(p []byte) (int, error) { return h.tw.Write(p) }

func (h *helpWriter) Flush() error {
	if err := h.tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(h.buf.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimSuffix(l, "\n"), " ")
	}
	_, err := io.WriteString(h.out, strings.Join(lines, "\n"))
	return err
}

// writeRow writes a name and its description as two columns.
func writeRow(w io.Writer, name, desc string) {
	fmt.Fprintf(w, "%s\t%s\n", name, desc)
}

// protoType names a field's type as the .proto file would.
func protoType(fd protoreflect.FieldDescriptor) string {
	var t string
	switch {
	case fd.IsMap():
		return fmt.Sprintf("map<%s, %s>", protoType(fd.MapKey()), protoType(fd.MapValue()))
	case fd.Message() != nil:
		t = string(fd.Message().FullName())
	case fd.Enum() != nil:
		t = string(fd.Enum().FullName())
	default:
		t = fd.Kind().String()
	}
	if fd.IsList() {
		t = "repeated " + t
	}
	return t
}
