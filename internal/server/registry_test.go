package server_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/servertest"
)

// TestEveryResponseClassifiedAndItsSubjectsDeclared walks every method the
// server serves. Its response, and every message it carries, must have a
// data class for each field; the audit subjects it can carry (registered
// types) must be among those its rule declares, each declared kind must be
// known, and a response that can carry custody data must declare subjects.
// A request with an access context must have purposes in the policy, and
// the other way round. A method added without these entries fails here.
func TestEveryResponseClassifiedAndItsSubjectsDeclared(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	n := 0
	for svc, info := range env.Server.GRPC.GetServiceInfo() {
		if !strings.HasPrefix(svc, "sinergi.") {
			continue
		}
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range info.Methods {
			n++
			full := "/" + svc + "/" + m.Name
			md := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(m.Name))
			rule, _ := authz.Lookup(full)

			for _, problem := range unclassified(md.Output()) {
				t.Errorf("%s: %s", full, problem)
			}
			carried := authz.SubjectKinds(md.Output())
			for _, k := range carried {
				if !slices.Contains(rule.Subjects, k) {
					t.Errorf("%s: its response carries %q subjects, which its rule does not declare", full, k)
				}
			}
			for _, k := range rule.Subjects {
				if !authz.KnownSubjectKind(k) {
					t.Errorf("%s: declares subject kind %q, which no response type is registered as and no handler names", full, k)
				}
			}
			if authz.ClassesOf(md.Output())&authz.CustodyClasses != 0 && len(rule.Subjects) == 0 {
				t.Errorf("%s: its response carries custody data (%v) but its rule declares no audit subject", full, authz.ClassesOf(md.Output()).Classes())
			}

			access := md.Input().Fields().ByName("access")
			carries := access != nil && access.Message() != nil && access.Message().FullName() == "sinergi.v1.AccessContext"
			if carries != (rule.Purposes != nil) {
				t.Errorf("%s: request carries an access context: %v; policy gives purposes: %v", full, carries, rule.Purposes != nil)
			}
		}
	}
	if n < 30 {
		t.Fatalf("walked only %d methods", n)
	}
}

// unclassified lists the fields of md, and of the messages it carries,
// that have no data class.
func unclassified(md protoreflect.MessageDescriptor) []string {
	var out []string
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		fs := md.Fields()
		for i := range fs.Len() {
			fd := fs.Get(i)
			c, ok := authz.ClassOf(fd)
			if !ok {
				out = append(out, string(fd.FullName())+" has no data class (internal/authz/classes.go)")
				continue
			}
			if c.Nested() {
				walk(fd.Message())
			}
		}
	}
	walk(md)
	return out
}
