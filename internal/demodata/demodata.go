// Package demodata makes synthetic people for the demo facilities, for
// `sinergi demo-data`, `make run` and the benchmarks. Names are random
// combinations of common Indonesian given names and family names, so they
// sound right and name nobody in particular; NIKs are well formed and
// registered in each facility's region (internal/nik), with birth dates and
// sexes that agree with them; cases, sentences and risk flags are plausible
// for the facility's kind. The same seed gives the same people.
//
// People are loaded through the roster merge of the store (COPY into the
// staging area, then one merge per facility), the path facilities' uploads
// take, so loading twice changes nothing and a larger count adds people.
package demodata

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var (
	maleNames = []string{"Agus", "Ahmad", "Andi", "Arif", "Bambang", "Budi", "Dedi", "Dimas", "Eko", "Fajar", "Hadi", "Hendra",
		"Irfan", "Iwan", "Joko", "Komang", "Made", "Muhammad", "Rizky", "Rudi", "Slamet", "Sugeng", "Teguh", "Wahyu", "Yusuf",
		"Bayu", "Dani", "Fikri", "Gilang", "Heru", "Ilham", "Jefri", "Lukman", "Rahmat", "Ridwan", "Sandi", "Taufik", "Yoga"}
	femaleNames = []string{"Ani", "Ayu", "Dewi", "Eka", "Fitri", "Indah", "Lestari", "Maya", "Nur", "Putri", "Ratna", "Rina",
		"Sari", "Siti", "Wulan", "Yuni", "Anggun", "Dian", "Intan", "Mega", "Novi", "Puspita", "Rahayu", "Tri"}
	familyNames = []string{"Santoso", "Saputra", "Wijaya", "Pratama", "Setiawan", "Hidayat", "Kurniawan", "Nugroho", "Susanto",
		"Gunawan", "Hakim", "Wibowo", "Permana", "Syahputra", "Rahman", "Ramadhan", "Firmansyah", "Hartono", "Purnomo",
		"Siregar", "Lubis", "Nasution", "Harahap", "Simanjuntak", "Sitompul", "Tanjung", "Effendi", "Maulana", "Kusuma",
		"Prasetyo", "Utomo", "Suryadi", "Wahyudi", "Hasibuan", "Saragih", "Manurung", "Daulay", "Siswanto", "Riyadi"}
	nicknames = []string{"Botak", "Ucok", "Kribo", "Gendut", "Item", "Codet", "Jangkung", "Bule", "Gondrong", "Kancil", "Belut"}
	streets   = []string{"Jl. Merdeka", "Jl. Sudirman", "Jl. Diponegoro", "Jl. Ahmad Yani", "Jl. Gatot Subroto", "Jl. Pahlawan",
		"Jl. Kartini", "Jl. Imam Bonjol", "Jl. Veteran", "Jl. Pemuda", "Gg. Mawar", "Gg. Melati"}
	// Places near each province, for birth places and addresses.
	places = map[string][]string{
		"18": {"Metro", "Bandar Lampung", "Lampung Tengah", "Lampung Timur", "Pringsewu"},
		"31": {"Jakarta", "Bekasi", "Depok", "Tangerang", "Bogor"},
		"33": {"Cilacap", "Purwokerto", "Kebumen", "Semarang", "Banyumas"},
		"64": {"Tenggarong", "Samarinda", "Balikpapan", "Bontang", "Kutai Barat"},
	}
	otherPlaces = []string{"Medan", "Palembang", "Bandung", "Surabaya", "Makassar", "Pontianak", "Denpasar", "Padang"}
	foreign     = []struct{ nationality, prefix string }{{"MYS", "A"}, {"NGA", "A"}, {"CHN", "E"}, {"IRN", "K"}, {"THA", "AA"}}
)

// offence is a kind of case and what it usually brings.
type offence struct {
	article        string
	weight         int
	months         [2]int // sentence range
	narcoticsRisk  bool
	terrorism      bool
	foreignCourier bool
}

