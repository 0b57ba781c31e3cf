package authz

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// demo returns the demo directory as a snapshot, without a database.
func demo(t *testing.T) *directory.Snapshot {
	t.Helper()
	f, err := directory.ParseSeed(directory.DemoSeed())
	if err != nil {
		t.Fatal(err)
	}
	insts, agrs, err := f.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	return directory.NewSnapshot(&store.Directory{Institutions: insts, Agreements: agrs})
}

func wib(date string) time.Time {
	t, _ := time.ParseInLocation("2006-01-02", date, directory.WIB)
	return t
}

// TestReachMatrix is the allow/deny matrix over the demo directory.
func TestReachMatrix(t *testing.T) {
	dir := demo(t)
	today := wib("2026-11-22")
	all := []string{"lapas-cipinang", "lapas-metro", "lapas-permisan", "lapas-tenggarong", "lpka-tenggarong", "lpp-tenggarong"}
	for _, tc := range []struct {
		caller string
		scope  sinergiv1.Scope
		at     time.Time
		want   []string
	}{
		{"polres-metro", sinergiv1.Scope_SCOPE_DETAINEE_DATA, today, []string{"lapas-metro"}},
		{"polda-lampung", sinergiv1.Scope_SCOPE_DETAINEE_DATA, today, []string{"lapas-metro"}},
		{"polres-metro-jakarta-timur", sinergiv1.Scope_SCOPE_DETAINEE_DATA, today, []string{"lapas-cipinang"}},
		{"polsek-nusakambangan", sinergiv1.Scope_SCOPE_DETAINEE_DATA, today, []string{"lapas-permisan"}},
		{"polres-kutai-kartanegara", sinergiv1.Scope_SCOPE_DETAINEE_DATA, today, []string{"lapas-tenggarong", "lpka-tenggarong", "lpp-tenggarong"}},
		{"mabes-polri", sinergiv1.Scope_SCOPE_DETAINEE_DATA, today, all},
		// The 2025 PKS was not yet in force.
		{"polres-metro", sinergiv1.Scope_SCOPE_DETAINEE_DATA, wib("2025-08-03"), nil},
		{"mabes-polri", sinergiv1.Scope_SCOPE_DETAINEE_DATA, wib("2025-08-03"), nil},
		// Security and order: only the 2024 PKS, only LPKA Tenggarong, only in its term.
		{"polres-kutai-kartanegara", sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, wib("2024-06-01"), []string{"lpka-tenggarong"}},
		{"polres-kutai-kartanegara", sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, today, nil},
		{"polda-kalimantan-timur", sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, wib("2024-06-01"), nil},
		// Narcotics intelligence under the MoU.
		{"polres-cilacap", sinergiv1.Scope_SCOPE_NARCOTICS_INTELLIGENCE, today, []string{"lapas-permisan"}},
		// Facilities see their own data, and nobody else's.
		{"lapas-cipinang", sinergiv1.Scope_SCOPE_DETAINEE_DATA, today, []string{"lapas-cipinang"}},
		{"lpka-tenggarong", sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, today, []string{"lpka-tenggarong"}},
		// The ministry oversees its own units: no exchange, no agreement needed.
		{"kemenimipas", sinergiv1.Scope_SCOPE_DETAINEE_DATA, wib("2020-01-01"), all},
		// Agreements naming both parties reach across jurisdiction: Polda
		// Metro Jaya reads LPKA Tenggarong (detainee data) and is told of
		// Lapas Permisan's custody events (custody events only).
		{"polda-metro-jaya", sinergiv1.Scope_SCOPE_DETAINEE_DATA, today, []string{"lapas-cipinang", "lpka-tenggarong"}},
		{"polda-metro-jaya", sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, today, []string{"lapas-cipinang", "lapas-permisan", "lpka-tenggarong"}},
		// A pending agreement grants nothing.
		{"polres-metro-jakarta-timur", sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, today, nil},
		// The firearms register under the 2025 PKS: each police unit its
		// jurisdiction, Mabes every facility; agreements naming both for
		// other scopes reach no further; the ministry its own units.
		{"polda-jawa-tengah", sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE, today, []string{"lapas-permisan"}},
		{"polsek-nusakambangan", sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE, today, []string{"lapas-permisan"}},
		{"polda-metro-jaya", sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE, today, []string{"lapas-cipinang"}},
		{"polda-kalimantan-timur", sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE, today, []string{"lapas-tenggarong", "lpka-tenggarong", "lpp-tenggarong"}},
		{"mabes-polri", sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE, today, all},
		{"mabes-polri", sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE, wib("2025-08-03"), nil},
		{"kemenimipas", sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE, today, all},
		{"lapas-metro", sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE, today, []string{"lapas-metro"}},
	} {
		t.Run(tc.caller+"/"+tc.scope.String()+"/"+tc.at.Format("2006-01-02"), func(t *testing.T) {
			r := ComputeReach(dir, dir.Institution(tc.caller), tc.scope, tc.at, ReachOptions{})
			if diff := cmp.Diff(tc.want, r.Facilities()); diff != "" {
				t.Errorf("reach (-want +got):\n%s", diff)
			}
		})
	}

	// The agreement that granted access is known, and children's scope with it.
	r := ComputeReach(dir, dir.Institution("polres-kutai-kartanegara"), sinergiv1.Scope_SCOPE_DETAINEE_DATA, today, ReachOptions{})
	g, ok := r.Grant("lpka-tenggarong")
	if !ok || !cmp.Equal(g.Agreements, []string{"pks-2025-kemenimipas-polri-data"}) || !g.Children || g.Own {
		t.Errorf("grant for lpka-tenggarong = %+v", g)
	}
	r = ComputeReach(dir, dir.Institution("polres-kutai-kartanegara"), sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, wib("2024-06-01"), ReachOptions{})
	g, _ = r.Grant("lpka-tenggarong")
	if g.Children {
		t.Errorf("the 2024 PKS has no children's scope, grant says children: %+v", g)
	}

	// What each grant shows: the classes its agreements cover.
	pmj := dir.Institution("polda-metro-jaya")
	events := ComputeReach(dir, pmj, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, today, ReachOptions{})
	for _, tc := range []struct {
		facility string
		want     ClassSet
		children bool
		ids      []string
	}{
		// Custody events only: where and what, not who.
		{"lapas-permisan", Of(ClassPlacement, ClassEvents), false, []string{"pks-2026-lapas-permisan-polda-metro-jaya-events"}},
		// Detainee data too, but no children's data.
		{"lpka-tenggarong", CustodyClasses, false, []string{"pks-2026-lpka-tenggarong-polda-metro-jaya"}},
		// The national PKS in its jurisdiction: everything.
		{"lapas-cipinang", CustodyClasses, true, []string{"pks-2025-kemenimipas-polri-data"}},
	} {
		g, ok := events.Grant(tc.facility)
		if !ok || g.Classes != tc.want || g.Children != tc.children || !cmp.Equal(g.Agreements, tc.ids) {
			t.Errorf("polda-metro-jaya's custody-events grant for %s = %+v (classes %s), want classes %s, children %v, agreements %v",
				tc.facility, g, describeClasses(g.Classes), describeClasses(tc.want), tc.children, tc.ids)
		}
	}
	if g, _ := events.Grant("lapas-permisan"); g.Shows(ClassIdentity, false) {
		t.Error("an events-only grant shows identity")
	}
	if g, _ := events.Grant("lpka-tenggarong"); !g.Shows(ClassIdentity, false) || g.Shows(ClassIdentity, true) {
		t.Error("a grant without children's data must show an adult's identity and not a child's")
	}
	// An agreement naming both parties reaches across jurisdiction.
	explicit := &sinergiv1.Agreement{Id: "pks-cipinang-polres-metro", Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_INCIDENT_REPORTS},
		EffectiveTime: timestamppb.New(wib("2026-01-01")), Parties: []*sinergiv1.Party{
			{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "lapas-cipinang"}},
			{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "polres-metro"}}}}
	withExplicit := directory.NewSnapshot(&store.Directory{Institutions: dir.Institutions(), Agreements: append([]*sinergiv1.Agreement{explicit}, dir.Agreements()...)})
	r = ComputeReach(withExplicit, withExplicit.Institution("polres-metro"), sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, today, ReachOptions{})
	if diff := cmp.Diff([]string{"lapas-cipinang"}, r.Facilities()); diff != "" {
		t.Errorf("explicit agreement across jurisdiction (-want +got):\n%s", diff)
	}
	// Watch-list deliveries ignore jurisdiction but still need an agreement.
	r = ComputeReach(dir, dir.Institution("polres-metro"), sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, today, ReachOptions{IgnoreJurisdiction: true})
	if len(r.Facilities()) != len(all) {
		t.Errorf("watch reach of polres-metro = %v, want every facility", r.Facilities())
	}
	r = ComputeReach(dir, dir.Institution("polres-metro"), sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, wib("2025-01-01"), ReachOptions{IgnoreJurisdiction: true})
	if len(r.Facilities()) != 0 {
		t.Errorf("watch reach before any agreement = %v, want none", r.Facilities())
	}
}

