package demodata

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	_ "github.com/sinergi-id/sinergi/internal/api" // the request validators
	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var demoFacilities = FacilitiesOf([]*sinergiv1.Institution{
	{Code: "lapas-metro", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, RegionCode: "18.72"},
	{Code: "lpka-tenggarong", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA, RegionCode: "64.02"},
	{Code: "lapas-tenggarong", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, RegionCode: "64.02"},
	{Code: "lpp-tenggarong", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LPP, RegionCode: "64.02"},
	{Code: "rutan-demo", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN, RegionCode: "33.01"},
	{Code: "polres-metro", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES, RegionCode: "18.72"},
	{Code: "kemenimipas", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY},
})

var anchor = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func TestFacilitiesAndSplit(t *testing.T) {
	if len(demoFacilities) != 5 {
		t.Fatalf("facilities %v: police units and the ministry hold nobody", demoFacilities)
	}
	for _, n := range []int{0, 1, 7, 300, 300000} {
		sum := 0
		counts := Split(n, demoFacilities)
		for _, c := range counts {
			sum += c
		}
		if sum != n {
			t.Fatalf("Split(%d) = %v, sums to %d", n, counts, sum)
		}
		if n == 300000 && !(counts[2] < counts[0]/5) { // lpka-tenggarong (third by code) holds few
			t.Errorf("Split(%d) = %v: children should be few", n, counts)
		}
	}
}

// TestPeoplePlausible: every person passes the service's own record
// validator (NIK consistent with birth date and sex), NIKs are unique and
// registered in the facility's regency, children are in the LPKA and
// adults were 18 when admitted, women are in the LPP.
func TestPeoplePlausible(t *testing.T) {
	niks := map[string]bool{}
	for _, f := range demoFacilities {
		g := NewGenerator(1, f, anchor)
		for i := range 3000 {
			p := g.Person(i)
			if err := validate.Request(&sinergiv1.UpsertCustodyRecordRequest{Record: p}); err != nil {
				t.Fatalf("%s person %d refused by the validator: %v", f.Code, i, err)
			}
			id := p.GetIdentity()
			held := p.GetHeldSince().AsTime()
			if held.After(anchor) {
				t.Fatalf("%s person %d held from %v, after %v", f.Code, i, held, anchor)
			}
			birth, _ := time.Parse("2006-01-02", id.GetBirthDate())
			adultAt := birth.AddDate(18, 0, 0)
			switch f.Kind {
			case sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA:
				if p.GetLegalStatus().GetKind() != sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CHILD || !adultAt.After(held) {
					t.Fatalf("LPKA person %d: %v, born %v, held %v", i, p.GetLegalStatus().GetKind(), birth, held)
				}
			case sinergiv1.InstitutionKind_INSTITUTION_KIND_LPP:
				if id.GetSex() != sinergiv1.Sex_SEX_FEMALE {
					t.Fatalf("LPP person %d is %v", i, id.GetSex())
				}
			}
			if f.Kind != sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA && adultAt.After(held) {
				t.Fatalf("%s person %d was a minor when admitted (born %v, held %v)", f.Code, i, birth, held)
			}
			if id.GetNik() == "" {
				if id.GetNationality() == "IDN" || id.GetPassportNumber() == "" {
					t.Fatalf("%s person %d: no NIK, nationality %q, passport %q", f.Code, i, id.GetNationality(), id.GetPassportNumber())
				}
				continue
			}
			parsed, err := nik.Parse(id.GetNik())
			if err != nil || !strings.HasPrefix(parsed.Region, f.Region+".") {
				t.Fatalf("%s person %d: NIK region %q (%v), want inside %s", f.Code, i, parsed.Region, err, f.Region)
			}
			if niks[id.GetNik()] {
				t.Fatalf("%s person %d: NIK repeated", f.Code, i)
			}
			niks[id.GetNik()] = true
		}
	}
}

func TestPeopleDeterministic(t *testing.T) {
	f := demoFacilities[0]
	a, b, c := NewGenerator(7, f, anchor), NewGenerator(7, f, anchor), NewGenerator(8, f, anchor)
	differ := 0
	for i := range 200 {
		pa, pb, pc := a.Person(i), b.Person(i), c.Person(i)
		if !proto.Equal(pa, pb) {
			t.Fatalf("person %d differs for the same seed:\n%v\n%v", i, pa, pb)
		}
		if !proto.Equal(pa, pc) {
			differ++
		}
	}
	if differ < 190 {
		t.Fatalf("another seed changed only %d of 200 people", differ)
	}
}
