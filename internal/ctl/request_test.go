package ctl

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func noEnv(string) string { return "" }

// parseArgs builds the request of `sinergictl <service> <method> args...`.
func parseArgs(t *testing.T, cat *catalog, service, method, stdin string, args ...string) (proto.Message, error) {
	t.Helper()
	_, m, err := lookup(cat, service, []string{method})
	if err != nil {
		t.Fatal(err)
	}
	_, globals, err := loadOptions(noEnv)
	if err != nil {
		t.Fatal(err)
	}
	_, req, err := parseMethod(m, args, globals, strings.NewReader(stdin))
	return req, err
}

func wibDate(y int, mo time.Month, d int) *timestamppb.Timestamp {
	return timestamppb.New(time.Date(y, mo, d, 0, 0, 0, 0, wib))
}

func TestRequestFromFlags(t *testing.T) {
	dataFile := filepath.Join(t.TempDir(), "req.json")
	if err := os.WriteFile(dataFile, []byte(`{"kind": "INSTITUTION_KIND_RUTAN", "page_size": 7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cat := globalCatalog(t)
	for _, tc := range []struct {
		name            string
		service, method string
		stdin           string
		args            []string
		want            proto.Message
	}{
		{
			name:    "no flags",
			service: "institution", method: "list-institutions",
			want: &sinergiv1.ListInstitutionsRequest{},
		},
		{
			name:    "scalars",
			service: "institution", method: "list-institutions",
			args: []string{"--region-prefix", "31", "--page-size=20", "-parent-code", "polda-metro-jaya", "--page-token", "abc"},
			want: &sinergiv1.ListInstitutionsRequest{RegionPrefix: "31", PageSize: 20, ParentCode: "polda-metro-jaya", PageToken: "abc"},
		},
		{
			name:    "enum by short name",
			service: "institution", method: "list-institutions",
			args: []string{"--kind", "lapas"},
			want: &sinergiv1.ListInstitutionsRequest{Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS},
		},
		{
			name:    "enum by short name in upper case",
			service: "institution", method: "list-institutions",
			args: []string{"--kind", "RUTAN"},
			want: &sinergiv1.ListInstitutionsRequest{Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN},
		},
		{
			name:    "enum by full name",
			service: "institution", method: "list-institutions",
			args: []string{"--kind", "INSTITUTION_KIND_LPKA"},
			want: &sinergiv1.ListInstitutionsRequest{Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA},
		},
		{
			name:    "enum by number",
			service: "institution", method: "list-institutions",
			args: []string{"--kind", "8"},
			want: &sinergiv1.ListInstitutionsRequest{Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES},
		},
		{
			name:    "enum of several words, dashed",
			service: "agreement", method: "list-agreements",
			args: []string{"--status", "not-yet-in-force", "--scope", "detainee_data"},
			want: &sinergiv1.ListAgreementsRequest{
				Status: sinergiv1.AgreementStatus_AGREEMENT_STATUS_NOT_YET_IN_FORCE,
				Scope:  sinergiv1.Scope_SCOPE_DETAINEE_DATA,
			},
		},
		{
			name:    "timestamp in RFC 3339",
			service: "agreement", method: "list-agreements",
			args: []string{"--active-time", "2025-08-17T09:30:00.5+07:00"},
			want: &sinergiv1.ListAgreementsRequest{ActiveTime: timestamppb.New(time.Date(2025, 8, 17, 2, 30, 0, 5e8, time.UTC))},
		},
		{
			name:    "timestamp as a date is midnight WIB",
			service: "agreement", method: "check-coverage",
			args: []string{"--at-time", "2025-08-17", "--counterpart-code", "lapas-cipinang"},
			want: &sinergiv1.CheckCoverageRequest{
				AtTime:          timestamppb.New(time.Date(2025, 8, 16, 17, 0, 0, 0, time.UTC)),
				CounterpartCode: "lapas-cipinang",
			},
		},
		{
			name:    "nested access context",
			service: "audit", method: "list-subject-access",
			args: []string{
				"--subject", "custody/7f3c",
				"--access.operator-id", "12345678",
				"--access.purpose", "criminal-investigation",
				"--access.case-reference", "LP/B/1/2025",
			},
			want: &sinergiv1.ListSubjectAccessRequest{
				Subject: "custody/7f3c",
				Access: &sinergiv1.AccessContext{
					OperatorId:    "12345678",
					Purpose:       sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION,
					CaseReference: "LP/B/1/2025",
				},
			},
		},
		{
			name:    "repeated enums and strings, repeated and comma-separated",
			service: "agreement", method: "create-agreement",
			args: []string{
				"--agreement.id", "pks-1",
				"--agreement.scopes", "detainee-data,children-data",
				"--agreement.scopes", "training",
				"--agreement.signatories", "Menteri",
				"--agreement.signatories", "Kapolri",
				"--agreement.effective-time", "2025-08-04",
			},
			want: &sinergiv1.CreateAgreementRequest{Agreement: &sinergiv1.Agreement{
				Id:            "pks-1",
				Scopes:        []sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA, sinergiv1.Scope_SCOPE_CHILDREN_DATA, sinergiv1.Scope_SCOPE_TRAINING},
				Signatories:   []string{"Menteri", "Kapolri"},
				EffectiveTime: wibDate(2025, 8, 4),
			}},
		},
		{
			name:    "-d alone",
			service: "institution", method: "list-institutions",
			args: []string{"-d", `{"kind":"INSTITUTION_KIND_LAPAS","region_prefix":"33","page_size":5}`},
			want: &sinergiv1.ListInstitutionsRequest{Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, RegionPrefix: "33", PageSize: 5},
		},
		{
			name:    "flags apply on top of -d, whatever their order",
			service: "institution", method: "list-institutions",
			args: []string{"--region-prefix", "31", "--data", `{"kind":"INSTITUTION_KIND_LAPAS","region_prefix":"33","page_size":5}`, "--page-size", "9"},
			want: &sinergiv1.ListInstitutionsRequest{Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, RegionPrefix: "31", PageSize: 9},
		},
		{
			name:    "a list flag replaces the list -d gave, nested fields merge",
			service: "agreement", method: "create-agreement",
			args: []string{
				"-d", `{"agreement":{"id":"pks-1","scopes":["SCOPE_TRAINING"],"parties":[{"side":"SIDE_POLRI"}]}}`,
				"--agreement.scopes", "detainee-data",
				"--agreement.title", "Data tahanan",
			},
			want: &sinergiv1.CreateAgreementRequest{Agreement: &sinergiv1.Agreement{
				Id:      "pks-1",
				Title:   "Data tahanan",
				Scopes:  []sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA},
				Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_POLRI}}},
			}},
		},
		{
			name:    "-d @file",
			service: "institution", method: "list-institutions",
			args: []string{"-d", "@" + dataFile, "--kind", "lapas"},
			want: &sinergiv1.ListInstitutionsRequest{Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, PageSize: 7},
		},
		{
			name:    "-d - reads standard input",
			service: "institution", method: "get-institution",
			stdin: `{"code": "lapas-cipinang"}`,
			args:  []string{"-d", "-"},
			want:  &sinergiv1.GetInstitutionRequest{Code: "lapas-cipinang"},
		},
		{
			name:    "global flags after the method are not fields",
			service: "institution", method: "get-institution",
			args: []string{"--code", "lapas-cipinang", "-o", "json", "--timeout", "5s"},
			want: &sinergiv1.GetInstitutionRequest{Code: "lapas-cipinang"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(t, cat, tc.service, tc.method, tc.stdin, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// Shapes sinergi.v1 does not use yet: bools, maps, a oneof with an Empty
// member, durations, wrappers, bytes, lists of timestamps.
func TestRequestFromFlagsOfOtherShapes(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		name string
		args []string
		want string // protojson of a ctltest.v1.Filter
	}{
		{"bool without a value", []string{"--active"}, `{"active": true}`},
		{"bool with a value", []string{"--active=false", "--code", "x"}, `{"code": "x"}`},
		{"map", []string{"--labels", "a=1,b=2", "--labels", "c=3", "--counts", "x=4"}, `{"labels": {"a": "1", "b": "2", "c": "3"}, "counts": {"x": 4}}`},
		{"oneof string member", []string{"--name", "budi"}, `{"name": "budi"}`},
		{"oneof Empty member", []string{"--all"}, `{"all": {}}`},
		{"oneof member replaces the one -d set", []string{"-d", `{"name": "budi"}`, "--all"}, `{"all": {}}`},
		{"duration, wrapper, bytes", []string{"--wait", "1m30s", "--limit", "0", "--blob", "aGFp"}, `{"wait": "90s", "limit": 0, "blob": "aGFp"}`},
		{"list of timestamps", []string{"--times", "2025-01-01,2025-01-02T00:00:00Z"}, `{"times": ["2024-12-31T17:00:00Z", "2025-01-02T00:00:00Z"]}`},
		{"nested flattening stops at recursion", []string{"--code", "a"}, `{"code": "a"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(t, cat, "test", "find", "", tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			want := testMessage(t, cat, "Filter", tc.want)
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestFlagsRefuse(t *testing.T) {
	sinergi, other := globalCatalog(t), testCatalog(t)
	for _, tc := range []struct {
		name            string
		cat             *catalog
		service, method string
		args            []string
		want            string // in the error
	}{
		{"unknown enum value", sinergi, "institution", "list-institutions", []string{"--kind", "lapass"}, "want one of ministry, kanwil, lapas"},
		{"enum number not defined", sinergi, "institution", "list-institutions", []string{"--kind", "99"}, "want one of"},
		{"enum of another type", sinergi, "institution", "list-institutions", []string{"--kind", "SCOPE_TRAINING"}, "want one of"},
		{"not a number", sinergi, "institution", "list-institutions", []string{"--page-size", "ten"}, "--page-size: want a whole number"},
		{"number out of range", sinergi, "institution", "list-institutions", []string{"--page-size", "99999999999"}, "out of range"},
		{"bad date", sinergi, "agreement", "list-agreements", []string{"--active-time", "17-08-2025"}, "want RFC 3339"},
		{"unknown flag", sinergi, "institution", "list-institutions", []string{"--region", "31"}, "not defined: --region"},
		{"stray argument", sinergi, "institution", "get-institution", []string{"--code", "lapas", "cipinang"}, `unexpected argument "cipinang"`},
		{"bad -d", sinergi, "institution", "list-institutions", []string{"-d", `{"kind": "LAPAS"}`}, "-d:"},
		{"-d field that does not exist", sinergi, "institution", "list-institutions", []string{"-d", `{"kinds": 1}`}, "-d:"},
		{"missing -d file", sinergi, "institution", "list-institutions", []string{"-d", "@/nonexistent/req.json"}, "-d:"},
		{"two members of a oneof", other, "test", "find", []string{"--name", "budi", "--all"}, "--name and --all set different members of oneof target"},
		{"map without =", other, "test", "find", []string{"--labels", "a"}, "want KEY=VALUE"},
		{"no flag for a list of messages", other, "test", "find", []string{"--items.code", "a"}, "not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseArgs(t, tc.cat, tc.service, tc.method, "", tc.args...)
			if err == nil {
				t.Fatalf("%v: no error", tc.args)
			}
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Errorf("%v is not a usage error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestMethodHelpListsRequestFlags(t *testing.T) {
	cat := globalCatalog(t)
	_, m, err := lookup(cat, "audit", []string{"list-subject-access"})
	if err != nil {
		t.Fatal(err)
	}
	_, globals, _ := loadOptions(noEnv)
	rf, _, err := parseMethod(m, []string{"--help"}, globals, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	var b strings.Builder
	if err := writeMethodHelp(&b, m, rf, globals); err != nil {
		t.Fatal(err)
	}
	// Columns are padded to the widest flag; compare words.
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	for _, want := range []string{
		"Usage: sinergictl [global flags] audit list-subject-access [request flags]",
		"--subject TEXT",
		"--page-size INT32",
		"--access.operator-id TEXT",
		"--access.purpose PURPOSE criminal-investigation | warrant-execution | security-coordination | intelligence-analysis | transfer-escort | oversight | data-subject-request | administration",
		"--access.case-reference TEXT",
		"-d, --data JSON the whole request as protojson; @FILE reads a file, - standard input; flags apply on top",
		"--addr HOST:PORT SINERGI_ADDR server address (default 127.0.0.1:7443)",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("help lacks the line %q:\n%s", want, b.String())
		}
	}
}