// TestMethodMissingFromPolicyIsRefused: a method without an entry fails
// closed, and its handler never runs.
func TestMethodMissingFromPolicyIsRefused(t *testing.T) {
	dir := demo(t)
	a := &Authorizer{Now: time.Now}
	e := audit.NewEntry("/sinergi.v1.NewService/Unlisted", "r1", time.Now())
	ctx := audit.NewContext(context.Background(), e)
	ctx = authn.NewContext(ctx, &authn.Caller{Institution: dir.Institution("mabes-polri"), Directory: dir})
	called := false
	_, err := a.UnaryServerInterceptor()(ctx, &sinergiv1.GetInstitutionRequest{Code: "x"}, &grpc.UnaryServerInfo{FullMethod: "/sinergi.v1.NewService/Unlisted"},
		func(context.Context, any) (any, error) { called = true; return nil, nil })
	if status.Code(err) != codes.PermissionDenied || called {
		t.Fatalf("unlisted method: err=%v called=%v, want PermissionDenied and no call", err, called)
	}
	// A listed method whose caller kind is not allowed: PERMISSION_DENIED too.
	ctx = authn.NewContext(audit.NewContext(context.Background(), audit.NewEntry("", "", time.Now())),
		&authn.Caller{Institution: dir.Institution("polres-metro"), Directory: dir})
	_, err = a.UnaryServerInterceptor()(ctx, &sinergiv1.CreateInstitutionRequest{}, &grpc.UnaryServerInfo{FullMethod: sinergiv1.InstitutionService_CreateInstitution_FullMethodName},
		func(context.Context, any) (any, error) { called = true; return nil, nil })
	if status.Code(err) != codes.PermissionDenied || called {
		t.Fatalf("kind not allowed: err=%v called=%v", err, called)
	}
}

