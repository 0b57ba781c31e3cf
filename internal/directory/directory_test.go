package directory

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func TestRegionWithin(t *testing.T) {
	for _, tc := range []struct {
		r, prefix string
		want      bool
	}{
		{"33.01", "33", true}, {"33.01", "33.01", true}, {"33", "33", true}, {"33.01.12", "33.01", true},
		{"33.01", "3", false}, {"33.01", "33.0", false}, {"330", "33", false}, {"33", "33.01", false}, {"64.02", "", true},
	} {
		if got := RegionWithin(tc.r, tc.prefix); got != tc.want {
			t.Errorf("RegionWithin(%q, %q) = %v", tc.r, tc.prefix, got)
		}
	}
}

func TestDemoDirectory(t *testing.T) {
	f, err := ParseSeed(DemoSeed())
	if err != nil {
		t.Fatal(err)
	}
	insts, agrs, err := f.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 17 || len(agrs) != 7 {
		t.Fatalf("demo: %d institutions, %d agreements; want 17 and 7", len(insts), len(agrs))
	}
	snap := NewSnapshot(&store.Directory{Institutions: insts, Agreements: agrs})
	pks := snap.Agreement("pks-2024-lpka-tenggarong-polres-kukar")
	for date, want := range map[string]sinergiv1.AgreementStatus{
		"2024-01-24": sinergiv1.AgreementStatus_AGREEMENT_STATUS_NOT_YET_IN_FORCE,
		"2024-01-25": sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE,
		"2025-01-24": sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE,
		"2025-01-25": sinergiv1.AgreementStatus_AGREEMENT_STATUS_EXPIRED,
		"2026-11-22": sinergiv1.AgreementStatus_AGREEMENT_STATUS_EXPIRED,
	} {
		at, _ := time.ParseInLocation("2006-01-02", date, WIB)
		if got := StatusAt(pks, at); got != want {
			t.Errorf("2024 PKS on %s: %v, want %v", date, got, want)
		}
	}
	// Every Polri unit but Mabes has its parent on the same side.
	for _, in := range insts {
		if SideOf(in.GetKind()) == sinergiv1.Side_SIDE_POLRI && in.GetKind() != sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES && in.GetParentCode() == "" {
			t.Errorf("%s has no parent", in.GetCode())
		}
	}
}

// TestSeedValidation: errors name the entry and the field; all are reported at once.
func TestSeedValidation(t *testing.T) {
	f, err := ParseSeed([]byte(`
institutions:
  - {code: polres-x, name: Polres X, kind: POLRES, region_code: "33.01", parent_code: polda-nowhere}
  - {code: Bad Code, name: "", kind: PRISON}
  - {code: polres-x, name: Polres X again, kind: POLRES, region_code: "3301"}
agreements:
  - id: pks-x
    number: "1"
    kind: PKS
    parties: [{institution_code: polres-x}, {institution_code: lapas-nowhere}]
    scopes: [INCIDENT_REPORTS, INCIDENT_REPORTS]
    effective: "2026-01-01"
    expires: "2025-01-01"
  - id: mou-y
    number: "2"
    kind: MOU
    parties: [{side: CORRECTIONS}]
    scopes: [GOSSIP]
    effective: "yesterday"
`))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.Resolve(nil)
	if err == nil {
		t.Fatal("invalid seed accepted")
	}
	for _, want := range []string{
		"institutions[0] (polres-x).parent_code: unknown institution",
		"institutions[1] (Bad Code).kind: unknown value",
		"institutions[1] (Bad Code).code",
		"institutions[1] (Bad Code).name: required",
		"institutions[2] (polres-x).code: \"polres-x\" appears twice",
		"institutions[2] (polres-x).region_code",
		"agreements[0] (pks-x).parties[1].institution_code: unknown institution \"lapas-nowhere\"",
		"agreements[0] (pks-x).scopes[1]",
		"agreements[0] (pks-x).expire_time: must be after effective_time",
		"agreements[1] (mou-y).scopes[0]: unknown value \"GOSSIP\"",
		"agreements[1] (mou-y).effective",
		"nothing written",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := ParseSeed([]byte("institutions:\n  - {code: x, colour: red}\n")); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestCoverageGapPriority(t *testing.T) {
	lapas := &sinergiv1.Institution{Code: "lapas-a", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, RegionCode: "33.01"}
	polres := &sinergiv1.Institution{Code: "polres-a", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES, RegionCode: "33.01"}
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, WIB)
	mk := func(id string, scope sinergiv1.Scope, from, until string, revoked string, parties ...*sinergiv1.Party) *sinergiv1.Agreement {
		p := func(s string) *time.Time {
			if s == "" {
				return nil
			}
			v, _ := time.ParseInLocation("2006-01-02", s, WIB)
			return &v
		}
		a := &sinergiv1.Agreement{Id: id, Scopes: []sinergiv1.Scope{scope}, Parties: parties}
		a.EffectiveTime = ts(*p(from))
		if u := p(until); u != nil {
			a.ExpireTime = ts(*u)
		}
		if r := p(revoked); r != nil {
			a.RevokeTime = ts(*r)
		}
		return a
	}
	sides := []*sinergiv1.Party{{Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_CORRECTIONS}}, {Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_POLRI}}}
	regional := []*sinergiv1.Party{{Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_CORRECTIONS}, RegionPrefix: "64"}, {Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_POLRI}}}
	for _, tc := range []struct {
		name string
		ags  []*sinergiv1.Agreement
		want sinergiv1.CoverageGap
		ids  []string
	}{
		{"none", nil, sinergiv1.CoverageGap_COVERAGE_GAP_NONE_EXISTS, nil},
		{"other scope only", []*sinergiv1.Agreement{mk("a", sinergiv1.Scope_SCOPE_TRAINING, "2025-01-01", "", "", sides...)}, sinergiv1.CoverageGap_COVERAGE_GAP_SCOPE_NOT_COVERED, nil},
		{"expired beats other scope", []*sinergiv1.Agreement{mk("a", sinergiv1.Scope_SCOPE_TRAINING, "2025-01-01", "", "", sides...), mk("b", sinergiv1.Scope_SCOPE_DETAINEE_DATA, "2024-01-01", "2025-01-01", "", sides...)}, sinergiv1.CoverageGap_COVERAGE_GAP_EXPIRED, nil},
		{"revoked", []*sinergiv1.Agreement{mk("a", sinergiv1.Scope_SCOPE_DETAINEE_DATA, "2025-01-01", "", "2026-01-01", sides...)}, sinergiv1.CoverageGap_COVERAGE_GAP_REVOKED, nil},
		{"region-limited party elsewhere", []*sinergiv1.Agreement{mk("a", sinergiv1.Scope_SCOPE_DETAINEE_DATA, "2025-01-01", "", "", regional...)}, sinergiv1.CoverageGap_COVERAGE_GAP_NONE_EXISTS, nil},
		{"covered", []*sinergiv1.Agreement{mk("a", sinergiv1.Scope_SCOPE_DETAINEE_DATA, "2025-01-01", "", "", sides...)}, sinergiv1.CoverageGap_COVERAGE_GAP_UNSPECIFIED, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := CoverageOf(tc.ags, polres, lapas, sinergiv1.Scope_SCOPE_DETAINEE_DATA, at)
			if c.Gap != tc.want || c.Covered != (tc.ids != nil) || !cmp.Equal(c.AgreementIDs(), tc.ids, cmpEmpty) {
				t.Errorf("coverage = %+v, want gap %v ids %v", c, tc.want, tc.ids)
			}
		})
	}
}
