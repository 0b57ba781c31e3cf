package validate

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// What any field of any request may hold, before its message's own
// validator looks at it: every request is held to these, whatever its
// method, so that no byte sequence in any field gets further than
// validation (the audit trail keeps what it needs of a refused request,
// bounded). A field whose message needs more says so with Limit.
const (
	// DefaultMaxString is the most bytes a string field holds.
	DefaultMaxString = 4096
	// DefaultMaxBytes is the most bytes a bytes field holds.
	DefaultMaxBytes = 1 << 20
	// DefaultMaxRepeated is the most entries a repeated or map field holds.
	DefaultMaxRepeated = 1000
	// maxDepth bounds how deep a request's messages nest.
	maxDepth = 32
)

var (
	limitsMu sync.RWMutex
	limits   = map[protoreflect.FullName]int{}
)

// Limit sets the most a field holds (bytes for a string or bytes field,
// entries for a repeated one) in place of the default. Call it from init,
// beside the message's validator; the README's table lists every one.
func Limit(field protoreflect.FullName, max int) {
	limitsMu.Lock()
	defer limitsMu.Unlock()
	limits[field] = max
}

// Limits lists the fields with limits of their own, by name.
func Limits() map[protoreflect.FullName]int {
	limitsMu.RLock()
	defer limitsMu.RUnlock()
	out := make(map[protoreflect.FullName]int, len(limits))
	for k, v := range limits {
		out[k] = v
	}
	return out
}

func limitOf(fd protoreflect.FieldDescriptor, def int) int {
	limitsMu.RLock()
	defer limitsMu.RUnlock()
	if n, ok := limits[fd.FullName()]; ok {
		return n
	}
	return def
}

// checkLimits holds every field of m to its limits.
func checkLimits(v *Violations, m protoreflect.Message, prefix string, depth int) {
	if depth > maxDepth {
		v.Add(prefix, "nested more than %d deep", maxDepth)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		name := string(fd.Name())
		if prefix != "" {
			name = prefix + "." + name
		}
		switch {
		case fd.IsMap():
			mp := val.Map()
			if n, max := mp.Len(), limitOf(fd, DefaultMaxRepeated); n > max {
				v.Add(name, "at most %d entries (got %d)", max, n)
				return true
			}
			mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				key := name + "[" + strconv.Quote(k.String()) + "]"
				if fd.MapKey().Kind() == protoreflect.StringKind {
					checkScalar(v, fd.MapKey(), key+" (key)", k.Value())
				}
				checkValue(v, fd.MapValue(), key, mv, depth)
				return !tooMany(v)
			})
		case fd.IsList():
			l := val.List()
			if n, max := l.Len(), limitOf(fd, DefaultMaxRepeated); n > max {
				v.Add(name, "at most %d entries (got %d)", max, n)
				return true
			}
			for i := 0; i < l.Len(); i++ {
				checkValue(v, fd, name+"["+strconv.Itoa(i)+"]", l.Get(i), depth)
			}
		default:
			checkValue(v, fd, name, val, depth)
		}
		return !tooMany(v)
	})
}

// tooMany stops the walk of a request that is wrong everywhere: the
// answer names the first hundred fields.
func tooMany(v *Violations) bool { return len(v.list) >= 100 }

func checkValue(v *Violations, fd protoreflect.FieldDescriptor, name string, val protoreflect.Value, depth int) {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		checkLimits(v, val.Message(), name, depth+1)
		return
	}
	checkScalar(v, fd, name, val)
}

func checkScalar(v *Violations, fd protoreflect.FieldDescriptor, name string, val protoreflect.Value) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		s := val.String()
		if max := limitOf(fd, DefaultMaxString); len(s) > max {
			v.Add(name, "at most %d bytes (got %d)", max, len(s))
			return
		}
		if i, ok := badText(s); !ok {
			v.Add(name, "must be text: no NUL or control characters (byte %d is not)", i)
		}
	case protoreflect.BytesKind:
		if max, n := limitOf(fd, DefaultMaxBytes), len(val.Bytes()); n > max {
			v.Add(name, "at most %d bytes (got %d)", max, n)
		}
	}
}

// IsText reports whether s is valid UTF-8 without NUL or control
// characters but tab and line breaks.
func IsText(s string) bool {
	_, ok := badText(s)
	return ok
}

// badText finds the first byte of s that is not text: not valid UTF-8, a
// NUL or another control character but tab and line breaks. It returns
// true when there is none.
func badText(s string) (int, bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
				return i, false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r >= 0x80 && r < 0xa0) {
			return i, false
		}
		i += size
	}
	return 0, true
}

// LimitsTable describes the defaults and every field's own limit, for the
// documentation.
func LimitsTable() []string {
	out := []string{
		fmt.Sprintf("string fields: at most %d bytes, text only (no NUL or control characters but tab and line breaks)", DefaultMaxString),
		fmt.Sprintf("bytes fields: at most %d bytes", DefaultMaxBytes),
		fmt.Sprintf("repeated and map fields: at most %d entries", DefaultMaxRepeated),
	}
	var names []string
	for k := range Limits() {
		names = append(names, string(k))
	}
	sort.Strings(names)
	l := Limits()
	for _, n := range names {
		out = append(out, fmt.Sprintf("%s: at most %d", n, l[protoreflect.FullName(n)]))
	}
	return out
}