var offences = []offence{
	{article: "UU 35/2009 Pasal 114", weight: 30, months: [2]int{60, 240}, narcoticsRisk: true, foreignCourier: true},
	{article: "UU 35/2009 Pasal 112", weight: 20, months: [2]int{48, 144}},
	{article: "UU 35/2009 Pasal 111", weight: 5, months: [2]int{48, 144}},
	{article: "UU 35/2009 Pasal 127", weight: 4, months: [2]int{12, 48}},
	{article: "KUHP Pasal 362", weight: 12, months: [2]int{6, 60}},
	{article: "KUHP Pasal 363", weight: 8, months: [2]int{12, 84}},
	{article: "KUHP Pasal 365", weight: 5, months: [2]int{24, 144}},
	{article: "KUHP Pasal 378", weight: 5, months: [2]int{12, 48}},
	{article: "KUHP Pasal 372", weight: 3, months: [2]int{12, 48}},
	{article: "KUHP Pasal 351", weight: 4, months: [2]int{6, 60}},
	{article: "KUHP Pasal 338", weight: 2, months: [2]int{84, 180}},
	{article: "KUHP Pasal 340", weight: 1, months: [2]int{180, 240}},
	{article: "UU 31/1999 Pasal 2", weight: 2, months: [2]int{48, 240}},
	{article: "UU 35/2014 Pasal 81", weight: 2, months: [2]int{60, 180}},
	{article: "UU 5/2018 Pasal 15", weight: 1, months: [2]int{48, 240}, terrorism: true},
}

var offenceWeight = func() int {
	n := 0
	for _, o := range offences {
		n += o.weight
	}
	return n
}()

// Facility is a facility people are made for.
type Facility struct {
	Code   string
	Kind   sinergiv1.InstitutionKind
	Region string // "18.72"
	// Ordinal tells facilities of one region apart in NIK serials.
	Ordinal int
}

