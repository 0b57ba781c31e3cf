package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/nik"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// screeningEntries is how many entries the screening steps run against.
const screeningEntries = 1_000_000

// A gate officer screening visitors.
var gate = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}

// screeningBench is what the screening steps share: the entries loaded
// once, the inmates to be visited, a few listed people to refer.
type screeningBench struct {
	once    sync.Once
	err     error
	inmates []string
	listed  []*sinergiv1.ScreenedPerson
}

// generateEntriesSQL writes n entries straight into the table, spread over
// the police units $2 (every one of which the MoU joins with every
// facility), in the proportions a real list might have: four in five with
// a NIK (registered in Jakarta Timur, agreeing with the birth date), every
// one with a name of common given and family names and a birth date over
// 55 years (some 50 entries a birth date at a million, drawn apart from
// the names by PostgreSQL's integer hash), the instructions and
// categories mixed, a tenth already expired and a fiftieth removed.
const generateEntriesSQL = `INSERT INTO screening_entries (id, owner_code, category, nik, full_name, aliases, search_names, birth_date,
    reason, instruction, expire_time, create_time, operator_id, purpose, remove_time, remove_operator)
SELECT gen_random_uuid(), ($2::text[])[1 + i % cardinality($2::text[])],
    (ARRAY['WANTED','NARCOTICS_NETWORK','NARCOTICS_COURIER','OTHER_WATCH'])[1 + i % 4],
    CASE WHEN i % 5 <> 0 THEN '317501' || to_char(b, 'DDMMYY') || lpad((1 + i % 9999)::text, 4, '0') END,
    g || ' ' || f, '{}', lower(g || ' ' || f), b, 'bench',
    (ARRAY['ADMIT_WITH_SEARCH','REFUSE_ENTRY','CALL_OWNING_UNIT'])[1 + i % 3],
    now() + CASE WHEN i % 10 = 0 THEN interval '-1 day' ELSE interval '1 year' END, now() - interval '2 days', '85051234',
    'INTELLIGENCE_ANALYSIS', CASE WHEN i % 50 = 7 THEN now() - interval '1 day' END, CASE WHEN i % 50 = 7 THEN '85051234' ELSE '' END
FROM generate_series($1::bigint, $1::bigint + $3 - 1) i,
LATERAL (SELECT date '1950-01-01' + (abs(hashint8(i)::bigint) % 20000)::int AS b,
    (ARRAY['Agus','Ahmad','Andi','Arif','Bambang','Budi','Dedi','Dimas','Eko','Fajar','Hadi','Hendra','Irfan','Iwan','Joko','Komang',
        'Made','Muhammad','Rizky','Rudi','Slamet','Sugeng','Teguh','Wahyu','Yusuf','Ani','Ayu','Dewi','Eka','Fitri','Indah','Lestari',
        'Maya','Nur','Putri','Ratna','Rina','Sari','Siti','Wulan'])[1 + abs(hashint8(i + 1000003)::bigint) % 40] AS g,
    (ARRAY['Santoso','Saputra','Wijaya','Pratama','Setiawan','Hidayat','Kurniawan','Nugroho','Susanto','Gunawan','Hakim','Wibowo',
        'Permana','Syahputra','Rahman','Ramadhan','Firmansyah','Hartono','Purnomo','Siregar','Lubis','Nasution','Harahap','Simanjuntak',
        'Sitompul','Tanjung','Effendi','Maulana','Kusuma','Prasetyo','Utomo','Suryadi','Wahyudi','Hasibuan','Saragih','Manurung',
        'Daulay','Siswanto','Riyadi','Hasan'])[1 + abs(hashint8(i + 2000003)::bigint) % 40] AS f) x`

// load fills the table once and picks the inmates and the listed people.
func (sb *screeningBench) load(ctx context.Context, e *Env) error {
	sb.once.Do(func() { sb.err = sb.fill(ctx, e) })
	return sb.err
}

func (sb *screeningBench) fill(ctx context.Context, e *Env) error {
	rows, err := e.Store.Pool.Query(ctx, `SELECT code FROM institutions WHERE kind IN ('POLSEK', 'POLRES', 'POLDA', 'MABES') ORDER BY code`)
	if err != nil {
		return err
	}
	owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	const chunk = 100_000
	for first := 1; first <= screeningEntries; first += chunk {
		if _, err := e.Store.Pool.Exec(ctx, generateEntriesSQL, first, owners, min(chunk, screeningEntries-first+1)); err != nil {
			return fmt.Errorf("generate screening entries: %w", err)
		}
	}
	if _, err := e.Store.Pool.Exec(ctx, `ANALYZE screening_entries`); err != nil {
		return err
	}
	if rows, err = e.Store.Pool.Query(ctx, `SELECT id::text FROM custody_records WHERE facility_code = 'lapas-metro' AND status = 'HELD' LIMIT 1000`); err != nil {
		return err
	}
	if sb.inmates, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return err
	}
	if rows, err = e.Store.Pool.Query(ctx, `SELECT nik, full_name, birth_date::text FROM screening_entries TABLESAMPLE SYSTEM (1)
		WHERE nik IS NOT NULL AND remove_time IS NULL AND expire_time > now() LIMIT 2000`); err != nil {
		return err
	}
	sb.listed, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.ScreenedPerson, error) {
		p := &sinergiv1.ScreenedPerson{}
		return p, r.Scan(&p.Nik, &p.FullName, &p.BirthDate)
	})
	if err != nil {
		return err
	}
	if len(sb.inmates) == 0 || len(sb.listed) < 400 {
		return fmt.Errorf("screening sample: %d inmates at lapas-metro, %d listed people", len(sb.inmates), len(sb.listed))
	}
	return nil
}

