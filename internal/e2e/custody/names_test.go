package custody_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func foundIDs(t *testing.T, c sinergiv1.CustodyServiceClient, req *sinergiv1.SearchCustodyRecordsRequest) []string {
	t.Helper()
	req.Access = analyst
	resp, err := c.SearchCustodyRecords(context.Background(), req)
	if err != nil {
		t.Fatalf("search %v: %v", req, err)
	}
	var out []string
	for _, r := range resp.GetRecords() {
		out = append(out, r.GetId())
	}
	return out
}

// TestPassportAndOldSpellings: a foreign national is found by passport
// number, written with spaces or in lower case, within the searcher's
// reach only; a name written in the old spelling is found by today's, and
// today's by the old ("Joesoef" and "Yusuf", "Soekarno" and "Sukarno"),
// in searches and in presence checks by name and birth date.
func TestPassportAndOldSpellings(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	cipinang := custodyAs(t, env, "lapas-cipinang")
	jaktim := custodyAs(t, env, "polres-metro-jakarta-timur")
	at := time.Now().Add(-24 * time.Hour)

	foreigner := person(unique("PP."), "Ahmad bin Ismail", date("1975-09-09"), sinergiv1.Sex_SEX_MALE, "317501")
	passport := "A" + unique("")[0:6] + "9"
	foreigner.Identity.Nik, foreigner.Identity.Nationality, foreigner.Identity.PassportNumber = "", "MYS", passport
	f := admitted(t, cipinang, foreigner, at)
	if got := foundIDs(t, jaktim, &sinergiv1.SearchCustodyRecordsRequest{PassportNumber: passport[:3] + " " + passport[3:]}); !slices.Equal(got, []string{f.GetId()}) {
		t.Fatalf("by passport: %v, want %s", got, f.GetId())
	}
	lower := []byte(passport)
	lower[0] += 'a' - 'A'
	if got := foundIDs(t, jaktim, &sinergiv1.SearchCustodyRecordsRequest{PassportNumber: string(lower)}); !slices.Equal(got, []string{f.GetId()}) {
		t.Fatalf("by passport in lower case: %v", got)
	}
	if got := foundIDs(t, custodyAs(t, env, "polres-metro"), &sinergiv1.SearchCustodyRecordsRequest{PassportNumber: passport}); len(got) != 0 {
		t.Fatalf("by passport, out of reach: %v", got)
	}
	_, err := jaktim.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, PassportNumber: "!!"})
	if f := validate.FieldsOf(err); !slices.Equal(f, []string{"passport_number"}) {
		t.Fatalf("a bad passport number: %v", err)
	}

	surname := randomWord(7)
	old := person(unique("OS."), "Joesoef "+surname, date("1961-06-06"), sinergiv1.Sex_SEX_MALE, "317501")
	old.Identity.Aliases = []string{"Soekarno " + surname}
	o := admitted(t, cipinang, old, at)
	modern := person(unique("OS."), "Yusuf Wicaksono"+surname, date("1962-06-06"), sinergiv1.Sex_SEX_MALE, "317501")
	m := admitted(t, cipinang, modern, at)
	for query, want := range map[string]string{
		"Yusuf " + surname:            o.GetId(), // today's spelling finds the old
		"Sukarno " + surname:          o.GetId(), // an alias too
		"Joesoef Wicaksono" + surname: m.GetId(), // the old spelling finds today's
	} {
		if got := foundIDs(t, jaktim, &sinergiv1.SearchCustodyRecordsRequest{Name: query, PageSize: 3}); len(got) == 0 || got[0] != want {
			t.Errorf("search %q: %v, want %s first", query, got, want)
		}
	}
	p, err := jaktim.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, FullName: "Yusuf " + surname, BirthDate: "1961-06-06"})
	if err != nil || !p.GetHeld() || len(p.GetPlacements()) != 1 {
		t.Fatalf("presence by today's spelling of an old name: %v, %v", p, err)
	}
}
