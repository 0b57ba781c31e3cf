package authz

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestCaseReferences: the families of case references are accepted in
// their forms, blanks and noise are refused, each where its purpose needs it.
func TestCaseReferences(t *testing.T) {
	inv, war, dsr := sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, sinergiv1.Purpose_PURPOSE_WARRANT_EXECUTION, sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST
	for _, tc := range []struct {
		purpose sinergiv1.Purpose
		ref     string
		ok      bool
	}{
		{inv, "LP/B/123/VIII/2025/SPKT", true},
		{inv, "LP/A/7/I/2026/SPKT/POLDA METRO JAYA", true},
		{inv, "lp/b/45/ix/2026/reskrim", true},
		{inv, "   LP/B/123/VIII/2025/SPKT  ", true}, // trimmed first
		{inv, "", false},
		{inv, "   ", false},
		{inv, "LP/", false},
		{inv, "LP/B", false},
		{inv, "LP/B/X/Y", false}, // no number anywhere
		{inv, "LP//123/2025", false},
		{inv, "LP/B/123/VIII/2025/ SPKT", false},
		{inv, "Sprin/45/IX/2026/Reskrim", false}, // a warrant is no police report
		{inv, "see the file", false},
		{inv, "LP/B/1/2025\x00", false},
		{war, "Sprin/45/IX/2026/Reskrim", true},
		{war, "Sp.Kap/12/X/2026/Reskrim", true},
		{war, "Sp.Han/7/X/2026/Reskrim", true},
		{war, "SP.HAN/7/X/2026", true},
		{war, "Sp.Kap", false},
		{war, "Sp-Kap/12/X/2026", false},
		{war, "LP/B/123/VIII/2025/SPKT", false},
		{dsr, "PDP/0042/XI/2026", true},
		{dsr, "PDP/0042", false},
		{dsr, "-", false},
		// Purposes that need none take any printable text, or none.
		{sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS, "", true},
		{sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS, "Operasi Antik 2026", true},
		{sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS, strings.Repeat("x", 121), false},
		{sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS, "tab\there", false},
	} {
		ac := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: tc.purpose, CaseReference: tc.ref}
		NormalizeAccess(ac)
		var v validate.Violations
		purposes := Purposes{PoliceUnit: []sinergiv1.Purpose{tc.purpose}}
		CheckAccess(&v, "access", ac, purposes, sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES, "/x/GetCustodyRecord")
		if got := v.Empty(); got != tc.ok {
			t.Errorf("%s %q: accepted %v, want %v (%s)", tc.purpose, tc.ref, got, tc.ok, v.String())
		}
		if !tc.ok && !cmp.Equal(v.Fields(), []string{"access.case_reference"}) {
			t.Errorf("%s %q: fields %v, want access.case_reference", tc.purpose, tc.ref, v.Fields())
		}
	}
}

