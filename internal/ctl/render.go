package ctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const (
	outputTable = "table"
	outputJSON  = "json"
)

// view is how one invocation prints: times in its zone (WIB unless --utc).
type view struct {
	zone *time.Location
	// shortTimes writes times to the minute, for table cells.
	shortTimes bool
}

// tableTime is a time in a table cell: to the minute, in the view's zone,
// which the table's footnote names.
const tableTime = "2006-01-02 15:04"

// maxTableWidth is the width no table exceeds: columns that do not fit are
// left out, and named below the table.
const maxTableWidth = 120

// maxCellWidth is the most of one value a table shows.
const maxCellWidth = 40

// writeJSON writes a whole response as indented JSON (see jsonEncoder).
func (v *view) writeJSON(w io.Writer, m proto.Message) error {
	var out bytes.Buffer
	if err := json.Indent(&out, marshalJSON(m.ProtoReflect(), v.zone), "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := out.WriteTo(w)
	return err
}

// writeJSONLine writes one streamed message as one line of JSON.
func (v *view) writeJSONLine(w io.Writer, m proto.Message) error {
	_, err := fmt.Fprintf(w, "%s\n", marshalJSON(m.ProtoReflect(), v.zone))
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

// column is one column of a table: a field of the row, or of a message in
// it (identity.full_name), reached through path.
type column struct {
	name string
	path []protoreflect.FieldDescriptor
}

// maxColumnDepth is how deep nested messages are flattened into columns;
// deeper ones are a JSON cell.
const maxColumnDepth = 3

// columns flattens a row message's fields into named columns.
func columns(md protoreflect.MessageDescriptor) []column {
	var out []column
	var walk func(md protoreflect.MessageDescriptor, path []protoreflect.FieldDescriptor, prefix string, open map[protoreflect.FullName]bool)
	walk = func(md protoreflect.MessageDescriptor, path []protoreflect.FieldDescriptor, prefix string, open map[protoreflect.FullName]bool) {
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			p := append(append([]protoreflect.FieldDescriptor(nil), path...), fd)
			name := prefix + string(fd.Name())
			if fd.Message() != nil && !fd.IsList() && !fd.IsMap() && !scalarMessage(fd.Message()) &&
				fd.Message().Fields().Len() > 0 && len(p) < maxColumnDepth && !open[fd.Message().FullName()] {
				open[fd.Message().FullName()] = true
				walk(fd.Message(), p, name+".", open)
				delete(open, fd.Message().FullName())
				continue
			}
			out = append(out, column{name: name, path: p})
		}
	}
	walk(md, nil, "", map[protoreflect.FullName]bool{md.FullName(): true})
	return out
}

// cellOf is one row's value of a column, "" when unset.
func (v *view) cellOf(row protoreflect.Message, c column) string {
	m := row
	for _, fd := range c.path[:len(c.path)-1] {
		if !m.Has(fd) {
			return ""
		}
		m = m.Get(fd).Message()
	}
	fd := c.path[len(c.path)-1]
	s := v.cell(m, fd)
	if s == "" || !m.Has(fd) && !numberOrBool(fd) {
		return ""
	}
	return s
}

// writeTable writes a response for a reader: a table of its one list of
// messages followed by the rest as key: value lines, or, for any other
// response, key: value lines. Nested messages of a row are flattened into
// columns (IDENTITY.FULL_NAME); columns empty (or 0, or false) in every row
// are left out, and so are those that would make the table wider than
// maxTableWidth: a line under the table names them.
func (v *view) writeTable(w io.Writer, m protoreflect.Message) error {
	list := tableField(m.Descriptor())
	if list == nil {
		var b strings.Builder
		v.writeBlock(&b, m, "", nil)
		_, err := io.WriteString(w, b.String())
		return err
	}
	rows := m.Get(list).List()
	if rows.Len() == 0 {
		fmt.Fprintf(w, "(no %s)\n", strings.ReplaceAll(string(list.Name()), "_", " "))
	} else {
		cv := &view{zone: v.zone, shortTimes: true}
		cols := columns(list.Message())
		grid := make([][]string, rows.Len())
		used := make([]bool, len(cols))
		hasTime := make([]bool, len(cols))
		for i := range grid {
			grid[i] = make([]string, len(cols))
			for j, c := range cols {
				s := cv.cellOf(rows.Get(i).Message(), c)
				// A column of nothing but zeros and falses says nothing a
				// reader of the table needs; -o json has it.
				if s != "" && s != "0" && s != "false" {
					used[j] = true
				}
				grid[i][j] = truncate(s, maxCellWidth)
			}
		}
		// Columns are taken while they fit, the row's own id first, then
		// what describes it, and last lists and the ids of other records
		// (a UUID each, 36 characters): a licence's state before its
		// weapon's id. They are shown in the message's order.
		order := make([]int, 0, len(cols))
		for pass := range 2 {
			for j, c := range cols {
				later := j > 0 && (strings.HasSuffix(c.name, "_id") || strings.HasSuffix(c.name, "_ids") || c.path[len(c.path)-1].IsList())
				if used[j] && later == (pass == 1) {
					order = append(order, j)
				}
			}
		}
		var hidden []int
		taken := make([]bool, len(cols))
		width, count := 0, 0
		for _, j := range order {
			c := cols[j]
			wj := len([]rune(c.name))
			for i := range grid {
				wj = max(wj, len([]rune(grid[i][j])), 1)
			}
			sep := 0
			if count > 0 {
				sep = 2
			}
			if count > 0 && width+sep+wj > maxTableWidth {
				hidden = append(hidden, j)
				continue
			}
			width += sep + wj
			count++
			taken[j] = true
		}
		var shown []int
		for j, c := range cols {
			if !taken[j] {
				continue
			}
			shown = append(shown, j)
			if l := c.path[len(c.path)-1]; l.Message() != nil && l.Message().FullName() == timestampName {
				hasTime[j] = true
			}
		}
		slices.Sort(hidden)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		header := make([]string, len(shown))
		for k, j := range shown {
			header[k] = strings.ToUpper(cols[j].name)
		}
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for i := range grid {
			line := make([]string, len(shown))
			for k, j := range shown {
				line[k] = grid[i][j]
				if line[k] == "" {
					line[k] = "-"
				}
			}
			fmt.Fprintln(tw, strings.Join(line, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		var notes []string
		for _, j := range shown {
			if hasTime[j] {
				notes = append(notes, "times "+zoneName(v.zone))
				break
			}
		}
		if len(hidden) > 0 {
			names := make([]string, len(hidden))
			for k, j := range hidden {
				names[k] = cols[j].name
			}
			notes = append(notes, "not shown: "+strings.Join(names, ", ")+" (-o json has every field)")
		}
		if len(notes) > 0 {
			io.WriteString(w, wrap("("+strings.Join(notes, "; ")+")", maxTableWidth))
		}
	}
	// The rest (next_page_token) goes below the table, aligned on its own.
	var rest strings.Builder
	v.writeBlock(&rest, m, "", list)
	if rest.Len() > 0 {
		_, err := fmt.Fprintf(w, "\n%s", rest.String())
		return err
	}
	return nil
}

// zoneName is a zone as a reader knows it: its offset, and its name when it
// has one (+07:00 WIB).
func zoneName(z *time.Location) string {
	name, off := time.Now().In(z).Zone()
	s := "UTC"
	if off != 0 {
		sign := '+'
		if off < 0 {
			sign, off = '-', -off
		}
		s = fmt.Sprintf("%c%02d:%02d", sign, off/3600, off%3600/60)
	}
	if name != "" && name != "UTC" && !strings.HasPrefix(name, "+") && !strings.HasPrefix(name, "-") {
		s += " " + name
	}
	return s
}

// truncate shortens s to n characters, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// wrap breaks text into lines of at most width characters, at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	line := 0
	for i, word := range strings.Fields(text) {
		n := len([]rune(word))
		if i > 0 && line+1+n > width {
			b.WriteByte('\n')
			line = 0
		} else if i > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += n
	}
	b.WriteByte('\n')
	return b.String()
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
func (v *view) cells(m protoreflect.Message) []string {
	fields := m.Descriptor().Fields()
	out := make([]string, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		s := v.cell(m, fd)
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
func (v *view) cell(m protoreflect.Message, fd protoreflect.FieldDescriptor) string {
	val := m.Get(fd)
	switch {
	case fd.IsList():
		if isMessageList(fd) {
			return v.listJSON(val.List())
		}
		parts := make([]string, val.List().Len())
		for i := range parts {
			parts[i] = v.formatValue(fd, val.List().Get(i))
		}
		return strings.Join(parts, ",")
	case fd.IsMap():
		var parts []string
		for _, k := range sortedKeys(val.Map()) {
			parts = append(parts, v.formatValue(fd.MapKey(), k.Value())+"="+v.formatValue(fd.MapValue(), val.Map().Get(k)))
		}
		return strings.Join(parts, ",")
	}
	return v.formatValue(fd, val)
}

func (v *view) listJSON(l protoreflect.List) string {
	parts := make([]string, l.Len())
	for i := range parts {
		parts[i] = v.compactJSON(l.Get(i).Message())
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
func (v *view) writeBlock(w io.Writer, m protoreflect.Message, indent string, skip protoreflect.FieldDescriptor) {
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
		val := m.Get(fd)
		switch {
		case oneLineField(m, fd):
			fmt.Fprintf(w, "%s%s %s\n", key, strings.Repeat(" ", width-len(fd.Name())-1), v.blockValue(m, fd))
		case fd.IsList():
			fmt.Fprintln(w, key)
			for j := range val.List().Len() {
				v.writeListItem(w, val.List().Get(j).Message(), indent+"  ")
			}
		case fd.IsMap():
			fmt.Fprintln(w, key)
			entries := val.Map()
			keyWidth := 0
			for _, k := range sortedKeys(entries) {
				keyWidth = max(keyWidth, len([]rune(v.formatValue(fd.MapKey(), k.Value())))+1)
			}
			for _, k := range sortedKeys(entries) {
				name := v.formatValue(fd.MapKey(), k.Value())
				if mv := fd.MapValue(); mv.Message() != nil && !scalarMessage(mv.Message()) {
					fmt.Fprintf(w, "%s  %s:\n", indent, name)
					v.writeBlock(w, entries.Get(k).Message(), indent+"    ", nil)
					continue
				}
				pad := strings.Repeat(" ", keyWidth-len([]rune(name))-1)
				fmt.Fprintf(w, "%s  %s:%s %s\n", indent, name, pad, v.formatValue(fd.MapValue(), entries.Get(k)))
			}
		default:
			fmt.Fprintln(w, key)
			v.writeBlock(w, val.Message(), indent+"  ", nil)
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
func (v *view) blockValue(m protoreflect.Message, fd protoreflect.FieldDescriptor) string {
	val := m.Get(fd)
	switch {
	case fd.IsList():
		parts := make([]string, val.List().Len())
		for i := range parts {
			parts[i] = v.formatValue(fd, val.List().Get(i))
		}
		return strings.Join(parts, ", ")
	case fd.Message() != nil && !scalarMessage(fd.Message()):
		return "{}"
	}
	return v.formatValue(fd, val)
}

// writeListItem writes one element of a list of messages: its first line
// after "- ", the others under it.
func (v *view) writeListItem(w io.Writer, m protoreflect.Message, indent string) {
	var b strings.Builder
	v.writeBlock(&b, m, "", nil)
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
	view   *view
	w      io.Writer
	format string
	widths []int
	count  int
}

func (p *streamPrinter) write(m protoreflect.Message) error {
	defer func() { p.count++ }()
	switch {
	case p.format == outputJSON:
		return p.view.writeJSONLine(p.w, m.Interface())
	case flat(m.Descriptor()):
		if p.count == 0 {
			fields := m.Descriptor().Fields()
			for i := range fields.Len() {
				p.widths = append(p.widths, typicalWidth(fields.Get(i)))
			}
			p.row(headers(fields))
		}
		p.row(p.view.cells(m))
		return nil
	}
	if p.count > 0 {
		fmt.Fprintln(p.w)
	}
	var b strings.Builder
	p.view.writeBlock(&b, m, "", nil)
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