// visitor is a person no entry names: a NIK of Kota Metro (the entries'
// are of Jakarta Timur) and three names, where entries have two, born on
// a day some 50 entries share, so both lookups of a screening do their
// work and find nothing.
func visitor(rng *rand.Rand) *sinergiv1.ScreenedPerson {
	given := []string{"Agus", "Budi", "Dewi", "Eko", "Joko", "Putri", "Rina", "Siti", "Teguh", "Yusuf"}
	family := []string{"Santoso", "Wijaya", "Hidayat", "Nugroho", "Lubis", "Siregar", "Harahap", "Utomo", "Kusuma", "Hasan"}
	birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(20000))
	return &sinergiv1.ScreenedPerson{Nik: nik.Make("187201", birth, nik.Male, 1+rng.IntN(9000)),
		FullName:  given[rng.IntN(len(given))] + " " + family[rng.IntN(len(family))] + " " + family[rng.IntN(len(family))],
		BirthDate: birth.Format("2006-01-02")}
}

// screeningSteps are the screening benchmarks.
func screeningSteps(ctx context.Context, e *Env, r *Results, cfg Config) []step {
	sb := &screeningBench{}
	return []step{
		{"screen visitor", func() error {
			if err := sb.load(ctx, e); err != nil {
				return err
			}
			conn := e.Conn("lapas-metro")
			defer conn.Close()
			c := sinergiv1.NewScreeningServiceClient(conn)
			rngs := make([]*rand.Rand, 64)
			for i := range rngs {
				rngs[i] = rand.New(rand.NewPCG(uint64(i), 20))
			}
			l := Run(ctx, 64, cfg.Duration, func(ctx context.Context, w int, i int64) error {
				rng := rngs[w]
				// One visitor in a hundred is listed (a REFER, its referral
				// committed with the answer); the others are CLEAR.
				p := visitor(rng)
				if rng.IntN(100) == 0 {
					p = sb.listed[rng.IntN(len(sb.listed))]
				}
				_, err := c.ScreenVisitor(ctx, &sinergiv1.ScreenVisitorRequest{Access: gate, Visitor: p,
					Relationship: sinergiv1.VisitorRelationship_VISITOR_RELATIONSHIP_RELATIVE, InmateRecordId: sb.inmates[rng.IntN(len(sb.inmates))]})
				return err
			})
			if l.FirstErr != nil {
				return l.FirstErr
			}
			r.Add(Figure{Key: "screen_visitor_c64_rps", What: fmt.Sprintf("ScreenVisitor against %d screening entries, 1%% listed, at concurrency 64", screeningEntries),
				Value: l.Rate(), Unit: "/s"})
			r.Add(Figure{Key: "screen_visitor_c64_p50_ms", Value: l.Percentile(50), Unit: "ms"})
			r.Add(Figure{Key: "screen_visitor_c64_p99_ms", Value: l.Percentile(99), Op: "<=", Target: 20, Unit: "ms"})
			return nil
		}},
		{"screening referral delivery", func() error {
			if err := sb.load(ctx, e); err != nil {
				return err
			}
			fconn, pconn := e.Conn("lapas-metro"), e.Conn("polres-metro")
			defer fconn.Close()
			defer pconn.Close()
			return ReferralDelivery(ctx, r, sinergiv1.NewScreeningServiceClient(fconn), sinergiv1.NewScreeningServiceClient(pconn), sb.inmates)
		}},
	}
}

// ReferralDelivery lists 300 people on Polres Metro's list, screens each at
// Lapas Metro while the Polres watches, and measures from the call to the
// referral's arrival.
func ReferralDelivery(ctx context.Context, r *Results, facility, police sinergiv1.ScreeningServiceClient, inmates []string) error {
	const n = 300
	people := make([]*sinergiv1.ScreenedPerson, n)
	rng := rand.New(rand.NewPCG(300, 20))
	for i := range people {
		p := visitor(rng)
		p.FullName = fmt.Sprintf("Referral Bench %d", i)
		if _, err := police.CreateScreeningEntry(ctx, &sinergiv1.CreateScreeningEntryRequest{Access: analyst,
			Category: sinergiv1.ScreeningCategory_SCREENING_CATEGORY_WANTED, Person: p, Reason: "bench",
			Instruction: sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_CALL_OWNING_UNIT, ExpireTime: timestamppb.New(time.Now().AddDate(0, 1, 0))}); err != nil {
			return err
		}
		people[i] = p
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := police.WatchScreeningReferrals(wctx, &sinergiv1.WatchScreeningReferralsRequest{Access: analyst})
	if err != nil {
		return err
	}
	if _, err := stream.Recv(); err != nil { // the starting cursor
		return err
	}
	lat, err := delivery(ctx, n, func(i int, mark func(string)) error {
		p := people[i]
		mark(p.GetNik())
		_, err := facility.ScreenVisitor(ctx, &sinergiv1.ScreenVisitorRequest{Access: gate, Visitor: p,
			Relationship: sinergiv1.VisitorRelationship_VISITOR_RELATIONSHIP_FRIEND, InmateRecordId: inmates[i%len(inmates)]})
		return err
	}, func() (string, error) {
		m, err := stream.Recv()
		return m.GetReferral().GetPerson().GetNik(), err
	})
	if err != nil {
		return err
	}
	p50, p99 := Latencies(lat)
	r.Add(Figure{Key: "screening_referral_delivery_p50_ms", Value: p50, Unit: "ms"})
	r.Add(Figure{Key: "screening_referral_delivery_p99_ms", What: "a REFER at the gate to the owning unit's watcher", Value: p99, Op: "<=", Target: 100, Unit: "ms"})
	return nil
}
