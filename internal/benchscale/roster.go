package benchscale

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/bench"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pki"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// NationalFacilities is how many facilities send the national roster.
const NationalFacilities = 500

// nationalInfix marks the national facilities' codes (lapas-nasional-042).
const nationalInfix = "-nasional-"

// provinces are the Kemendagri province codes.
var provinces = []string{"11", "12", "13", "14", "15", "16", "17", "18", "19", "21", "31", "32", "33", "34", "35", "36", "51", "52",
	"53", "61", "62", "63", "64", "65", "71", "72", "73", "74", "75", "76", "81", "82", "91", "92", "94"}

// nationalFacilities are the roster's facilities: Lapas and Rutan across
// every province.
func nationalFacilities() []facility {
	out := make([]facility, NationalFacilities)
	for k := range out {
		kind, prefix := "LAPAS", "lapas"
		if k%3 == 2 {
			kind, prefix = "RUTAN", "rutan"
		}
		out[k] = facility{Code: fmt.Sprintf("%s%s%03d", prefix, nationalInfix, k), Kind: kind,
			Region: fmt.Sprintf("%s.%02d", provinces[k%len(provinces)], 1+(k/len(provinces))%15)}
	}
	return out
}

// seedNationalFacilities registers the roster's facilities in the
// directory (a seed, as an administrator would) and issues their
// certificates.
func seedNationalFacilities(ctx context.Context, e *bench.Env) ([]facility, error) {
	fs := nationalFacilities()
	var b strings.Builder
	b.WriteString("institutions:\n")
	for _, f := range fs {
		fmt.Fprintf(&b, "  - {code: %s, name: %s Nasional %s, kind: %s, region_code: \"%s\"}\n", f.Code, map[string]string{"LAPAS": "Lapas", "RUTAN": "Rutan"}[f.Kind], f.Code[len(f.Code)-3:], f.Kind, f.Region)
	}
	if _, err := devenv.Seed(ctx, e.Roles.App, e.Keys, []byte(b.String()), "the national facilities of make bench-scale", devenv.DevOperator); err != nil {
		return nil, err
	}
	if err := devenv.DevPKI(ctx, e.Roles.App, e.PKIDir, pki.DefaultTrustDomain); err != nil {
		return nil, err
	}
	return fs, nil
}

// changedEvery: one held person in changedEvery has changed since
// yesterday's roster (2%).
const changedEvery = 50

// roster sends every national facility's daily roster, eight facilities
// at a time, and records how long the country's day took in all. Each
// holds its people as generated, one in 50 changed since yesterday (a
// new address, a sentence changed on appeal, a risk flag).
func (m *measure) roster(ctx context.Context) error {
	byFacility := map[string][]*sinergiv1.CustodyRecord{}
	people := 0
	for i := 0; i < m.records; i += heldEvery {
		rec, f, _, _ := m.c.Record(i)
		if !strings.Contains(f.Code, nationalInfix) {
			continue
		}
		if j := uint64(i / heldEvery); mix(j^0xc4a9)%changedEvery == 0 {
			switch mix(j) % 3 {
			case 0:
				rec.Identity.Address = "Jl. Baru No. 1"
			case 1:
				if ls := rec.GetLegalStatus(); ls.GetKind() == sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED {
					ls.SentenceMonths += 6
				} else {
					ls.DetentionEndDate = m.t.Now.AddDate(0, 0, 40).Format("2006-01-02")
				}
			default:
				rec.RiskFlags = append(rec.RiskFlags, sinergiv1.RiskFlag_RISK_FLAG_ESCAPE_RISK)
			}
		}
		byFacility[f.Code] = append(byFacility[f.Code], rec)
		people++
	}
	codes := make(chan string, len(byFacility))
	for code := range byFacility {
		codes <- code
	}
	close(codes)
	var received, inserted, updated, unchanged, missing atomic.Int64
	var slowest atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for code := range codes {
				t0 := time.Now()
				resp, err := m.sync(ctx, code, byFacility[code])
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("roster of %s: %w", code, err)
					}
					mu.Unlock()
					continue
				}
				received.Add(resp.GetReceived())
				inserted.Add(resp.GetInserted())
				updated.Add(resp.GetUpdated())
				unchanged.Add(resp.GetUnchanged())
				missing.Add(resp.GetMissingCount())
				for d := time.Since(t0).Microseconds(); ; {
					old := slowest.Load()
					if d <= old || slowest.CompareAndSwap(old, d) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	took := time.Since(start)
	m.add("national_roster_day_s", fmt.Sprintf("the day's roster of %d people from %d facilities (2%% changed), 8 at a time", people, len(byFacility)),
		took.Seconds(), "<=", 60, "s")
	m.add("national_roster_slowest_facility_s", "", float64(slowest.Load())/1e6, "", 0, "s")
	m.add("national_roster_updated", fmt.Sprintf("records updated (received %d, inserted %d, unchanged %d, missing %d)",
		received.Load(), inserted.Load(), unchanged.Load(), missing.Load()), float64(updated.Load()), "", 0, "")
	return nil
}

// sync sends one facility's roster through the server.
func (m *measure) sync(ctx context.Context, code string, recs []*sinergiv1.CustodyRecord) (*sinergiv1.SyncRosterResponse, error) {
	conn := m.e.Conn(code)
	defer conn.Close()
	stream, err := sinergiv1.NewCustodyServiceClient(conn).SyncRoster(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Header{Header: &sinergiv1.RosterHeader{RosterTime: timestamppb.Now()}}}); err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if err := stream.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Record{Record: rec}}); err != nil {
			return nil, err
		}
	}
	return stream.CloseAndRecv()
}
