package benchscale

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sinergi-id/sinergi/internal/names"
)

// TestNameDistribution draws the names of 200 000 people and holds them
// to what makes name search hard in Indonesia: common names shared by
// very many, one-word names, Arabic-derived spellings of one name, the
// old spellings of the people born before 1972, and a long tail.
func TestNameDistribution(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200_000
	full := map[string]int{}
	first := map[string]int{}
	oneWord, old, oldYoung, aliases, young := 0, 0, 0, 0, 0
	for i := range n {
		year := 1950 + i%55
		p := DrawName(rng, i%20 == 0, year)
		full[p.Full]++
		ws := strings.Fields(p.Full)
		first[names.Modern(strings.ToLower(ws[0]))]++
		if len(ws) == 1 {
			oneWord++
		}
		if p.Old {
			if year >= 1975 {
				oldYoung++
			} else {
				old++
			}
			// Every old spelling reads back as a modern name.
			if m := names.Modern(strings.ToLower(p.Full)); m == strings.ToLower(p.Full) {
				t.Errorf("%q is marked old but internal/names reads it as modern", p.Full)
			}
		}
		if year >= 1975 {
			young++
		}
		if len(p.Aliases) > 0 {
			aliases++
		}
	}
	share := func(k int) float64 { return float64(k) / n }
	if s := share(oneWord); s < 0.18 || s > 0.30 {
		t.Errorf("one-word names: %.3f of people, want 0.18-0.30", s)
	}
	if s := share(first["muhammad"]); s < 0.05 || s > 0.15 {
		t.Errorf("Muhammad as the first name: %.3f of people, want 0.05-0.15", s)
	}
	for _, variant := range []string{"mohammad", "muhamad", "mochamad", "achmad"} {
		if first[variant] == 0 {
			t.Errorf("no one has the spelling %q", variant)
		}
	}
	most := 0
	for _, k := range full {
		most = max(most, k)
	}
	if s := share(most); s < 0.002 {
		t.Errorf("the most common full name is shared by %.4f of people: want common names shared by many", s)
	}
	if len(full) < n/10 {
		t.Errorf("%d distinct full names among %d people: want a long tail", len(full), n)
	}
	oldShare, youngShare := float64(old)/float64(n-young), float64(oldYoung)/float64(young)
	if oldShare < 0.1 || youngShare > 0.05 || oldShare < 3*youngShare {
		t.Errorf("old spellings: %.3f of people born before 1975, %.3f after: want many more before", oldShare, youngShare)
	}
	if s := share(aliases); s < 0.1 || s > 0.3 {
		t.Errorf("aliases: %.3f of people, want 0.1-0.3", s)
	}
}

func TestOldSpelling(t *testing.T) {
	for _, c := range []struct{ modern, old string }{
		{"Yusuf", "Joesoef"}, {"Joko", "Djoko"}, {"Cahyono", "Tjahjono"}, {"Syamsul", "Sjamsoel"}, {"Suryani", "Soerjani"},
		// Nothing in the old letters: written as it is.
		{"Pratama", "Pratama"}, {"Yani", "Yani"},
	} {
		if got := oldSpellingWord(c.modern); got != c.old {
			t.Errorf("oldSpellingWord(%q) = %q, want %q", c.modern, got, c.old)
		}
		if got := names.ModernWord(strings.ToLower(c.old)); got != strings.ToLower(c.modern) {
			t.Errorf("names.ModernWord(%q) = %q, want %q", c.old, got, c.modern)
		}
	}
}

func TestGrowth(t *testing.T) {
	for _, c := range []struct{ tenth, full, want float64 }{
		{10, 12, 1.2}, {20, 10, 0.5}, {4, 40, 10},
	} {
		if got := Growth(c.tenth, c.full); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("Growth(%g, %g) = %g, want %g", c.tenth, c.full, got, c.want)
		}
	}
	if g := Growth(0, 5); g <= 1.5 {
		t.Errorf("Growth from nothing = %g: it must miss any target", g)
	}
}

// TestRecordsStable: a record is the same whatever else is generated, so
// that growing the data adds records and the roster sends what is stored.
func TestRecordsStable(t *testing.T) {
	c := &Custody{seed: 3, demo: []facility{{"lapas-metro", "LAPAS", "18.72"}}, roster: nationalFacilities()}
	a, fa, sa, _ := c.Record(12345)
	c.Record(1)
	b, fb, sb, _ := c.Record(12345)
	if a.GetIdentity().GetFullName() != b.GetIdentity().GetFullName() || a.GetIdentity().GetNik() != b.GetIdentity().GetNik() || fa != fb || sa != sb {
		t.Errorf("record 12345 changed between draws: %v %v", a, b)
	}
	heldN, held := 0, 0
	for i := range 10000 {
		_, _, s, _ := c.Record(i)
		heldN++
		if s.String() == "CUSTODY_STATUS_HELD" {
			held++
		}
	}
	if held != heldN/heldEvery {
		t.Errorf("%d of %d records held, want one in %d", held, heldN, heldEvery)
	}
}
