package ctl

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fieldFlag is the flag of one field of the request, or of a message nested
// in it (--access.operator-id). It keeps what was given until the request is
// built, so that flags apply on top of -d whatever their order.
type fieldFlag struct {
	name       string // access.operator-id
	path       []protoreflect.FieldDescriptor
	newMessage func() protoreflect.Message // an empty value of a scalar-message leaf
	values     []protoreflect.Value        // lists: every element; otherwise the last is used
	mapKeys    []protoreflect.MapKey
	given      bool
}

func (f *fieldFlag) leaf() protoreflect.FieldDescriptor { return f.path[len(f.path)-1] }

// presence flags set a field whose message has no fields (google.protobuf.Empty
// as a oneof choice): --all means "all: {}".
func (f *fieldFlag) presence() bool {
	l := f.leaf()
	return l.Message() != nil && !l.IsList() && !l.IsMap() && !scalarMessage(l.Message())
}

func (f *fieldFlag) String() string { return "" }

// IsBoolFlag lets a bool field be given without a value: --covered.
func (f *fieldFlag) IsBoolFlag() bool {
	l := f.leaf()
	if l.IsList() || l.IsMap() {
		return false
	}
	if f.presence() || l.Kind() == protoreflect.BoolKind {
		return true
	}
	return l.Message() != nil && l.Message().FullName() == "google.protobuf.BoolValue"
}

func (f *fieldFlag) Set(s string) error {
	l := f.leaf()
	f.given = true
	switch {
	case f.presence():
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		f.values = []protoreflect.Value{protoreflect.ValueOfBool(b)}
	case l.IsMap():
		if s == "" {
			return nil
		}
		for _, item := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(item, "=")
			if !ok {
				return fmt.Errorf("want KEY=VALUE, got %q", item)
			}
			key, err := parseValue(l.MapKey(), k, nil)
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			val, err := parseValue(l.MapValue(), v, f.newMessage)
			if err != nil {
				return fmt.Errorf("value %q: %w", v, err)
			}
			f.mapKeys = append(f.mapKeys, key.MapKey())
			f.values = append(f.values, val)
		}
	case l.IsList():
		// An empty value empties the list, e.g. to drop what -d gave.
		if s == "" {
			return nil
		}
		for _, item := range strings.Split(s, ",") {
			v, err := parseValue(l, strings.TrimSpace(item), f.newMessage)
			if err != nil {
				return fmt.Errorf("%q: %w", item, err)
			}
			f.values = append(f.values, v)
		}
	default:
		v, err := parseValue(l, s, f.newMessage)
		if err != nil {
			return err
		}
		f.values = []protoreflect.Value{v}
	}
	return nil
}

// apply writes the flag's value into req, creating the messages on its path.
func (f *fieldFlag) apply(req protoreflect.Message) {
	m := req
	for _, fd := range f.path[:len(f.path)-1] {
		m = m.Mutable(fd).Message()
	}
	l := f.leaf()
	switch {
	case f.presence():
		if f.values[0].Bool() {
			m.Mutable(l)
		} else {
			m.Clear(l)
		}
	case l.IsMap():
		// Keys add to (or replace keys of) the map -d gave.
		mp := m.Mutable(l).Map()
		for i, k := range f.mapKeys {
			mp.Set(k, f.values[i])
		}
	case l.IsList():
		// The elements replace the list -d gave: merging two lists has no
		// meaning a user could guess.
		m.Clear(l)
		if len(f.values) > 0 {
			list := m.Mutable(l).List()
			for _, v := range f.values {
				list.Append(v)
			}
		}
	default:
		m.Set(l, f.values[len(f.values)-1])
	}
}

// requestFlags are the flags of one method's request.
type requestFlags struct {
	fields []*fieldFlag
	// viaData are fields no flag can set (lists of messages, recursive
	// messages, names taken by other flags): -d sets them.
	viaData []string
	data    string // -d: the request as protojson, @FILE or - for stdin
	file    string // --file: client-stream requests, protojson lines
}

// Flags that are not request fields. A field with one of these names is set
// through -d.
var metaFlagNames = map[string]bool{"d": true, "data": true, "file": true, "h": true, "help": true}

// newRequestFlags makes a flag for every field of md that takes a
// command-line value, flattening nested messages with dots.
func newRequestFlags(rt protoreflect.MessageType) (*requestFlags, error) {
	rf := &requestFlags{}
	taken := map[string]bool{}
	if err := rf.walk(rt.New(), nil, "", "", map[protoreflect.FullName]bool{rt.Descriptor().FullName(): true}, taken); err != nil {
		return nil, err
	}
	return rf, nil
}

