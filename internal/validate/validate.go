// Package validate collects what is wrong with a request, field by field,
// and turns it into one INVALID_ARGUMENT status carrying a google.rpc.BadRequest
// detail that names each bad field. Each request message has one validator,
// registered by type, so that the server's validation interceptor checks
// every request in one place before any handler runs.
package validate

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Violations is what is wrong with one request.
type Violations struct {
	list []*errdetails.BadRequest_FieldViolation
}

// Add records that field is wrong, and why.
func (v *Violations) Add(field, format string, args ...any) {
	v.list = append(v.list, &errdetails.BadRequest_FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// Check adds a violation unless ok.
func (v *Violations) Check(ok bool, field, format string, args ...any) {
	if !ok {
		v.Add(field, format, args...)
	}
}

// Merge adds every violation of o, each field prefixed with prefix and a dot.
func (v *Violations) Merge(prefix string, o *Violations) {
	for _, f := range o.list {
		name := f.Field
		if prefix != "" {
			name = prefix + "." + name
		}
		v.list = append(v.list, &errdetails.BadRequest_FieldViolation{Field: name, Description: f.Description})
	}
}

// Empty reports whether nothing is wrong.
func (v *Violations) Empty() bool { return len(v.list) == 0 }

// Fields lists the bad fields, in order.
func (v *Violations) Fields() []string {
	out := make([]string, len(v.list))
	for i, f := range v.list {
		out[i] = f.Field
	}
	return out
}

// String lists the violations, one "field: description" per line.
func (v *Violations) String() string {
	var b strings.Builder
	for i, f := range v.list {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Description)
	}
	return b.String()
}

// Err is nil when nothing is wrong, else INVALID_ARGUMENT with a BadRequest detail.
func (v *Violations) Err() error {
	if v.Empty() {
		return nil
	}
	st := status.New(codes.InvalidArgument, "invalid request: "+v.String())
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: v.list}); err == nil {
		return d.Err()
	}
	return st.Err()
}

// Error is one bad field as an INVALID_ARGUMENT status.
func Error(field, format string, args ...any) error {
	var v Violations
	v.Add(field, format, args...)
	return v.Err()
}

// FieldsOf lists the bad fields named by an INVALID_ARGUMENT error's BadRequest detail.
func FieldsOf(err error) []string {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, f := range br.GetFieldViolations() {
				out = append(out, f.GetField())
			}
		}
	}
	return out
}

var (
	mu         sync.RWMutex
	validators = map[protoreflect.FullName]func(proto.Message, *Violations){}
)

// Register sets the validator of request type T. Call it from init.
func Register[T proto.Message](fn func(T, *Violations)) {
	var zero T
	name := zero.ProtoReflect().Descriptor().FullName()
	mu.Lock()
	defer mu.Unlock()
	if _, dup := validators[name]; dup {
		panic("validate: two validators for " + name)
	}
	validators[name] = func(m proto.Message, v *Violations) { fn(m.(T), v) }
}

// Registered reports whether messages named name have a validator.
func Registered(name protoreflect.FullName) bool {
	mu.RLock()
	defer mu.RUnlock()
	_, ok := validators[name]
	return ok
}

// Request validates m: every field within its limits (limits.go), then
// its registered validator. A message without one is refused: a forgotten
// validator fails closed.
func Request(m proto.Message) error {
	name := m.ProtoReflect().Descriptor().FullName()
	mu.RLock()
	fn, ok := validators[name]
	mu.RUnlock()
	if !ok {
		return status.Errorf(codes.Internal, "no validator for %s", name)
	}
	var v Violations
	checkLimits(&v, m.ProtoReflect(), "", 0)
	if !v.Empty() {
		// What the message's own validator would make of bytes like these
		// adds nothing: the fields are named.
		return v.Err()
	}
	fn(m, &v)
	return v.Err()
}

// Patterns shared by validators.
var (
	Code       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)
	RegionCode = regexp.MustCompile(`^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$`)
)
