package ctl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxSafeInteger is the largest integer a JSON reader that holds numbers as
// IEEE doubles (JavaScript, jq) reads exactly: 2^53 - 1.
const maxSafeInteger = 1<<53 - 1

// jsonEncoder writes a message as JSON for scripts: every field, whether
// set or not (false, 0, "", [], {}, null for an unset message), under its
// proto name, 64-bit integers as numbers unless a double would round them
// (then as strings, as protojson writes every one), and times in the zone
// the tables use. protojson reads it back: it takes numbers for 64-bit
// integers and any RFC 3339 offset.
//
// protojson's own EmitUnpopulated would give the fields, but not the
// numbers or the zone; rewriting its output afterwards would mean walking
// the message a second time anyway.
type jsonEncoder struct {
	zone *time.Location
	// populatedOnly leaves out what is unset, for one-line JSON in a table
	// cell or an error detail, read by a person.
	populatedOnly bool
	buf           bytes.Buffer
}

func (e *jsonEncoder) message(m protoreflect.Message) {
	md := m.Descriptor()
	if md.FullName() == timestampName || md.FullName() == durationName || wrapperNames[md.FullName()] || md.FullName().Parent() == "google.protobuf" {
		e.wellKnown(m)
		return
	}
	e.buf.WriteByte('{')
	fields := md.Fields()
	first := true
	for i := range fields.Len() {
		fd := fields.Get(i)
		// Of a oneof, the member that is set; an unset one has no value to
		// show, and a reader tells it by the others' absence.
		if o := fd.ContainingOneof(); (e.populatedOnly || o != nil && !o.IsSynthetic()) && !m.Has(fd) {
			continue
		}
		if !first {
			e.buf.WriteByte(',')
		}
		first = false
		e.string(string(fd.Name()))
		e.buf.WriteByte(':')
		e.field(m, fd)
	}
	e.buf.WriteByte('}')
}

func (e *jsonEncoder) field(m protoreflect.Message, fd protoreflect.FieldDescriptor) {
	v := m.Get(fd)
	switch {
	case fd.IsList():
		l := v.List()
		e.buf.WriteByte('[')
		for i := range l.Len() {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			e.value(fd, l.Get(i))
		}
		e.buf.WriteByte(']')
	case fd.IsMap():
		e.buf.WriteByte('{')
		for i, k := range sortedKeys(v.Map()) {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			e.string(k.String())
			e.buf.WriteByte(':')
			e.value(fd.MapValue(), v.Map().Get(k))
		}
		e.buf.WriteByte('}')
	case fd.Message() != nil && !m.Has(fd), fd.HasPresence() && !m.Has(fd):
		e.buf.WriteString("null")
	default:
		e.value(fd, v)
	}
}

// value writes one value of the field fd (for lists and maps: an element).
func (e *jsonEncoder) value(fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		e.buf.WriteString(strconv.FormatBool(v.Bool()))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		e.buf.WriteString(strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		e.buf.WriteString(strconv.FormatUint(v.Uint(), 10))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n := v.Int()
		if n >= -maxSafeInteger && n <= maxSafeInteger {
			e.buf.WriteString(strconv.FormatInt(n, 10))
		} else {
			e.string(strconv.FormatInt(n, 10))
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n := v.Uint()
		if n <= maxSafeInteger {
			e.buf.WriteString(strconv.FormatUint(n, 10))
		} else {
			e.string(strconv.FormatUint(n, 10))
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		e.float(v.Float(), fd.Kind() == protoreflect.FloatKind)
	case protoreflect.StringKind:
		e.string(v.String())
	case protoreflect.BytesKind:
		e.string(base64.StdEncoding.EncodeToString(v.Bytes()))
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			e.string(string(ev.Name()))
		} else {
			e.buf.WriteString(strconv.Itoa(int(v.Enum())))
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		e.message(v.Message())
	}
}

func (e *jsonEncoder) float(f float64, single bool) {
	switch {
	case math.IsNaN(f):
		e.string("NaN")
	case math.IsInf(f, 1):
		e.string("Infinity")
	case math.IsInf(f, -1):
		e.string("-Infinity")
	case single:
		e.buf.WriteString(strconv.FormatFloat(f, 'g', -1, 32))
	default:
		e.buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	}
}

// wellKnown writes a google.protobuf message: a timestamp in the zone, a
// wrapper as its value, anything else as protojson does.
func (e *jsonEncoder) wellKnown(m protoreflect.Message) {
	md := m.Descriptor()
	fields := md.Fields()
	switch {
	case md.FullName() == timestampName:
		secs, nanos := m.Get(fields.ByName("seconds")).Int(), m.Get(fields.ByName("nanos")).Int()
		e.string(time.Unix(secs, nanos).In(e.zone).Format(time.RFC3339Nano))
	case wrapperNames[md.FullName()]:
		inner := fields.ByName("value")
		e.value(inner, m.Get(inner))
	default:
		b, err := protojson.Marshal(m.Interface())
		if err != nil {
			e.string("<" + err.Error() + ">")
			return
		}
		if err := json.Compact(&e.buf, b); err != nil {
			e.buf.Write(b)
		}
	}
}

func (e *jsonEncoder) string(s string) {
	// json.Marshal escapes <, > and & for HTML; a script wants them as
	// they are.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	e.buf.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// marshalJSON is m as one line of JSON for scripts (see jsonEncoder).
func marshalJSON(m protoreflect.Message, zone *time.Location) []byte {
	e := &jsonEncoder{zone: zone}
	e.message(m)
	return e.buf.Bytes()
}

// populatedJSON is m as one line of JSON with only its set fields.
func populatedJSON(m protoreflect.Message, zone *time.Location) []byte {
	e := &jsonEncoder{zone: zone, populatedOnly: true}
	e.message(m)
	return e.buf.Bytes()
}