func (rf *requestFlags) walk(scratch protoreflect.Message, path []protoreflect.FieldDescriptor, prefix, protoPrefix string, open map[protoreflect.FullName]bool, taken map[string]bool) error {
	fields := scratch.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := prefix + strings.ReplaceAll(string(fd.Name()), "_", "-")
		protoPath := protoPrefix + string(fd.Name())
		p := append(append([]protoreflect.FieldDescriptor(nil), path...), fd)
		f := &fieldFlag{name: name, path: p}
		switch {
		case metaFlagNames[name]:
			rf.viaData = append(rf.viaData, protoPath+" (its flag name is taken)")
			continue
		case fd.IsMap():
			if !scalarLike(fd.MapKey()) || !scalarLike(fd.MapValue()) {
				rf.viaData = append(rf.viaData, protoPath)
				continue
			}
			f.newMessage = func() protoreflect.Message { return scratch.NewField(fd).Map().NewValue().Message() }
		case fd.IsList():
			if !scalarLike(fd) {
				rf.viaData = append(rf.viaData, protoPath)
				continue
			}
			f.newMessage = func() protoreflect.Message { return scratch.NewField(fd).List().NewElement().Message() }
		case fd.Message() != nil && scalarMessage(fd.Message()):
			f.newMessage = func() protoreflect.Message { return scratch.NewField(fd).Message() }
		case fd.Message() != nil && fd.Message().Fields().Len() > 0:
			if open[fd.Message().FullName()] {
				rf.viaData = append(rf.viaData, protoPath)
				continue
			}
			open[fd.Message().FullName()] = true
			err := rf.walk(scratch.NewField(fd).Message(), p, name+".", protoPath+".", open, taken)
			delete(open, fd.Message().FullName())
			if err != nil {
				return err
			}
			continue
		}
		if taken[name] {
			return fmt.Errorf("two fields of %s have the flag name --%s", scratch.Descriptor().FullName(), name)
		}
		taken[name] = true
		rf.fields = append(rf.fields, f)
	}
	return nil
}

// register adds the request's flags to fs. Client-stream methods take their
// requests from --file instead.
func (rf *requestFlags) register(fs *flag.FlagSet, clientStream bool) {
	if clientStream {
		fs.StringVar(&rf.file, "file", "", "")
		return
	}
	for _, f := range rf.fields {
		fs.Var(f, f.name, "")
	}
	fs.StringVar(&rf.data, "data", "", "")
	fs.StringVar(&rf.data, "d", "", "")
}

// build makes the request: first -d, then every flag given on top of it.
func (rf *requestFlags) build(req protoreflect.Message, stdin io.Reader) error {
	if rf.data != "" {
		b, err := readData(rf.data, stdin)
		if err != nil {
			return fmt.Errorf("-d: %w", err)
		}
		if err := protojson.Unmarshal(b, req.Interface()); err != nil {
			return fmt.Errorf("-d: %w", err)
		}
	}
	if err := rf.checkOneofs(); err != nil {
		return err
	}
	for _, f := range rf.fields {
		if f.given {
			f.apply(req)
		}
	}
	return nil
}

// checkOneofs refuses two flags that set different members of one oneof,
// which would otherwise leave only the last one silently.
func (rf *requestFlags) checkOneofs() error {
	type choice struct{ member, flag string }
	chosen := map[string]choice{}
	for _, f := range rf.fields {
		if !f.given {
			continue
		}
		at := ""
		for _, fd := range f.path {
			if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
				key := at + "/" + string(o.Name())
				if c, ok := chosen[key]; ok && c.member != string(fd.Name()) {
					return fmt.Errorf("--%s and --%s set different members of oneof %s: give one", c.flag, f.name, o.Name())
				}
				chosen[key] = choice{member: string(fd.Name()), flag: f.name}
			}
			at += "/" + string(fd.Name())
		}
	}
	return nil
}

func readData(arg string, stdin io.Reader) ([]byte, error) {
	switch {
	case arg == "-":
		return io.ReadAll(stdin)
	case strings.HasPrefix(arg, "@"):
		return os.ReadFile(arg[1:])
	}
	return []byte(arg), nil
}

// help describes one flag: its value's form and what it accepts.
func (f *fieldFlag) help() (arg, desc string) {
	l := f.leaf()
	var notes []string
	if o := l.ContainingOneof(); o != nil && !o.IsSynthetic() {
		notes = append(notes, "oneof "+string(o.Name()))
	}
	switch {
	case f.presence():
		return "", strings.Join(append(notes, "sets "+string(l.Name())+" (an empty message)"), "; ")
	case l.IsMap():
		_, kd := valueHelp(l.MapKey())
		va, vd := valueHelp(l.MapValue())
		arg = "KEY=" + va
		notes = append(notes, "repeatable or comma-separated")
		if kd != "" {
			notes = append(notes, "key: "+kd)
		}
		if vd != "" {
			notes = append(notes, "value: "+vd)
		}
		return arg, strings.Join(notes, "; ")
	case l.IsList():
		notes = append(notes, "repeatable or comma-separated")
	}
	arg, d := valueHelp(l)
	if d != "" {
		notes = append([]string{d}, notes...)
	}
	if f.IsBoolFlag() {
		arg = ""
	}
	return arg, strings.Join(notes, "; ")
}

func valueHelp(fd protoreflect.FieldDescriptor) (arg, desc string) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return "BOOL", ""
	case protoreflect.StringKind:
		return "TEXT", ""
	case protoreflect.BytesKind:
		return "BASE64", ""
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "NUMBER", ""
	case protoreflect.EnumKind:
		return upperSnake(string(fd.Enum().Name())), strings.Join(enumChoices(fd.Enum()), " | ")
	case protoreflect.MessageKind, protoreflect.GroupKind:
		switch md := fd.Message(); {
		case md.FullName() == timestampName:
			return "TIME", "RFC 3339, YYYY-MM-DD for midnight WIB, or relative: now, +90d, -2h"
		case md.FullName() == durationName:
			return "DURATION", "e.g. 90s, 15m, 2h30m"
		case wrapperNames[md.FullName()]:
			return valueHelp(md.Fields().ByName("value"))
		}
	}
	return strings.ToUpper(fd.Kind().String()), ""
}