// FacilitiesOf lists the facilities of a directory that hold people and sit in a region.
func FacilitiesOf(insts []*sinergiv1.Institution) []Facility {
	var out []Facility
	for _, in := range insts {
		if directory.IsFacility(in.GetKind()) && len(in.GetRegionCode()) >= 5 {
			out = append(out, Facility{Code: in.GetCode(), Kind: in.GetKind(), Region: in.GetRegionCode()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	for i := range out {
		out[i].Ordinal = i
	}
	return out
}

// weight is a facility's share of the people: children and women are few.
func weight(k sinergiv1.InstitutionKind) float64 {
	switch k {
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA:
		return 0.08
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_LPP:
		return 0.25
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN:
		return 0.8
	}
	return 1
}

// Split divides n people among facilities by their weights.
func Split(n int, fs []Facility) []int {
	total := 0.0
	for _, f := range fs {
		total += weight(f.Kind)
	}
	counts := make([]int, len(fs))
	given := 0
	for i, f := range fs {
		counts[i] = int(float64(n) * weight(f.Kind) / total)
		given += counts[i]
	}
	for i := 0; given < n && len(fs) > 0; i = (i + 1) % len(fs) {
		counts[i]++
		given++
	}
	return counts
}

// Generator makes one facility's people.
type Generator struct {
	f       Facility
	rng     *rand.Rand
	now     time.Time
	serials map[string]int
}

// NewGenerator makes people for f as of now; the same seed, facility and
// now give the same people.
func NewGenerator(seed uint64, f Facility, now time.Time) *Generator {
	h := fnv.New64a()
	h.Write([]byte(f.Code))
	return &Generator{f: f, rng: rand.New(rand.NewPCG(seed, h.Sum64())), now: now, serials: map[string]int{}}
}

func (g *Generator) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *Generator) chance(p float64) bool { return g.rng.Float64() < p }

func (g *Generator) offence() offence {
	n := g.rng.IntN(offenceWeight)
	for _, o := range offences {
		if n < o.weight {
			return o
		}
		n -= o.weight
	}
	return offences[0]
}

func (g *Generator) place() string {
	if list := places[g.f.Region[:2]]; len(list) > 0 && g.chance(0.8) {
		return g.pick(list)
	}
	return g.pick(otherPlaces)
}

func date(t time.Time) string { return t.Format("2006-01-02") }

// Person makes the i-th person of the facility (i from 0).
func (g *Generator) Person(i int) *sinergiv1.CustodyRecord {
	kind := g.f.Kind
	child := kind == sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA
	female := kind == sinergiv1.InstitutionKind_INSTITUTION_KIND_LPP || (child && g.chance(0.1)) || (!child && g.chance(0.04))
	off := g.offence()
	if child && (off.terrorism || off.article == "UU 31/1999 Pasal 2") {
		off = offences[4] // children: no corruption or terrorism cases
	}
	months := off.months[0] + g.rng.IntN(off.months[1]-off.months[0]+1)
	if child {
		months = max(6, months/2) // UU 11/2012: at most half the adult sentence
	}
	// Convicted people in a LAPAS or LPP; remand (and some in the others) pre-trial.
	pretrial := kind == sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN && g.chance(0.8) || !child && g.chance(0.12)
	var held time.Time
	if pretrial {
		held = g.now.AddDate(0, 0, -g.rng.IntN(110)-1)
	} else {
		served := min(months, 60)
		held = g.now.AddDate(0, -g.rng.IntN(served), -g.rng.IntN(28)-1)
	}
	held = held.Truncate(time.Hour)
	var birth time.Time
	if child {
		birth = held.AddDate(-(14 + g.rng.IntN(4)), 0, -g.rng.IntN(360))
	} else {
		// Adults were 18 or more when admitted.
		birth = held.AddDate(-(18 + g.rng.IntN(46)), 0, -(1 + g.rng.IntN(360)))
	}
	birth = time.Date(birth.Year(), birth.Month(), birth.Day(), 0, 0, 0, 0, time.UTC)

	given := g.pick(maleNames)
	sex := sinergiv1.Sex_SEX_MALE
	if female {
		given, sex = g.pick(femaleNames), sinergiv1.Sex_SEX_FEMALE
	}
	family := g.pick(familyNames)
	name := given + " " + family
	if g.chance(0.15) {
		name = given // many Indonesians have one name
	}
	id := &sinergiv1.Identity{FullName: name, BirthDate: date(birth), BirthPlace: g.place(), Sex: sex, Nationality: "IDN"}
	if g.chance(0.2) {
		id.Aliases = []string{given + " " + g.pick(nicknames)}
	}
	if off.foreignCourier && !child && g.chance(0.05) {
		fo := foreign[g.rng.IntN(len(foreign))]
		id.Nationality, id.PassportNumber = fo.nationality, fmt.Sprintf("%s%07d", fo.prefix, g.rng.IntN(10_000_000))
		id.BirthPlace = ""
	} else {
		id.Nik = g.nik(birth, sex)
		id.Address = fmt.Sprintf("%s No. %d, %s", g.pick(streets), 1+g.rng.IntN(200), g.place())
		if child || g.chance(0.4) {
			id.FatherName = g.pick(maleNames) + " " + family
			id.MotherName = g.pick(femaleNames) + " " + g.pick(familyNames)
		}
	}

	rec := &sinergiv1.CustodyRecord{Identity: id, OffenceArticles: []string{off.article}, HeldSince: timestamppb.New(held)}
	if g.chance(0.1) {
		rec.OffenceArticles = append(rec.OffenceArticles, "KUHP Pasal 55")
	}
	switch {
	case child:
		rec.LegalStatus = &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CHILD, SentenceMonths: int32(months),
			ExpectedReleaseDate: date(held.AddDate(0, months, 0))}
		rec.RegisterNumber = fmt.Sprintf("AN.%06d", i+1)
	case pretrial:
		authority := "Polres " + g.place()
		if g.chance(0.4) {
			authority = "Kejaksaan Negeri " + g.place()
		}
		rec.LegalStatus = &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_PRE_TRIAL_DETAINEE,
			DetainingAuthority: authority, DetentionEndDate: date(g.now.AddDate(0, 0, 1+g.rng.IntN(60)))}
		rec.RegisterNumber = fmt.Sprintf("AII.%06d", i+1)
	default:
		ls := &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED, SentenceMonths: int32(months)}
		if off.article == "KUHP Pasal 340" && g.chance(0.3) {
			ls.SentenceMonths, ls.LifeSentence = 0, true
		} else {
			release := held.AddDate(0, months, 0)
			if !release.After(g.now) {
				release = g.now.AddDate(0, 1+g.rng.IntN(12), 0)
			}
			ls.ExpectedReleaseDate = date(release)
		}
		rec.LegalStatus = ls
		rec.RegisterNumber = fmt.Sprintf("BI.%06d", i+1)
	}
	if off.narcoticsRisk && g.chance(0.3) {
		rec.RiskFlags = append(rec.RiskFlags, sinergiv1.RiskFlag_RISK_FLAG_NARCOTICS_NETWORK)
	}
	if off.terrorism {
		rec.RiskFlags = append(rec.RiskFlags, sinergiv1.RiskFlag_RISK_FLAG_TERRORISM, sinergiv1.RiskFlag_RISK_FLAG_HIGH_RISK)
	} else if strings.Contains(g.f.Code, "permisan") && g.chance(0.5) {
		rec.RiskFlags = append(rec.RiskFlags, sinergiv1.RiskFlag_RISK_FLAG_HIGH_RISK)
	}
	if g.chance(0.03) {
		rec.RiskFlags = append(rec.RiskFlags, sinergiv1.RiskFlag_RISK_FLAG_ESCAPE_RISK)
	}
	photo := sha256.Sum256([]byte(fmt.Sprintf("demo photo %s %d", g.f.Code, i)))
	rec.PhotoSha256 = hex.EncodeToString(photo[:])
	return rec
}