// TestPurposeTable: each kind of caller may give only its purposes for a
// method, and the refusal names access.purpose and what it could give.
func TestPurposeTable(t *testing.T) {
	kinds := map[string]sinergiv1.InstitutionKind{
		"polres": sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES, "mabes": sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES,
		"lapas": sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, "ministry": sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY,
		"kanwil": sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL,
	}
	get := sinergiv1.CustodyService_GetCustodyRecord_FullMethodName
	for _, tc := range []struct {
		method  string
		kind    string
		purpose sinergiv1.Purpose
		ok      bool
	}{
		{get, "polres", sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST, false}, // a Polres answers no data subject
		{get, "polres", sinergiv1.Purpose_PURPOSE_OVERSIGHT, false},
		{get, "polres", sinergiv1.Purpose_PURPOSE_ADMINISTRATION, false},
		{get, "polres", sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS, true},
		{get, "lapas", sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, false}, // facilities do not investigate
		{get, "lapas", sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION, true},
		{get, "ministry", sinergiv1.Purpose_PURPOSE_OVERSIGHT, true},
		{get, "kanwil", sinergiv1.Purpose_PURPOSE_TRANSFER_ESCORT, false},
		{sinergiv1.CustodyService_WatchCustodyEvents_FullMethodName, "polres", sinergiv1.Purpose_PURPOSE_OVERSIGHT, false},
		{sinergiv1.AuditService_ListAuditRecords_FullMethodName, "mabes", sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, false},
		{sinergiv1.AuditService_ListAuditRecords_FullMethodName, "ministry", sinergiv1.Purpose_PURPOSE_OVERSIGHT, true},
		{sinergiv1.AuditService_ListSubjectAccess_FullMethodName, "ministry", sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST, true},
		{sinergiv1.AgreementService_RevokeAgreement_FullMethodName, "ministry", sinergiv1.Purpose_PURPOSE_OVERSIGHT, false},
		{sinergiv1.AgreementService_RevokeAgreement_FullMethodName, "mabes", sinergiv1.Purpose_PURPOSE_ADMINISTRATION, true},
		{sinergiv1.ReportService_SubmitReport_FullMethodName, "lapas", sinergiv1.Purpose_PURPOSE_TRANSFER_ESCORT, false},
		{sinergiv1.ReportService_ListReports_FullMethodName, "ministry", sinergiv1.Purpose_PURPOSE_OVERSIGHT, true},
	} {
		rule, _ := Lookup(tc.method)
		ac := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: tc.purpose, CaseReference: "PDP/0042/XI/2026"}
		if tc.purpose == sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION {
			ac.CaseReference = "LP/B/1/I/2026/SPKT"
		}
		var v validate.Violations
		CheckAccess(&v, "access", ac, rule.Purposes, kinds[tc.kind], tc.method)
		if got := v.Empty(); got != tc.ok {
			t.Errorf("%s by a %s for %s: accepted %v, want %v (%s)", methodName(tc.method), tc.kind, tc.purpose, got, tc.ok, v.String())
		}
		if !tc.ok && (!cmp.Equal(v.Fields(), []string{"access.purpose"}) || !strings.Contains(v.String(), "give one of")) {
			t.Errorf("%s by a %s for %s: %s, want access.purpose naming the purposes it could give", methodName(tc.method), tc.kind, tc.purpose, v.String())
		}
	}
}

// TestREADMEPurposeTable: the README shows the purpose table as the policy
// has it.
func TestREADMEPurposeTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := PurposeTable(); !strings.Contains(string(b), want) {
		t.Errorf("README.md lacks the purpose table as the policy has it; put this in its \"Purposes\" section:\n%s", want)
	}
}

// TestEveryRuleWithPurposesCoversItsCallers: a rule that takes an access
// context gives purposes to every kind of caller it admits.
func TestEveryRuleWithPurposesCoversItsCallers(t *testing.T) {
	all := []sinergiv1.InstitutionKind{}
	for v := range sinergiv1.InstitutionKind_name {
		if v != 0 {
			all = append(all, sinergiv1.InstitutionKind(v))
		}
	}
	for m, r := range Policy {
		if r.Purposes == nil {
			continue
		}
		kinds := r.Kinds
		if len(kinds) == 0 {
			kinds = all
		}
		for _, k := range kinds {
			if len(r.Purposes[CallerOf(k)]) == 0 {
				t.Errorf("%s admits %s but gives it no purpose", m, k)
			}
		}
	}
}

