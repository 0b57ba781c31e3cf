package api

import (
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestLimitsNameRealFields: every field given a limit of its own exists,
// so that a renamed field cannot silently fall back to the default.
func TestLimitsNameRealFields(t *testing.T) {
	if len(validate.Limits()) == 0 {
		t.Fatal("no field has a limit of its own")
	}
	for name := range validate.Limits() {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if _, ok := d.(protoreflect.FieldDescriptor); err != nil || !ok {
			t.Errorf("limit on %s: no such field (%v)", name, err)
		}
	}
}

// TestEveryFieldIsBounded: hostile values in fields that no validator of
// their own would look at still answer INVALID_ARGUMENT naming the field.
func TestEveryFieldIsBounded(t *testing.T) {
	for name, tc := range map[string]struct {
		req   *sinergiv1.ListInstitutionsRequest
		field string
	}{
		"NUL":        {&sinergiv1.ListInstitutionsRequest{RegionPrefix: "18\x00"}, "region_prefix"},
		"control":    {&sinergiv1.ListInstitutionsRequest{PageToken: "a\x1bb"}, "page_token"},
		"too long":   {&sinergiv1.ListInstitutionsRequest{PageToken: strings.Repeat("a", validate.DefaultMaxString+1)}, "page_token"},
		"C1 control": {&sinergiv1.ListInstitutionsRequest{RegionPrefix: "\u0085"}, "region_prefix"},
	} {
		err := validate.Request(tc.req)
		if f := validate.FieldsOf(err); len(f) != 1 || f[0] != tc.field {
			t.Errorf("%s: %v, want INVALID_ARGUMENT naming %s", name, err, tc.field)
		}
	}
	long := &sinergiv1.SubmitReportRequest{Narrative: strings.Repeat("é", reportMaxNarrative)}
	for _, f := range validate.FieldsOf(validate.Request(long)) {
		if f == "narrative" {
			t.Errorf("a narrative of %d characters is refused by the generic limits", reportMaxNarrative)
		}
	}
	many := &sinergiv1.SubmitReportRequest{People: make([]*sinergiv1.ReportPerson, validate.DefaultMaxRepeated+1)}
	for i := range many.People {
		many.People[i] = &sinergiv1.ReportPerson{}
	}
	if f := validate.FieldsOf(validate.Request(many)); len(f) != 1 || f[0] != "people" {
		t.Errorf("%d people: fields %v, want [people]", len(many.People), f)
	}
	deep := &sinergiv1.UpsertCustodyRecordRequest{Record: &sinergiv1.CustodyRecord{Identity: &sinergiv1.Identity{Aliases: []string{"ok", "bad\x00"}}}}
	if f := validate.FieldsOf(validate.Request(deep)); len(f) != 1 || f[0] != "record.identity.aliases[1]" {
		t.Errorf("nested: fields %v, want [record.identity.aliases[1]]", f)
	}
}

// TestLimitsAreDocumented: the README's table of request limits names
// every field with a limit of its own.
func TestLimitsAreDocumented(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range validate.Limits() {
		if !strings.Contains(string(b), "`"+string(name)+"`") {
			t.Errorf("the README's request limits do not name %s", name)
		}
	}
}
