package benchscale

import (
	"math/rand/v2"
	"strings"

	"github.com/sinergi-id/sinergi/internal/names"
)

// A name list in order of frequency: the i-th name is drawn with weight
// 1/(i+2), a Zipf-like curve, so that the first few names are shared by
// very many people (as Muhammad, Agus, Siti and Sri are) and the long tail
// by few. Spelling variants of one name (Muhammad, Mohammad, Muhamad,
// Mochamad) are separate entries, as they are in registers.
type nameList struct {
	names []string
	cum   []float64
}

func newNameList(ns ...string) *nameList {
	l := &nameList{names: ns, cum: make([]float64, len(ns))}
	total := 0.0
	for i := range ns {
		total += 1 / float64(i+2)
		l.cum[i] = total
	}
	return l
}

func (l *nameList) draw(rng *rand.Rand) string { return l.names[drawIndex(l, rng)] }

// drawIndex draws an index of l by its weights.
func drawIndex(l *nameList, rng *rand.Rand) int {
	x := rng.Float64() * l.cum[len(l.cum)-1]
	lo, hi := 0, len(l.cum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if l.cum[mid] < x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

var (
	// Men's given names: Arabic-derived (with their spelling variants),
	// Javanese, Sundanese, Balinese birth-order names, and the modern ones
	// of the younger generations.
	maleGiven = newNameList("Muhammad", "Agus", "Ahmad", "Budi", "Eko", "Joko", "Bambang", "Mohammad", "Slamet", "Andi", "Rizky",
		"Dedi", "Hendra", "Yusuf", "Muhamad", "Abdul", "Wahyu", "Heru", "Arif", "Iwan", "Dwi", "Sugeng", "Rudi", "Hadi", "Teguh",
		"Made", "Wayan", "Komang", "Ketut", "Nyoman", "Putu", "Achmad", "Mochamad", "Suparman", "Sutrisno", "Supriyadi", "Sumarno",
		"Hasan", "Husein", "Ali", "Umar", "Usman", "Ismail", "Ibrahim", "Yahya", "Zainal", "Syaiful", "Syamsul", "Nurdin", "Jaelani",
		"Fajar", "Irfan", "Ilham", "Rahmat", "Ridwan", "Taufik", "Lukman", "Gilang", "Bayu", "Dimas", "Yoga", "Fikri", "Aditya",
		"Reza", "Rian", "Andika", "Anwar", "Jumadi", "Junaedi", "Darsono", "Sukardi", "Suyono", "Cahyo", "Cecep", "Asep", "Ujang",
		"Dadang", "Yayan", "Ucup", "Mulyadi", "Sunarto", "Susilo", "Yudi", "Wawan", "Herman", "Suryanto", "Kusnadi", "Rohman",
		"Mohamad", "Mukhlis", "Khairul", "Fauzi", "Syahrul", "Yanto", "Tono", "Jono", "Darmaji", "Juned", "Sarip", "Tarmizi")
	// Women's given names.
	femaleGiven = newNameList("Siti", "Sri", "Nur", "Dewi", "Rina", "Fitri", "Wahyuni", "Yuliana", "Ratna", "Nurhayati", "Sumarni",
		"Suryani", "Fatimah", "Aisyah", "Ani", "Ayu", "Indah", "Lestari", "Maya", "Putri", "Wulan", "Yuni", "Eka", "Ni Made",
		"Ni Wayan", "Ni Komang", "Cucu", "Euis", "Iis", "Yati", "Juwariyah", "Suyanti", "Sukaesih", "Tuti", "Yusnita", "Rohani",
		"Khadijah", "Zainab", "Maryam", "Halimah", "Nining", "Mega", "Novi", "Intan", "Dian", "Anggun", "Puspita", "Rahayu", "Tri")
	// Second names: Batak marga and other clan names, Javanese and
	// Arabic-derived family names, and the patronymic-like second names
	// most Indonesians carry instead of a family name.
	secondName = newNameList("Saputra", "Santoso", "Setiawan", "Hidayat", "Kurniawan", "Nugroho", "Siregar", "Nasution", "Wijaya",
		"Gunawan", "Susanto", "Pratama", "Hartono", "Rahman", "Hakim", "Harahap", "Lubis", "Simanjuntak", "Sinaga", "Hutapea",
		"Panjaitan", "Pane", "Situmorang", "Simatupang", "Sitompul", "Tanjung", "Ramadhan", "Firmansyah", "Syahputra", "Hasibuan",
		"Saragih", "Manurung", "Daulay", "Wibowo", "Purnomo", "Prasetyo", "Utomo", "Suryadi", "Wahyudi", "Siswanto", "Riyadi",
		"Effendi", "Maulana", "Kusuma", "Permana", "Sulaiman", "Hamid", "Yusuf", "Junaidi", "Sembiring", "Ginting", "Tarigan",
		"Surbakti", "Tambunan", "Sihombing", "Matondang", "Batubara", "Daeng", "Pattimura", "Latuconsina", "Wenda", "Kogoya",
		"Tanoto", "Halim", "Salim", "Husin", "Alatas", "Assegaf", "Syahab", "Bahar", "Jayadi", "Sujatmiko", "Cahyono", "Sucipto")
	// Women's second names besides the shared ones.
	femaleSecond = newNameList("Lestari", "Handayani", "Rahayu", "Wati", "Sari", "Purwanti", "Kusumawati", "Susanti", "Rahmawati",
		"Yulianti", "Hasanah", "Fitriani", "Safitri", "Anggraini", "Puspitasari", "Maharani", "Ningsih", "Utami")
	nicknames = []string{"Botak", "Ucok", "Kribo", "Gendut", "Item", "Codet", "Jangkung", "Bule", "Gondrong", "Kancil", "Belut",
		"Gepeng", "Tato", "Cebol", "Pesek", "Kumis", "Jenggot", "Kurus"}
)

// oldSpellingWord writes a modern word in the spelling before 1972 (u as
// oe, j as dj, y as j, c as tj, sy as sj, ny as nj), when the old spelling
// is one that internal/names reads back to the same word; else it returns
// the word as it is (a word whose only change is y to j, "Jani", cannot be
// told from a modern one, and registers do not write it so for searches).
func oldSpellingWord(w string) string {
	lw := strings.ToLower(w)
	var b strings.Builder
	for i := 0; i < len(lw); i++ {
		switch {
		case strings.HasPrefix(lw[i:], "sy"):
			b.WriteString("sj")
			i++
		case strings.HasPrefix(lw[i:], "ny"):
			b.WriteString("nj")
			i++
		case lw[i] == 'y':
			b.WriteByte('j')
		case lw[i] == 'j':
			b.WriteString("dj")
		case lw[i] == 'c':
			b.WriteString("tj")
		case lw[i] == 'u':
			b.WriteString("oe")
		default:
			b.WriteByte(lw[i])
		}
	}
	old := b.String()
	if old == lw || names.ModernWord(old) != lw {
		return w
	}
	return strings.ToUpper(old[:1]) + old[1:]
}

// oldSpelling writes each word of name in the old spelling where it has one.
func oldSpelling(name string) string {
	ws := strings.Fields(name)
	for i, w := range ws {
		ws[i] = oldSpellingWord(w)
	}
	return strings.Join(ws, " ")
}

// oldSpellingChance is how likely a name born in year is written in the
// old spelling: most registered before 1972 were, and some families kept
// it for their children.
func oldSpellingChance(year int) float64 {
	switch {
	case year < 1960:
		return 0.45
	case year < 1975:
		return 0.15
	}
	return 0.03
}

// PersonName is a person's name as a register holds it.
type PersonName struct {
	Full    string
	Aliases []string
	// Old: the name is written in the old spelling.
	Old bool
}

// DrawName draws a name for a person of sex (female or not) born in year.
// About a quarter are one word (Suparman, Sri), most two, some three
// (Muhammad Rizky Saputra, Siti Nur Aisyah).
func DrawName(rng *rand.Rand, female bool, year int) PersonName {
	given, second := maleGiven, secondName
	if female {
		given = femaleGiven
	}
	first := given.draw(rng)
	var full string
	switch x := rng.Float64(); {
	case x < 0.24:
		full = first
	case x < 0.82:
		full = first + " " + drawSecond(rng, second, female)
	default:
		mid := given.draw(rng)
		for mid == first || strings.HasPrefix(mid, "Ni ") {
			mid = given.draw(rng)
		}
		full = first + " " + mid + " " + drawSecond(rng, second, female)
	}
	p := PersonName{Full: full}
	if rng.Float64() < oldSpellingChance(year) {
		if o := oldSpelling(full); o != full {
			p.Full, p.Old = o, true
		}
	}
	switch x := rng.Float64(); {
	case x < 0.15:
		// A nickname used on the street ("Agus Botak").
		p.Aliases = []string{first + " " + nicknames[rng.IntN(len(nicknames))]}
	case x < 0.20:
		// The same name as another register wrote it.
		if p.Old {
			p.Aliases = []string{full}
		} else if o := oldSpelling(full); o != full {
			p.Aliases = []string{o}
		}
	}
	return p
}

func drawSecond(rng *rand.Rand, shared *nameList, female bool) string {
	if female && rng.Float64() < 0.4 {
		return femaleSecond.draw(rng)
	}
	return shared.draw(rng)
}

// Misspell is how someone who does not know the spelling types name: one
// letter dropped, doubled or swapped with the next, in one word.
func Misspell(rng *rand.Rand, name string) string {
	ws := strings.Fields(name)
	i := rng.IntN(len(ws))
	w := []byte(ws[i])
	if len(w) < 4 {
		return name
	}
	j := 1 + rng.IntN(len(w)-2)
	switch rng.IntN(3) {
	case 0:
		w = append(w[:j], w[j+1:]...)
	case 1:
		w = append(w[:j+1], w[j:]...)
	default:
		w[j], w[j+1] = w[j+1], w[j]
	}
	ws[i] = string(w)
	return strings.Join(ws, " ")
}
