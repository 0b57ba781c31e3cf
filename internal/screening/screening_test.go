package screening

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

const (
	search  = sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH
	call    = sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_CALL_OWNING_UNIT
	refuse  = sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY
	byNIK   = sinergiv1.ScreeningMatch_SCREENING_MATCH_NIK
	byName  = sinergiv1.ScreeningMatch_SCREENING_MATCH_NAME_AND_BIRTH_DATE
	isClear = sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR
	isRefer = sinergiv1.ScreeningResult_SCREENING_RESULT_REFER
)

// TestDecide: the strictest instruction, the strongest match, and whom to
// call only when the answer is to call.
func TestDecide(t *testing.T) {
	for name, tc := range map[string]struct {
		hits []store.ScreeningHit
		want Answer
	}{
		"none": {nil, Answer{Result: isClear}},
		"one by name": {[]store.ScreeningHit{{Owner: "a", Instruction: search, Match: byName}},
			Answer{Result: isRefer, Instruction: search, Match: byName}},
		"refuse wins": {[]store.ScreeningHit{{Owner: "a", Instruction: call, Match: byName}, {Owner: "b", Instruction: refuse, Match: byName},
			{Owner: "c", Instruction: search, Match: byNIK}}, Answer{Result: isRefer, Instruction: refuse, Match: byNIK}},
		"calls": {[]store.ScreeningHit{{Owner: "b", Instruction: call, Match: byNIK}, {Owner: "a", Instruction: call, Match: byName},
			{Owner: "b", Instruction: call, Match: byName}, {Owner: "c", Instruction: search, Match: byName}},
			Answer{Result: isRefer, Instruction: call, Match: byNIK, Call: []string{"a", "b"}}},
	} {
		if diff := cmp.Diff(tc.want, Decide(tc.hits)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// TestCheckVisit: the register's rules.
func TestCheckVisit(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	g := func(res sinergiv1.ScreeningResult, ins sinergiv1.HandlingInstruction) *Grant {
		return &Grant{ID: "s", Facility: "lapas-cipinang", Role: sinergiv1.ScreenedRole_SCREENED_ROLE_VISITOR, Identity: "p", Inmate: "i",
			Result: res, Instruction: ins, ScreenMicros: now.UnixMicro(), ExpireMicros: now.Add(TokenValidity).UnixMicro()}
	}
	v := func(highRisk bool, gr *Grant, o sinergiv1.VisitOutcome, mod ...func(*Visit)) error {
		vi := Visit{Facility: "lapas-cipinang", Identity: "p", Inmate: "i", TimeIn: now.Add(10 * time.Minute), Outcome: o, Screening: gr}
		for _, m := range mod {
			m(&vi)
		}
		return CheckVisit(highRisk, vi)
	}
	admitted, searched, refused := sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED, sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED_AFTER_SEARCH, sinergiv1.VisitOutcome_VISIT_OUTCOME_REFUSED
	for name, tc := range map[string]struct {
		err error
		ok  bool
	}{
		"unscreened, high risk":          {v(true, nil, admitted), false},
		"unscreened elsewhere":           {v(false, nil, admitted), true},
		"isClear":                        {v(true, g(isClear, 0), admitted), true},
		"refuse, admitted":               {v(true, g(isRefer, refuse), admitted), false},
		"refuse, searched":               {v(false, g(isRefer, refuse), searched), false},
		"refuse, refused":                {v(true, g(isRefer, refuse), refused), true},
		"search, admitted":               {v(true, g(isRefer, search), admitted), false},
		"search, searched":               {v(true, g(isRefer, search), searched), true},
		"call, admitted (the unit said)": {v(true, g(isRefer, call), admitted), true},
		"another visitor":                {v(true, g(isClear, 0), admitted, func(x *Visit) { x.Identity = "q" }), false},
		"another inmate":                 {v(true, g(isClear, 0), admitted, func(x *Visit) { x.Inmate = "j" }), false},
		"another facility":               {v(true, g(isClear, 0), admitted, func(x *Visit) { x.Facility = "lapas-metro" }), false},
		"before the screening":           {v(true, g(isClear, 0), admitted, func(x *Visit) { x.TimeIn = now.Add(-time.Hour) }), false},
		"after its validity":             {v(true, g(isClear, 0), admitted, func(x *Visit) { x.TimeIn = now.Add(TokenValidity) }), false},
		"an officer's screening": {v(true, func() *Grant {
			x := g(isClear, 0)
			x.Role = sinergiv1.ScreenedRole_SCREENED_ROLE_OFFICER
			return x
		}(), admitted), false},
	} {
		if (tc.err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", name, tc.err, tc.ok)
		}
	}
}

// TestKeys: tokens open only intact and with the keys that made them;
// identities and pseudonyms are stable, keyed, and carry no NIK.
func TestKeys(t *testing.T) {
	k := NewKeys([]byte("one secret"))
	other := NewKeys([]byte("another secret"))
	tok, err := k.Seal(Grant{ID: "s1", Facility: "lapas-metro", Identity: "abc", Result: isRefer, Instruction: refuse})
	if err != nil {
		t.Fatal(err)
	}
	g, err := k.Open(tok)
	if err != nil || g.ID != "s1" || g.Instruction != refuse {
		t.Fatalf("open: %v %v", g, err)
	}
	for _, bad := range []string{tok[:len(tok)-1], tok + "A", "", "x"} {
		if _, err := k.Open(bad); err == nil {
			t.Errorf("opened %q", bad)
		}
	}
	if _, err := other.Open(tok); err == nil {
		t.Error("another key opened the token")
	}
	birth := time.Date(1990, 4, 17, 0, 0, 0, 0, time.UTC)
	p := &sinergiv1.ScreenedPerson{Nik: nik.Make("187201", birth, nik.Male, 7), FullName: "Taufik  Hidayat", BirthDate: "1990-04-17"}
	same := &sinergiv1.ScreenedPerson{Nik: p.GetNik(), FullName: "taufik hidayat", BirthDate: "1990-04-17"}
	if k.Identity(p) != k.Identity(same) || k.Person(p) != k.Person(same) {
		t.Error("the same person, written otherwise, is another")
	}
	if k.Identity(p) == other.Identity(p) || k.Person(p) == other.Person(p) {
		t.Error("identities and pseudonyms do not depend on the key")
	}
	if k.Identity(p) == k.Identity(&sinergiv1.ScreenedPerson{Nik: p.GetNik(), FullName: "Taufik Hidayat", BirthDate: "1990-04-18"}) {
		t.Error("another birth date, the same identity")
	}
	// A pseudonym follows the NIK when there is one; by name otherwise.
	if k.Person(p) != k.Person(&sinergiv1.ScreenedPerson{Nik: p.GetNik(), FullName: "Taufik H.", BirthDate: "1990-04-17"}) {
		t.Error("the same NIK under another spelling is another person")
	}
	noNIK := &sinergiv1.ScreenedPerson{FullName: "Taufik Hidayat", BirthDate: "1990-04-17"}
	if k.Person(noNIK) == k.Person(p) || !strings.HasPrefix(k.Person(noNIK), "person/") {
		t.Errorf("pseudonyms %s %s", k.Person(noNIK), k.Person(p))
	}
	for _, s := range []string{tok, k.Person(p), k.Identity(p)} {
		if strings.Contains(s, p.GetNik()) || strings.Contains(strings.ToLower(s), "taufik") {
			t.Errorf("%q carries the person", s)
		}
	}
}

// TestLimiter: a burst, then the sustained rate, per facility.
func TestLimiter(t *testing.T) {
	l := NewLimiter(Limit{PerMinute: 60, Burst: 2})
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	for i := range 2 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("within the burst, %d refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("past the burst: %v, wait %s", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another facility held back")
	}
	now = now.Add(time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("a second later, one more")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("and only one")
	}
	now = now.Add(time.Hour)
	for range 2 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("an hour later, the burst again")
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("never more than the burst")
	}
}

// TestDemoIDs: the demo entries' ids are fixed, distinct and well formed,
// and their NIKs agree with their birth dates.
func TestDemoIDs(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range demoEntries {
		id := demoID(d.key)
		if !store.IsCustodyRecordID(id) || seen[id] || id != DemoEntryID(d.key) {
			t.Errorf("%s: id %s", d.key, id)
		}
		seen[id] = true
		if d.nik != "" {
			b, _ := time.Parse("2006-01-02", d.birth)
			if err := nik.Check(d.nik, b, nik.SexUnknown); err != nil {
				t.Errorf("%s: NIK %v", d.key, err)
			}
		}
	}
}
