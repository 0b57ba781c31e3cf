package screening

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// SeedMethod names the demo lists' seed in the audit trail: an
// administrative act made through the command line, not a call.
const SeedMethod = "sinergi:seed-screening"

// demoEntry is a made-up person on a demo police unit's list. The people
// are fictional; their NIKs are well formed and agree with their birth
// dates (internal/nik).
type demoEntry struct {
	key, owner  string
	category    sinergiv1.ScreeningCategory
	nik, name   string
	aliases     []string
	birth       string
	reason      string
	instruction sinergiv1.HandlingInstruction
}

var demoEntries = []demoEntry{
	// The README's tour: a DPO of Polres Metro Jakarta Timur, referred at
	// the gate of Lapas Cipinang.
	{key: "jaktim-dpo", owner: "polres-metro-jakarta-timur", category: sinergiv1.ScreeningCategory_SCREENING_CATEGORY_WANTED,
		nik: "3175071203880003", name: "Andika Pratama", aliases: []string{"Dika Botak"}, birth: "1988-03-12",
		reason: "DPO pencurian dengan kekerasan (demo)", instruction: sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY},
	{key: "cilacap-courier", owner: "polres-cilacap", category: sinergiv1.ScreeningCategory_SCREENING_CATEGORY_NARCOTICS_COURIER,
		name: "Sri Wahyuningsih", birth: "1992-07-21",
		reason: "kurir sabu jaringan Nusakambangan (demo)", instruction: sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH},
	{key: "metrojaya-network", owner: "polda-metro-jaya", category: sinergiv1.ScreeningCategory_SCREENING_CATEGORY_NARCOTICS_NETWORK,
		nik: "3171052009790002", name: "Hendra Kusnadi", birth: "1979-09-20",
		reason: "pengendali jaringan narkoba lintas lapas (demo)", instruction: sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_CALL_OWNING_UNIT},
	{key: "kukar-watch", owner: "polres-kutai-kartanegara", category: sinergiv1.ScreeningCategory_SCREENING_CATEGORY_OTHER_WATCH,
		nik: "6402025506950001", name: "Rina Marlina", birth: "1995-06-15",
		reason: "penghubung napi dengan pemasok dari luar (demo)", instruction: sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH},
}

// DemoExpiry is when the demo entries expire.
var DemoExpiry = time.Date(2029, 1, 1, 0, 0, 0, 0, directory.WIB)

// DemoHighRisk is the facility the demo designates prone to narcotics
// trafficking.
const DemoHighRisk = "lapas-cipinang"

// demoID is a demo entry's id: the same in every database, so that seeding
// again adds nothing (a UUID, version 8, from the key).
func demoID(key string) string {
	sum := sha256.Sum256([]byte("sinergi demo screening entry/" + key))
	b := sum[:16]
	b[6] = 0x80 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// DemoEntryID is the id of the demo entry named key ("jaktim-dpo", ...).
func DemoEntryID(key string) string { return demoID(key) }

// DemoNIK is the NIK of the demo entry named key.
func DemoNIK(key string) string {
	for _, d := range demoEntries {
		if d.key == key {
			return d.nik
		}
	}
	return ""
}

// SeedDemo adds what is missing of the demo lists (a few entries of demo
// police units) and the demo designation (Lapas Cipinang, prone to
// narcotics trafficking), on behalf of operator, with an audit record of
// each owning unit's (its own list's entries, recorded as its, as
// referrals are) and one of the ministry's designation, sealed by sealer,
// committed with them. A seed only adds: an entry removed or a designation
// lifted since stays so.
func SeedDemo(ctx context.Context, st *store.Store, sealer *audit.Sealer, dir *directory.Snapshot, operator string, now time.Time) error {
	var entries []*sinergiv1.ScreeningEntry
	for _, d := range demoEntries {
		if dir.Institution(d.owner) == nil {
			continue // a directory without the demo unit
		}
		entries = append(entries, &sinergiv1.ScreeningEntry{Id: demoID(d.key), OwnerCode: d.owner, Category: d.category,
			Person: &sinergiv1.ScreenedPerson{Nik: d.nik, FullName: d.name, Aliases: d.aliases, BirthDate: d.birth}, Reason: d.reason,
			Instruction: d.instruction, ExpireTime: timestamppb.New(DemoExpiry), CreateTime: timestamppb.New(now), OperatorId: operator,
			Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS})
	}
	var designations []*sinergiv1.HighRiskDesignation
	if dir.Institution(DemoHighRisk) != nil {
		designations = append(designations, &sinergiv1.HighRiskDesignation{FacilityCode: DemoHighRisk,
			Reason:        "rawan narkoba: peredaran dikendalikan dari dalam lapas (demo)",
			DesignateTime: timestamppb.New(now), OperatorId: operator})
	}
	admin := strings.TrimPrefix(sinergiv1.Purpose_PURPOSE_ADMINISTRATION.String(), "PURPOSE_")
	return st.SeedScreening(ctx, entries, designations, func(ctx context.Context, tx pgx.Tx, es []*sinergiv1.ScreeningEntry, ds []*sinergiv1.HighRiskDesignation) error {
		var records []*audit.Entry
		byOwner := map[string]*audit.Entry{}
		for _, e := range es {
			r := byOwner[e.GetOwnerCode()]
			if r == nil {
				r = sealer.NewEntry(SeedMethod, "")
				r.SetCaller(e.GetOwnerCode(), "")
				r.SetAccess(operator, admin, "")
				r.Allow("seed of the demo screening lists: the unit's demo entries added")
				byOwner[e.GetOwnerCode()] = r
				records = append(records, r)
			}
			r.AddSubjects(store.ScreeningEntrySubject(e.GetId()))
		}
		for _, d := range ds {
			r := sealer.NewEntry(SeedMethod, "")
			if m := dir.Administrator(sinergiv1.Side_SIDE_CORRECTIONS); m != nil {
				r.SetCaller(m.GetCode(), "")
			}
			r.SetAccess(operator, admin, "")
			r.Allow(fmt.Sprintf("seed of the demo designation: %s prone to narcotics trafficking", d.GetFacilityCode()))
			r.AddSubjects("institution/" + d.GetFacilityCode())
			records = append(records, r)
		}
		return audit.WriteTxAll(ctx, tx, records...)
	})
}