func TestOperatorID(t *testing.T) {
	for id, want := range map[string]bool{
		"85051234":           true,  // NRP: born May 1985
		"85131234":           false, // month 13
		"198503152010011001": true,  // NIP
		"198502302010011001": false, // 30 February
		"198503152010131001": false, // appointed in month 13
		"198503152010013001": false, // sex digit 3
		"1234567":            false,
		"8505123X":           false,
	} {
		if got := OperatorIDValid(id); got != want {
			t.Errorf("OperatorIDValid(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestReachMemoChangesAtBoundaries: reaches are kept with the snapshot, yet
// a moment on the other side of an agreement's expiry gets its own answer.
func TestReachMemoChangesAtBoundaries(t *testing.T) {
	dir := demo(t)
	kukar := dir.Institution("polres-kutai-kartanegara")
	expiry := wib("2025-01-25")
	for _, tc := range []struct {
		at   time.Time
		want []string
	}{
		{expiry.Add(-time.Second), []string{"lpka-tenggarong"}},
		{expiry, nil},
		{expiry.Add(-time.Hour), []string{"lpka-tenggarong"}},
		{wib("2024-01-24"), nil}, // before it took effect
		{wib("2024-06-01"), []string{"lpka-tenggarong"}},
		{expiry.Add(time.Hour), nil},
	} {
		r := ComputeReach(dir, kukar, sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, tc.at, ReachOptions{})
		if diff := cmp.Diff(tc.want, r.Facilities()); diff != "" {
			t.Errorf("at %s (-want +got):\n%s", tc.at, diff)
		}
	}
	a := ComputeReach(dir, kukar, sinergiv1.Scope_SCOPE_DETAINEE_DATA, wib("2026-11-22"), ReachOptions{})
	b := ComputeReach(dir, kukar, sinergiv1.Scope_SCOPE_DETAINEE_DATA, wib("2026-11-23"), ReachOptions{})
	if a != b {
		t.Error("two moments with no agreement change between them computed the reach twice")
	}
	lo, hi := dir.TermWindow(wib("2024-06-01"))
	if !lo.Equal(wib("2024-01-25")) || !hi.Equal(expiry) {
		t.Errorf("TermWindow(2024-06-01) = [%s, %s), want [2024-01-25, 2025-01-25)", lo, hi)
	}
}
