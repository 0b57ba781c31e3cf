package benchscale

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// heldEvery: one record in heldEvery is of a person held today (300 000 of
// 3 000 000); the others are the history of people released, moved or
// dead, kept for good.
const heldEvery = 10

// facility is where records are held.
type facility struct {
	Code, Kind, Region string
}

// Custody makes the custody records. Record i is the same whatever the
// size: a larger size adds records, and the roster step regenerates what a
// facility holds.
type Custody struct {
	seed uint64
	now  time.Time
	// demo are the demo directory's facilities (where the benchmark's
	// callers have certificates); roster the 500 facilities of the
	// national roster.
	demo, roster []facility
}

// recordID is record i's id, a version 4 UUID made from i.
func recordID(seed uint64, i int) string {
	var b [16]byte
	s := sha256.Sum256(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, seed), uint64(i)))
	copy(b[:], s[:16])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// held reports whether record i is of a person held today.
func held(i int) bool { return i%heldEvery == 0 }

// facilityOf is where record i is (or was last) held. Of those held, a
// tenth are at the demo facilities and the rest at the roster's 500.
func (c *Custody) facilityOf(i int, rng *rand.Rand) facility {
	if held(i) {
		j := i / heldEvery
		if j%10 == 0 {
			return c.demo[(j/10)%len(c.demo)]
		}
		return c.roster[int(mix(uint64(j))%uint64(len(c.roster)))]
	}
	if rng.IntN(10) == 0 {
		return c.demo[rng.IntN(len(c.demo))]
	}
	return c.roster[rng.IntN(len(c.roster))]
}

// mix is splitmix64's finaliser: a well-spread hash of an index.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// person is who record i is about: mostly a person of their own, but one
// history record in seven is an earlier stay of someone held again
// (recidivism), with the same name and NIK.
func person(i int, rng *rand.Rand) int {
	if !held(i) && i > 1000 && rng.IntN(7) == 0 {
		return int(mix(uint64(i)) % uint64(i))
	}
	return i
}

var offences = []string{"UU 35/2009 Pasal 114", "UU 35/2009 Pasal 112", "KUHP Pasal 362", "KUHP Pasal 363", "KUHP Pasal 365",
	"KUHP Pasal 378", "KUHP Pasal 351", "KUHP Pasal 338", "UU 31/1999 Pasal 2", "UU 35/2014 Pasal 81"}

var birthPlaces = []string{"Jakarta", "Medan", "Surabaya", "Bandung", "Semarang", "Makassar", "Palembang", "Bandar Lampung",
	"Pontianak", "Denpasar", "Padang", "Samarinda", "Cilacap", "Metro", "Banjarmasin", "Manado", "Kupang", "Jayapura", "Ambon"}

