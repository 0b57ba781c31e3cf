package ctl

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// wib is Western Indonesia Time. A bare date on the command line means its
// midnight, and tables show times in it: the analysts using this tool read
// WIB, and an RFC 3339 offset keeps the instant unambiguous.
var wib = time.FixedZone("WIB", 7*60*60)

const (
	timestampName protoreflect.FullName = "google.protobuf.Timestamp"
	durationName  protoreflect.FullName = "google.protobuf.Duration"
)

// wrapperNames are the google.protobuf wrapper messages: one field "value".
var wrapperNames = map[protoreflect.FullName]bool{
	"google.protobuf.DoubleValue": true, "google.protobuf.FloatValue": true,
	"google.protobuf.Int64Value": true, "google.protobuf.UInt64Value": true,
	"google.protobuf.Int32Value": true, "google.protobuf.UInt32Value": true,
	"google.protobuf.BoolValue": true, "google.protobuf.StringValue": true,
	"google.protobuf.BytesValue": true,
}

// scalarMessage reports whether a message type is written as one value on the
// command line and in tables, as protojson writes it as one JSON value.
func scalarMessage(md protoreflect.MessageDescriptor) bool {
	n := md.FullName()
	return n == timestampName || n == durationName || wrapperNames[n]
}

// scalarLike reports whether a field (or a list's or map's element, which fd
// then describes) takes one command-line value.
func scalarLike(fd protoreflect.FieldDescriptor) bool {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return scalarMessage(fd.Message())
	}
	return true
}

// parseValue reads one command-line value for the field fd (for lists: an
// element; for maps: pass MapKey or MapValue). newMessage makes an empty
// message of the field's type when the field is a scalar message.
func parseValue(fd protoreflect.FieldDescriptor, s string, newMessage func() protoreflect.Message) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return protoreflect.Value{}, errors.New("want true or false")
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, numError(err, "a whole number")
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return protoreflect.Value{}, numError(err, "a whole number")
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, numError(err, "a whole number, not negative")
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return protoreflect.Value{}, numError(err, "a whole number, not negative")
		}
		return protoreflect.ValueOfUint64(n), nil
	case protoreflect.FloatKind:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return protoreflect.Value{}, numError(err, "a number")
		}
		return protoreflect.ValueOfFloat32(float32(f)), nil
	case protoreflect.DoubleKind:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return protoreflect.Value{}, numError(err, "a number")
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.StringKind:
		if !utf8.ValidString(s) {
			return protoreflect.Value{}, errors.New("not valid UTF-8")
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BytesKind:
		b, err := decodeBase64(s)
		if err != nil {
			return protoreflect.Value{}, err
		}
		return protoreflect.ValueOfBytes(b), nil
	case protoreflect.EnumKind:
		n, err := parseEnum(fd.Enum(), s)
		if err != nil {
			return protoreflect.Value{}, err
		}
		return protoreflect.ValueOfEnum(n), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return parseScalarMessage(fd.Message(), s, newMessage)
	}
	return protoreflect.Value{}, fmt.Errorf("fields of kind %s cannot be set by a flag", fd.Kind())
}

func numError(err error, want string) error {
	if errors.Is(err, strconv.ErrRange) {
		return errors.New("out of range")
	}
	return fmt.Errorf("want %s", want)
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("want base64")
}

func parseScalarMessage(md protoreflect.MessageDescriptor, s string, newMessage func() protoreflect.Message) (protoreflect.Value, error) {
	m := newMessage()
	fields := md.Fields()
	switch {
	case md.FullName() == timestampName:
		t, err := parseTime(s)
		if err != nil {
			return protoreflect.Value{}, err
		}
		m.Set(fields.ByName("seconds"), protoreflect.ValueOfInt64(t.Unix()))
		m.Set(fields.ByName("nanos"), protoreflect.ValueOfInt32(int32(t.Nanosecond())))
	case md.FullName() == durationName:
		d, err := time.ParseDuration(s)
		if err != nil {
			return protoreflect.Value{}, errors.New("want a duration such as 90s, 15m or 2h30m")
		}
		m.Set(fields.ByName("seconds"), protoreflect.ValueOfInt64(int64(d/time.Second)))
		m.Set(fields.ByName("nanos"), protoreflect.ValueOfInt32(int32(d%time.Second)))
	case wrapperNames[md.FullName()]:
		inner := fields.ByName("value")
		v, err := parseValue(inner, s, nil)
		if err != nil {
			return protoreflect.Value{}, err
		}
		m.Set(inner, v)
	default:
		return protoreflect.Value{}, fmt.Errorf("%s cannot be set by a flag", md.FullName())
	}
	return protoreflect.ValueOfMessage(m), nil
}

// parseTime reads RFC 3339, a bare date meaning its midnight in WIB, or a
// time relative to now: now, +90d, -2h, now+1w, +1d12h (units w, d, h, m,
// s), so that a command in a script or the README stays right whatever the
// day it runs.
func parseTime(s string) (time.Time, error) {
	if t, ok, err := parseRelative(s, time.Now()); ok {
		return t, err
	}
	var t time.Time
	var err error
	if len(s) == len(time.DateOnly) {
		t, err = time.ParseInLocation(time.DateOnly, s, wib)
	} else {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339 (2025-08-17T09:30:00+07:00), a date (2025-08-17, midnight WIB), or relative to now (now, +90d, -2h, +1w)")
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, errors.New("year out of range")
	}
	return t, nil
}

// relativeUnits are the units of a relative time, longest first.
var relativeUnits = map[byte]time.Duration{'w': 7 * 24 * time.Hour, 'd': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}