// TestRestrictionsBuiltOnlyByAuthz: no code outside internal/authz builds a
// restriction (the server's workers may use restrict.All), so no handler or
// store function decides who may see what.
func TestRestrictionsBuiltOnlyByAuthz(t *testing.T) {
	root := "../.."
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".sinergi" || d.Name() == "proto" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		inAuthz := strings.Contains(filepath.ToSlash(path), "internal/authz/")
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "restrict" {
				switch sel.Sel.Name {
				case "New", "Clause":
					found++
					if !inAuthz {
						t.Errorf("%s builds a restriction (restrict.%s): only internal/authz may", path, sel.Sel.Name)
					}
				case "All":
					// The server's own workers: the report escalator, the
					// licence expirer.
					if p := filepath.ToSlash(path); !strings.Contains(p, "internal/reports/") && !strings.HasSuffix(p, "internal/firearms/expiry.go") {
						t.Errorf("%s uses restrict.All: only the server's own workers may", path)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("found no restriction being built at all: the walk looks in the wrong place")
	}
}

// TestClassTableNamesRealFields: every entry of the class table names a
// message and fields that exist.
func TestClassTableNamesRealFields(t *testing.T) {
	for name, mc := range classTable {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			t.Errorf("class table names %s, which does not exist", name)
			continue
		}
		md := d.(protoreflect.MessageDescriptor)
		for f := range mc.fields {
			if md.Fields().ByName(f) == nil {
				t.Errorf("class table names %s.%s, which does not exist", name, f)
			}
		}
		if mc.all == classNone && len(mc.fields) != md.Fields().Len() {
			for i := range md.Fields().Len() {
				if _, ok := mc.fields[md.Fields().Get(i).Name()]; !ok {
					t.Errorf("%s.%s has no class", name, md.Fields().Get(i).Name())
				}
			}
		}
	}
}

// TestMaskEventsOnly: under custody events alone a delivery keeps what
// happened where, and loses who and the case.
func TestMaskEventsOnly(t *testing.T) {
	now := timestamppb.Now()
	full := &sinergiv1.WatchCustodyEventsResponse{Cursor: "c", Reason: sinergiv1.DeliveryReason_DELIVERY_REASON_JURISDICTION,
		Event: &sinergiv1.CustodyEvent{Id: 7, RecordId: "r", FacilityCode: "lapas-permisan", RegisterNumber: "BI.1", Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE,
			EffectiveTime: now, ReleaseReason: sinergiv1.ReleaseReason_RELEASE_REASON_OTHER, ReleaseNote: "putusan PN Cilacap atas nama Budi",
			StatusAfter: sinergiv1.CustodyStatus_CUSTODY_STATUS_RELEASED, RecordTime: now},
		Subject: &sinergiv1.Identity{FullName: "Budi Santoso", Nik: "3301121503900001"}}
	got := proto.Clone(full).(*sinergiv1.WatchCustodyEventsResponse)
	withheld := Mask(got, Of(ClassPlacement, ClassEvents))
	want := &sinergiv1.WatchCustodyEventsResponse{Cursor: "c", Reason: sinergiv1.DeliveryReason_DELIVERY_REASON_JURISDICTION,
		Event: &sinergiv1.CustodyEvent{Id: 7, RecordId: "r", FacilityCode: "lapas-permisan", Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE,
			EffectiveTime: now, ReleaseReason: sinergiv1.ReleaseReason_RELEASE_REASON_OTHER, StatusAfter: sinergiv1.CustodyStatus_CUSTODY_STATUS_RELEASED, RecordTime: now}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("masked delivery (-want +got):\n%s", diff)
	}
	if withheld != Of(ClassIdentity, ClassLegal) {
		t.Errorf("withheld %s, want identity, legal", describeClasses(withheld))
	}
	again := proto.Clone(full).(*sinergiv1.WatchCustodyEventsResponse)
	if w := Mask(again, CustodyClasses); w != 0 || !proto.Equal(again, full) {
		t.Errorf("masking under every custody class changed the delivery (withheld %s)", describeClasses(w))
	}
	if ClassesOf(full.ProtoReflect().Descriptor()) != Of(ClassIdentity, ClassPlacement, ClassLegal, ClassEvents) {
		t.Errorf("classes a delivery carries: %s", describeClasses(ClassesOf(full.ProtoReflect().Descriptor())))
	}
	if !slices.Equal(Of(ClassIdentity, ClassLegal).Proto(), []sinergiv1.DataClass{sinergiv1.DataClass_DATA_CLASS_IDENTITY, sinergiv1.DataClass_DATA_CLASS_LEGAL}) {
		t.Error("class set as the API names it")
	}
}

// FuzzCaseReference: any text is checked without a panic, and whatever is
// accepted for an investigation is a police report's number: LP/, then at
// least two parts, a digit among them, nothing but letters, digits, dots,
// hyphens and single inner spaces.
func FuzzCaseReference(f *testing.F) {
	for _, s := range []string{"LP/B/123/VIII/2025/SPKT", "LP/ /1", "LP/B/1/", "lp/a/7/I/2026/SPKT/POLDA METRO JAYA", "\x00", "LP/B/1/\u00a0x", "Sp.Kap/1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		ac := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: ref}
		NormalizeAccess(ac)
		var v validate.Violations
		CheckAccess(&v, "access", ac, Purposes{PoliceUnit: []sinergiv1.Purpose{sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION}},
			sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES, "/x/GetCustodyRecord")
		if !v.Empty() {
			return
		}
		cr := ac.GetCaseReference()
		parts := strings.Split(cr, "/")
		if !strings.EqualFold(parts[0], "LP") || len(parts) < 3 || !strings.ContainsAny(cr, "0123456789") {
			t.Fatalf("accepted %q", cr)
		}
		for _, p := range parts[1:] {
			if p == "" || strings.TrimSpace(p) != p || strings.Contains(p, "  ") || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.- ") != "" {
				t.Fatalf("accepted %q (part %q)", cr, p)
			}
		}
	})
}