// Record is record i: its row's values come from the store's own COPY
// columns (so the content hash is the one the server computes for the
// same record in a roster).
func (c *Custody) Record(i int) (*sinergiv1.CustodyRecord, facility, sinergiv1.CustodyStatus, time.Time) {
	rng := rand.New(rand.NewPCG(c.seed, uint64(i)))
	f := c.facilityOf(i, rng)
	p := person(i, rng)
	prng := rand.New(rand.NewPCG(c.seed^0x5eed, uint64(p)))
	female := prng.IntN(20) == 0
	birth := time.Date(1950+prng.IntN(55), time.Month(1+prng.IntN(12)), 1+prng.IntN(28), 0, 0, 0, 0, time.UTC)
	pn := DrawName(prng, female, birth.Year())
	sex, nsex := sinergiv1.Sex_SEX_MALE, nik.Male
	if female {
		sex, nsex = sinergiv1.Sex_SEX_FEMALE, nik.Female
	}
	region := strings.ReplaceAll(f.Region, ".", "") + fmt.Sprintf("%02d", 1+prng.IntN(9))
	if p != i {
		// The same person as before: their NIK is of where they were registered.
		region = fmt.Sprintf("%s%02d%02d", provinces[prng.IntN(len(provinces))], 1+prng.IntN(15), 1+prng.IntN(9))
	}
	id := &sinergiv1.Identity{FullName: pn.Full, Aliases: pn.Aliases, BirthDate: birth.Format("2006-01-02"),
		BirthPlace: birthPlaces[prng.IntN(len(birthPlaces))], Sex: sex, Nationality: "IDN",
		Nik:     nik.Make(region, birth, nsex, 1+int(mix(uint64(p))%9999)),
		Address: fmt.Sprintf("Jl. %s No. %d", birthPlaces[prng.IntN(len(birthPlaces))], 1+prng.IntN(200))}

	earliest := birth.AddDate(18, 0, 0)
	var since, until time.Time
	status := sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD
	if held(i) {
		since = c.now.Add(-time.Duration(rng.Int64N(int64(5 * 365 * 24 * time.Hour))))
	} else {
		since = c.now.Add(-time.Duration(rng.Int64N(int64(25*365*24*time.Hour))) - 60*24*time.Hour)
		until = since.Add(time.Duration(1+rng.Int64N(int64(5*365*24*time.Hour))) + 24*time.Hour)
		if until.After(c.now) {
			until = c.now.Add(-time.Hour)
		}
		switch x := rng.IntN(100); {
		case x < 90:
			status = sinergiv1.CustodyStatus_CUSTODY_STATUS_RELEASED
		case x < 98:
			status = sinergiv1.CustodyStatus_CUSTODY_STATUS_TRANSFERRED_OUT
		case x < 99:
			status = sinergiv1.CustodyStatus_CUSTODY_STATUS_ESCAPED
		default:
			status = sinergiv1.CustodyStatus_CUSTODY_STATUS_DECEASED
		}
	}
	if since.Before(earliest) {
		since = earliest.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
	}
	since = since.Truncate(time.Hour)
	rec := &sinergiv1.CustodyRecord{Identity: id, RegisterNumber: fmt.Sprintf("S%08d", i), OffenceArticles: []string{offences[rng.IntN(len(offences))]},
		HeldSince: timestamppb.New(since)}
	if rng.IntN(5) == 0 {
		rec.LegalStatus = &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_PRE_TRIAL_DETAINEE, DetainingAuthority: "Polres " + id.BirthPlace,
			DetentionEndDate: c.now.AddDate(0, 0, 1+rng.IntN(60)).Format("2006-01-02")}
	} else {
		months := 6 + rng.IntN(180)
		rec.LegalStatus = &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED, SentenceMonths: int32(months),
			ExpectedReleaseDate: since.AddDate(0, months, 0).Format("2006-01-02")}
	}
	if rng.IntN(20) == 0 {
		rec.RiskFlags = []sinergiv1.RiskFlag{sinergiv1.RiskFlag_RISK_FLAG_NARCOTICS_NETWORK}
	}
	return rec, f, status, until
}

// CopyRecords writes records [from, to) straight into custody_records
// with one COPY.
func (c *Custody) CopyRecords(ctx context.Context, conn *pgx.Conn, from, to int) error {
	cols, row := store.BareCopyColumns()
	cols = append([]string{"id"}, cols...)
	n := len(cols)
	i := from
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"custody_records"}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		if i == to {
			return nil, nil
		}
		rec, f, status, until := c.Record(i)
		rec.FacilityCode = f.Code
		v := append([]any{recordID(c.seed, i)}, row(rec, c.now)...)
		v[2] = f.Kind
		if status != sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD {
			// status, status_time, held_since, last_event_time, create_time, update_time
			v[n-6], v[n-5], v[n-3] = strings.TrimPrefix(status.String(), "CUSTODY_STATUS_"), until, until
			v[n-2], v[n-1] = rec.GetHeldSince().AsTime(), until
		}
		i++
		return v, nil
	}))
	return err
}