// parseRelative reads now[(+|-)N<unit>...] or (+|-)N<unit>...; ok is false
// when s is not of that form (then it is an absolute time).
func parseRelative(s string, now time.Time) (t time.Time, ok bool, err error) {
	rest, hasNow := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "now")
	if !hasNow && !strings.HasPrefix(rest, "+") && !strings.HasPrefix(rest, "-") {
		return time.Time{}, false, nil
	}
	if rest == "" {
		return now, true, nil
	}
	bad := fmt.Errorf("%q: want now, or a sign and amounts with units w, d, h, m, s (+90d, -2h, now+1d12h)", s)
	sign := time.Duration(1)
	switch rest[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return time.Time{}, true, bad
	}
	rest = rest[1:]
	if rest == "" {
		return time.Time{}, true, bad
	}
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || i > 6 {
			return time.Time{}, true, bad
		}
		unit, known := relativeUnits[rest[i]]
		if !known {
			return time.Time{}, true, bad
		}
		n, _ := strconv.Atoi(rest[:i])
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	t = now.Add(sign * total)
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, true, errors.New("year out of range")
	}
	return t, true, nil
}

// enumPrefix is what every value name of an enum starts with, by the
// protobuf style guide its UPPER_SNAKE name and an underscore
// (INSTITUTION_KIND_ for InstitutionKind); empty when the values do not
// share it.
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	prefix := upperSnake(string(ed.Name())) + "_"
	values := ed.Values()
	for i := range values.Len() {
		name := string(values.Get(i).Name())
		if !strings.HasPrefix(name, prefix) || len(name) == len(prefix) {
			return ""
		}
	}
	return prefix
}

func upperSnake(camel string) string {
	return strings.ToUpper(strings.ReplaceAll(kebab(camel), "-", "_"))
}

// enumShort is a value's name without the enum's prefix (LAPAS), or the
// number when the value is not one this client knows.
func enumShort(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	v := ed.Values().ByNumber(n)
	if v == nil {
		return strconv.Itoa(int(n))
	}
	return strings.TrimPrefix(string(v.Name()), enumPrefix(ed))
}

// enumChoices lists what a user would type for each value but the zero one:
// lapas, rutan, ...
func enumChoices(ed protoreflect.EnumDescriptor) []string {
	var out []string
	values := ed.Values()
	for i := range values.Len() {
		v := values.Get(i)
		if v.Number() == 0 && strings.HasSuffix(string(v.Name()), "_UNSPECIFIED") {
			continue
		}
		out = append(out, strings.ToLower(strings.ReplaceAll(enumShort(ed, v.Number()), "_", "-")))
	}
	return out
}

// parseEnum accepts a value's short name (lapas, criminal-investigation),
// its full name (INSTITUTION_KIND_LAPAS), in any case, or its number.
func parseEnum(ed protoreflect.EnumDescriptor, s string) (protoreflect.EnumNumber, error) {
	name := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	values := ed.Values()
	for _, candidate := range []string{name, enumPrefix(ed) + name} {
		if v := values.ByName(protoreflect.Name(candidate)); v != nil {
			return v.Number(), nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		if v := values.ByNumber(protoreflect.EnumNumber(n)); v != nil {
			return v.Number(), nil
		}
	}
	return 0, fmt.Errorf("want one of %s", strings.Join(enumChoices(ed), ", "))
}

// formatValue writes one value for a table cell or a key: value line. fd is
// the field, or for lists and maps the element's descriptor.
func (v *view) formatValue(fd protoreflect.FieldDescriptor, val protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		return enumShort(fd.Enum(), val.Enum())
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(val.Bytes())
	case protoreflect.FloatKind:
		return strconv.FormatFloat(val.Float(), 'g', -1, 32)
	case protoreflect.DoubleKind:
		return strconv.FormatFloat(val.Float(), 'g', -1, 64)
	case protoreflect.StringKind:
		return oneLine(val.String())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return v.formatMessage(val.Message())
	}
	return fmt.Sprint(val.Interface())
}

// formatMessage writes a message in one line: well-known scalar messages as
// their value, anything else as compact JSON.
func (v *view) formatMessage(m protoreflect.Message) string {
	md := m.Descriptor()
	fields := md.Fields()
	switch {
	case md.FullName() == timestampName:
		secs, nanos := m.Get(fields.ByName("seconds")).Int(), m.Get(fields.ByName("nanos")).Int()
		t := time.Unix(secs, nanos).In(v.zone)
		if v.shortTimes {
			return t.Format(tableTime)
		}
		return t.Format(time.RFC3339Nano)
	case md.FullName() == durationName:
		secs, nanos := m.Get(fields.ByName("seconds")).Int(), m.Get(fields.ByName("nanos")).Int()
		if secs > math.MaxInt64/int64(time.Second) || secs < math.MinInt64/int64(time.Second) {
			return fmt.Sprintf("%ds", secs)
		}
		return (time.Duration(secs)*time.Second + time.Duration(nanos)).String()
	case wrapperNames[md.FullName()]:
		inner := fields.ByName("value")
		return v.formatValue(inner, m.Get(inner))
	}
	return v.compactJSON(m)
}

// compactJSON is a message's set fields as JSON on one line.
func (v *view) compactJSON(m protoreflect.Message) string {
	return string(populatedJSON(m, v.zone))
}

// oneLine keeps a value on its line, so a note with a line break or a tab
// cannot break a table's alignment.
var oneLine = strings.NewReplacer("\r", `\r`, "\n", `\n`, "\t", `\t`).Replace
