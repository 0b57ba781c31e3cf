package ctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const (
	outputTable = "table"
	outputJSON  = "json"
)

var jsonOptions = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false}

// writeJSON writes a whole response as indented protojson. protojson varies
// its whitespace on purpose; re-indenting makes it the same on every build.
func writeJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = out.WriteTo(w)
	return err
}

// writeJSONLine writes one streamed message as one line of protojson.
func writeJSONLine(w io.Writer, m proto.Message) error {
	_, err := fmt.Fprintln(w, compactJSON(m.ProtoReflect()))
	return err
}

// isMessageList reports whether fd is a list of messages, other than of
// messages shown as one value (timestamps, wrappers).
func isMessageList(fd protoreflect.FieldDescriptor) bool {
	return fd.IsList() && fd.Message() != nil && !scalarMessage(fd.Message())
}

// tableField is the one repeated message field of a response that makes it a
// table (ListInstitutionsResponse.institutions), or nil.
func tableField(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	var found protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); isMessageList(fd) {
			if found != nil {
				return nil
			}
			found = fd
		}
	}
	return found
}

// writeTable writes a response for a reader: a table of its one list of
// messages followed by the rest as key: value lines, or, for any other
// response, key: value lines.
func writeTable(w io.Writer, m protoreflect.Message) error {
	list := tableField(m.Descriptor())
	if list == nil {
		var b strings.Builder
		writeBlock(&b, m, "", nil)
		_, err := io.WriteString(w, b.String())
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := m.Get(list).List()
	if rows.Len() == 0 {
		fmt.Fprintf(tw, "(no %s)\n", strings.ReplaceAll(string(list.Name()), "_", " "))
	} else {
		columns := list.Message().Fields()
		fmt.Fprintln(tw, strings.Join(headers(columns), "\t"))
		for i := range rows.Len() {
			fmt.Fprintln(tw, strings.Join(cells(rows.Get(i).Message()), "\t"))
		}
	}
	// The rest (next_page_token) goes below the table, aligned on its own.
	if err := tw.Flush(); err != nil {
		return err
	}
	var rest strings.Builder
	writeBlock(&rest, m, "", list)
	if rest.Len() > 0 {
		_, err := fmt.Fprintf(w, "\n%s", rest.String())
		return err
	}
	return nil
}

func headers(fields protoreflect.FieldDescriptors) []string {
	out := make([]string, fields.Len())
	for i := range fields.Len() {
		out[i] = strings.ToUpper(string(fields.Get(i).Name()))
	}
	return out
}

// cells writes every field of a row. An unset field is "-" so that a reader
// tells an empty cell from a misaligned one; numbers and bools show their
// zero, which is a value.
func cells(m protoreflect.Message) []string {
	fields := m.Descriptor().Fields()
	out := make([]string, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		s := cell(m, fd)
		if s == "" || !m.Has(fd) && !numberOrBool(fd) {
			s = "-"
		}
		out[i] = s
	}
	return out
}

func numberOrBool(fd protoreflect.FieldDescriptor) bool {
	if fd.IsList() || fd.IsMap() {
		return false
	}
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.EnumKind, protoreflect.MessageKind, protoreflect.GroupKind:
		return false
	}
	return true
}

// cell writes one field in one line: lists joined with commas, maps and
// messages as compact JSON.
func cell(m protoreflect.Message, fd protoreflect.FieldDescriptor) string {
	v := m.Get(fd)
	switch {
	case fd.IsList():
		if isMessageList(fd) {
			return listJSON(v.List())
		}
		parts := make([]string, v.List().Len())
		for i := range parts {
			parts[i] = formatValue(fd, v.List().Get(i))
		}
		return strings.Join(parts, ",")
	case fd.IsMap():
		var parts []string
		for _, k := range sortedKeys(v.Map()) {
			parts = append(parts, formatValue(fd.MapKey(), k.Value())+"="+formatValue(fd.MapValue(), v.Map().Get(k)))
		}
		return strings.Join(parts, ",")
	}
	return formatValue(fd, v)
}