// nik makes a NIK registered in a district of the facility's regency,
// unique among the people this package makes: serials count per birth date
// and sex, interleaved by facility ordinal so that facilities of one region
// never share one.
func (g *Generator) nik(birth time.Time, sex sinergiv1.Sex) string {
	region := strings.ReplaceAll(g.f.Region[:5], ".", "") + fmt.Sprintf("%02d", 1+g.rng.IntN(5))
	s := nik.Male
	if sex == sinergiv1.Sex_SEX_FEMALE {
		s = nik.Female
	}
	key := nik.Make(region, birth, s, 1)[:12]
	k := g.serials[key]
	g.serials[key] = k + 1
	return nik.Make(region, birth, s, 1+g.f.Ordinal%10+10*k)
}

// noAudit stands in for an audit record: loading demo data is not a call
// of the service (like seeding the directory).
type noAudit struct{}

func (noAudit) WriteTx(context.Context, pgx.Tx) error { return nil }
func (noAudit) AddSubjects(...string)                 {}

// Result is what Load did to one facility.
type Result struct {
	Facility                     string
	Inserted, Updated, Unchanged int64
}

// Load makes n people spread over facilities and merges them into the
// database as of now, facility by facility.
func Load(ctx context.Context, st *store.Store, seed uint64, n int, facilities []Facility, now time.Time) ([]Result, error) {
	var out []Result
	for fi, count := range Split(n, facilities) {
		f := facilities[fi]
		g := NewGenerator(seed, f, now)
		res, err := loadFacility(ctx, st, g, f, count, now)
		if err != nil {
			return out, err
		}
		out = append(out, Result{Facility: f.Code, Inserted: res.Inserted, Updated: res.Updated, Unchanged: res.Unchanged})
	}
	// Fresh statistics, so that the first queries after a load use the indexes.
	return out, st.AnalyzeCustody(ctx)
}

func loadFacility(ctx context.Context, st *store.Store, g *Generator, f Facility, count int, now time.Time) (*store.RosterResult, error) {
	const chunk = 5000
	up, err := st.BeginRoster(ctx, f.Code)
	if err != nil {
		return nil, err
	}
	defer up.Close()
	batch := make([]store.StagedRecord, 0, chunk)
	for i := range count {
		batch = append(batch, store.StagedRecord{Position: int64(i), Record: g.Person(i)})
		if len(batch) == chunk || i == count-1 {
			if err := up.Stage(ctx, batch); err != nil {
				return nil, fmt.Errorf("stage %s: %w", f.Code, err)
			}
			batch = batch[:0]
		}
	}
	kind := strings.TrimPrefix(f.Kind.String(), "INSTITUTION_KIND_")
	res, err := up.Merge(ctx, noAudit{}, f.Code, kind, false, now, now, 0)
	if err != nil {
		return nil, fmt.Errorf("merge %s: %w", f.Code, err)
	}
	return res, nil
}