func listJSON(l protoreflect.List) string {
	parts := make([]string, l.Len())
	for i := range parts {
		parts[i] = compactJSON(l.Get(i).Message())
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// shown reports whether a field is worth a line: set, or a bool, whose false
// is an answer ("covered: false") rather than an absence.
func shown(m protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	if m.Has(fd) {
		return true
	}
	return fd.Kind() == protoreflect.BoolKind && !fd.IsList() && !fd.IsMap() && !fd.HasPresence()
}

// writeBlock writes the shown fields of m as "key: value" lines, values
// aligned among the fields of one message, nested messages indented under
// their key, list elements after "- ". skip leaves one field out (the
// table's own).
func writeBlock(w io.Writer, m protoreflect.Message, indent string, skip protoreflect.FieldDescriptor) {
	var shownFields []protoreflect.FieldDescriptor
	width := 0
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd == skip || !shown(m, fd) {
			continue
		}
		shownFields = append(shownFields, fd)
		if oneLineField(m, fd) {
			width = max(width, len(fd.Name())+1)
		}
	}
	for _, fd := range shownFields {
		key := indent + string(fd.Name()) + ":"
		v := m.Get(fd)
		switch {
		case oneLineField(m, fd):
			fmt.Fprintf(w, "%s%s %s\n", key, strings.Repeat(" ", width-len(fd.Name())-1), blockValue(m, fd))
		case fd.IsList():
			fmt.Fprintln(w, key)
			for j := range v.List().Len() {
				writeListItem(w, v.List().Get(j).Message(), indent+"  ")
			}
		case fd.IsMap():
			fmt.Fprintln(w, key)
			entries := v.Map()
			keyWidth := 0
			for _, k := range sortedKeys(entries) {
				keyWidth = max(keyWidth, len([]rune(formatValue(fd.MapKey(), k.Value())))+1)
			}
			for _, k := range sortedKeys(entries) {
				name := formatValue(fd.MapKey(), k.Value())
				if mv := fd.MapValue(); mv.Message() != nil && !scalarMessage(mv.Message()) {
					fmt.Fprintf(w, "%s  %s:\n", indent, name)
					writeBlock(w, entries.Get(k).Message(), indent+"    ", nil)
					continue
				}
				pad := strings.Repeat(" ", keyWidth-len([]rune(name))-1)
				fmt.Fprintf(w, "%s  %s:%s %s\n", indent, name, pad, formatValue(fd.MapValue(), entries.Get(k)))
			}
		default:
			fmt.Fprintln(w, key)
			writeBlock(w, v.Message(), indent+"  ", nil)
		}
	}
}

// oneLineField reports whether a field's value fits after its key: values,
// lists of values, and messages with nothing set ({}).
func oneLineField(m protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	switch {
	case fd.IsMap():
		return false
	case fd.IsList():
		return !isMessageList(fd)
	case fd.Message() != nil && !scalarMessage(fd.Message()):
		return isEmpty(m.Get(fd).Message())
	}
	return true
}

// blockValue is a one-line field's value in a key: value line, list elements
// separated by ", " (which a flag reads back).
func blockValue(m protoreflect.Message, fd protoreflect.FieldDescriptor) string {
	v := m.Get(fd)
	switch {
	case fd.IsList():
		parts := make([]string, v.List().Len())
		for i := range parts {
			parts[i] = formatValue(fd, v.List().Get(i))
		}
		return strings.Join(parts, ", ")
	case fd.Message() != nil && !scalarMessage(fd.Message()):
		return "{}"
	}
	return formatValue(fd, v)
}

// writeListItem writes one element of a list of messages: its first line
// after "- ", the others under it.
func writeListItem(w io.Writer, m protoreflect.Message, indent string) {
	var b strings.Builder
	writeBlock(&b, m, "", nil)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if isEmpty(m) {
		lines = []string{"{}"}
	}
	for i, l := range lines {
		mark := "- "
		if i > 0 {
			mark = "  "
		}
		fmt.Fprintf(w, "%s%s%s\n", indent, mark, l)
	}
}

func isEmpty(m protoreflect.Message) bool {
	empty := true
	m.Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool {
		empty = false
		return false
	})
	return empty
}

func sortedKeys(mp protoreflect.Map) []protoreflect.MapKey {
	var keys []protoreflect.MapKey
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	slices.SortFunc(keys, func(a, b protoreflect.MapKey) int {
		return strings.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
	})
	return keys
}

// streamPrinter writes the messages of a server stream as they arrive: rows
// under one header when the message is flat (only values, no nested
// messages), else key: value blocks separated by a blank line. Rows cannot
// wait for the stream's end to be aligned, so a column widens when a value
// needs it, from then on.
type streamPrinter struct {
	w      io.Writer
	format string
	widths []int
	count  int
}

func (p *streamPrinter) write(m protoreflect.Message) error {
	defer func() { p.count++ }()
	switch {
	case p.format == outputJSON:
		return writeJSONLine(p.w, m.Interface())
	case flat(m.Descriptor()):
		if p.count == 0 {
			fields := m.Descriptor().Fields()
			for i := range fields.Len() {
				p.widths = append(p.widths, typicalWidth(fields.Get(i)))
			}
			p.row(headers(fields))
		}
		p.row(cells(m))
		return nil
	}
	if p.count > 0 {
		fmt.Fprintln(p.w)
	}
	var b strings.Builder
	writeBlock(&b, m, "", nil)
	_, err := io.WriteString(p.w, b.String())
	return err
}

func (p *streamPrinter) row(cells []string) {
	var b strings.Builder
	for i, c := range cells {
		if i >= len(p.widths) {
			p.widths = append(p.widths, 0)
		}
		p.widths[i] = max(p.widths[i], len([]rune(c)))
		b.WriteString(c)
		if i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", p.widths[i]-len([]rune(c))+2))
		}
	}
	fmt.Fprintln(p.w, b.String())
}

// flat reports whether every field of md is shown as one value.
func flat(md protoreflect.MessageDescriptor) bool {
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() || !scalarLike(fd) {
			return false
		}
	}
	return true
}

// typicalWidth is how wide a column's values usually are, when that is known
// from the type alone, so that streamed rows mostly stay aligned under the
// header.
func typicalWidth(fd protoreflect.FieldDescriptor) int {
	if fd.IsList() {
		return 0
	}
	switch {
	case fd.Kind() == protoreflect.EnumKind:
		w := 0
		values := fd.Enum().Values()
		for i := range values.Len() {
			w = max(w, len(enumShort(fd.Enum(), values.Get(i).Number())))
		}
		return w
	case fd.Kind() == protoreflect.BoolKind:
		return len("false")
	case fd.Message() != nil && fd.Message().FullName() == timestampName:
		return len("2006-01-02T15:04:05+07:00")
	}
	return 0
}
