package screening_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestListsAreTheirOwners: a unit reads, lists and removes its own
// entries; another unit's answer NOT_FOUND as missing ones; facilities,
// the ministry and regional offices may not call the list methods at all,
// nor watch referrals.
func TestListsAreTheirOwners(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	polres := screeningAs(t, env, "polres-metro")
	other := screeningAs(t, env, "polres-cilacap")
	e := list(t, polres, person("Irfan Hakim", birthday(), "187201"), sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH, time.Now().AddDate(0, 3, 0))
	if !e.GetActive() || e.GetOwnerCode() != "polres-metro" || e.GetOperatorId() != investigator.GetOperatorId() ||
		e.GetCaseReference() != investigator.GetCaseReference() || e.GetReason() == "" {
		t.Fatalf("entry %v", e)
	}

	got, err := polres.GetScreeningEntry(ctx, &sinergiv1.GetScreeningEntryRequest{Access: analyst, Id: e.GetId()})
	if err != nil || got.GetEntry().GetId() != e.GetId() || got.GetEntry().GetPerson().GetNik() != e.GetPerson().GetNik() {
		t.Fatalf("the owner reads its entry: %v %v", got, err)
	}
	_, missing := other.GetScreeningEntry(ctx, &sinergiv1.GetScreeningEntryRequest{Access: analyst, Id: "01900000-0000-7000-8000-000000000000"})
	_, foreign := other.GetScreeningEntry(ctx, &sinergiv1.GetScreeningEntryRequest{Access: analyst, Id: e.GetId()})
	if codeOf(missing) != codes.NotFound || codeOf(foreign) != codes.NotFound || missing.Error() != foreign.Error() {
		t.Fatalf("another unit's entry: %v; a missing one: %v (want the same NOT_FOUND)", foreign, missing)
	}
	if _, err := other.RemoveScreeningEntry(ctx, &sinergiv1.RemoveScreeningEntryRequest{Access: analyst, Id: e.GetId()}); codeOf(err) != codes.NotFound {
		t.Fatalf("another unit removes the entry: %v", err)
	}
	ls, err := other.ListScreeningEntries(ctx, &sinergiv1.ListScreeningEntriesRequest{Access: analyst, IncludeInactive: true, PageSize: 500})
	if err != nil || slices.ContainsFunc(ls.GetEntries(), func(x *sinergiv1.ScreeningEntry) bool { return x.GetOwnerCode() != "polres-cilacap" }) {
		t.Fatalf("another unit's listing: %v %v", ls, err)
	}
	mine, err := polres.ListScreeningEntries(ctx, &sinergiv1.ListScreeningEntriesRequest{Access: analyst, PageSize: 500})
	if err != nil || !slices.ContainsFunc(mine.GetEntries(), func(x *sinergiv1.ScreeningEntry) bool { return x.GetId() == e.GetId() }) {
		t.Fatalf("the owner's listing: %v %v", mine, err)
	}

	// Nobody but police units calls the list methods or the stream.
	for _, code := range []string{"lapas-metro", "lpka-tenggarong", "kemenimipas"} {
		c := screeningAs(t, env, code)
		access := warden
		if code == "kemenimipas" {
			access = &sinergiv1.AccessContext{OperatorId: warden.GetOperatorId(), Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
		}
		if _, err := c.GetScreeningEntry(ctx, &sinergiv1.GetScreeningEntryRequest{Access: access, Id: e.GetId()}); codeOf(err) != codes.PermissionDenied {
			t.Errorf("%s reads an entry: %v", code, err)
		}
		if _, err := c.ListScreeningEntries(ctx, &sinergiv1.ListScreeningEntriesRequest{Access: access}); codeOf(err) != codes.PermissionDenied {
			t.Errorf("%s lists entries: %v", code, err)
		}
		if _, err := c.ListScreeningReferrals(ctx, &sinergiv1.ListScreeningReferralsRequest{Access: access}); codeOf(err) != codes.PermissionDenied {
			t.Errorf("%s lists referrals: %v", code, err)
		}
		s, err := c.WatchScreeningReferrals(ctx, &sinergiv1.WatchScreeningReferralsRequest{Access: access})
		if err == nil {
			_, err = s.Recv()
		}
		if codeOf(err) != codes.PermissionDenied {
			t.Errorf("%s watches referrals: %v", code, err)
		}
		if _, err := c.CreateScreeningEntry(ctx, &sinergiv1.CreateScreeningEntryRequest{Access: access}); codeOf(err) != codes.PermissionDenied {
			t.Errorf("%s lists a person: %v", code, err)
		}
	}

	// Removing: the entry stays, inactive, and removing again changes nothing.
	rm, err := polres.RemoveScreeningEntry(ctx, &sinergiv1.RemoveScreeningEntryRequest{Access: analyst, Id: e.GetId()})
	if err != nil || rm.GetEntry().GetActive() || rm.GetEntry().GetRemoveTime() == nil || rm.GetEntry().GetRemoveOperatorId() != analyst.GetOperatorId() {
		t.Fatalf("remove: %v %v", rm, err)
	}
	again, err := polres.RemoveScreeningEntry(ctx, &sinergiv1.RemoveScreeningEntryRequest{Access: investigator, Id: e.GetId()})
	if err != nil || !again.GetEntry().GetRemoveTime().AsTime().Equal(rm.GetEntry().GetRemoveTime().AsTime()) || again.GetEntry().GetRemoveOperatorId() != analyst.GetOperatorId() {
		t.Fatalf("remove again: %v %v", again, err)
	}
	active, err := polres.ListScreeningEntries(ctx, &sinergiv1.ListScreeningEntriesRequest{Access: analyst, PageSize: 500})
	if err != nil || slices.ContainsFunc(active.GetEntries(), func(x *sinergiv1.ScreeningEntry) bool { return x.GetId() == e.GetId() }) {
		t.Fatalf("a removed entry is listed as in force: %v", err)
	}
}

// TestExpiredAndRemovedEntriesNoLongerMatch: an entry matches until it
// expires or its owner removes it, and not after.
func TestExpiredAndRemovedEntriesNoLongerMatch(t *testing.T) {
	env := servertest.Start(t, pgtestFresh(t), servertest.Options{})
	now := time.Now().Truncate(time.Second)
	env.Clock.Set(now)
	ctx := context.Background()
	polres := screeningAs(t, env, "polres-metro")
	metro := screeningAs(t, env, "lapas-metro")
	in := inmate(t, env, "lapas-metro", "187201")

	expiring := person("Joko Susanto", birthday(), "187201")
	list(t, polres, expiring, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY, now.Add(2*time.Hour))
	removed := person("Dedi Kurniawan", birthday(), "187201")
	r := list(t, polres, removed, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY, now.Add(48*time.Hour))

	for _, p := range []*sinergiv1.ScreenedPerson{expiring, removed} {
		if got := screen(t, ctx, metro, p, in); got.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_REFER {
			t.Fatalf("in force: %v", got)
		}
	}
	if _, err := polres.RemoveScreeningEntry(ctx, &sinergiv1.RemoveScreeningEntryRequest{Access: analyst, Id: r.GetId()}); err != nil {
		t.Fatal(err)
	}
	if got := screen(t, ctx, metro, removed, in); got.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR {
		t.Fatalf("removed: %v", got)
	}
	env.Clock.Set(now.Add(2 * time.Hour))
	if got := screen(t, ctx, metro, expiring, in); got.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR {
		t.Fatalf("expired: %v", got)
	}
	// By name as well: the expired entry matches neither way.
	byName := &sinergiv1.ScreenedPerson{FullName: expiring.GetFullName(), BirthDate: expiring.GetBirthDate()}
	if got := screen(t, ctx, metro, byName, in); got.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR {
		t.Fatalf("expired, by name: %v", got)
	}
	env.Clock.Set(now.Add(time.Hour))
	if got := screen(t, ctx, metro, byName, in); got.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_REFER {
		t.Fatalf("before its expiry, by name: %v", got)
	}
}

// TestListsApplyOnlyUnderAgreements: a unit's list applies at a facility
// only while an agreement in force for visitor screening joins them: once
// the MoU is revoked, a listed person is CLEAR and the unit is told
// nothing.
func TestListsApplyOnlyUnderAgreements(t *testing.T) {
	env := servertest.Start(t, pgtestFresh(t), servertest.Options{})
	ctx := context.Background()
	polres := screeningAs(t, env, "polres-metro")
	metro := screeningAs(t, env, "lapas-metro")
	in := inmate(t, env, "lapas-metro", "187201")
	p := person("Gilang Ramadhan", birthday(), "187201")
	list(t, polres, p, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY, time.Now().AddDate(0, 1, 0))
	if got := screen(t, ctx, metro, p, in); got.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_REFER {
		t.Fatalf("under the MoU: %v", got)
	}
	ag := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "kemenimipas"))
	if _, err := ag.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: ministryAdmin, Id: mou}); err != nil {
		t.Fatal(err)
	}
	if err := env.Server.Directory.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	got := screen(t, ctx, metro, p, in)
	if got.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR {
		t.Fatalf("no agreement in force: %v", got)
	}
	var n int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM screening_referrals WHERE screening_id = $1`, got.GetId()).Scan(&n); err != nil || n != 0 {
		t.Fatalf("referrals without an agreement: %d %v", n, err)
	}
}

// TestEntryValidation: what a list entry must be, field by field, with
// the bad field named and nothing written.
func TestEntryValidation(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	polres := screeningAs(t, env, "polres-metro")
	good := func() *sinergiv1.CreateScreeningEntryRequest {
		return &sinergiv1.CreateScreeningEntryRequest{Access: investigator, Category: sinergiv1.ScreeningCategory_SCREENING_CATEGORY_NARCOTICS_COURIER,
			Person: person("Taufik Hidayat", "1990-04-17", "187201"), Reason: "kurir", Instruction: sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH,
			ExpireTime: timestamppb.New(time.Now().AddDate(0, 1, 0))}
	}
	for name, tc := range map[string]struct {
		mod   func(*sinergiv1.CreateScreeningEntryRequest)
		field string
	}{
		"no person":                   {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Person = nil }, "person"},
		"nobody":                      {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Person = &sinergiv1.ScreenedPerson{} }, "person.nik"},
		"name without a birth":        {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Person.BirthDate = "" }, "person.birth_date"},
		"a NIK of another birth date": {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Person.BirthDate = "1990-04-18" }, "person.nik"},
		"a NIK of 15 digits":          {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Person.Nik = r.Person.Nik[:15] }, "person.nik"},
		"a short name":                {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Person.FullName = "Al" }, "person.full_name"},
		"a name with a NUL":           {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Person.FullName = "Taufik\x00Hidayat" }, "person.full_name"},
		"a huge alias":                {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Person.Aliases = []string{strings.Repeat("x", 300)} }, "person.aliases[0]"},
		"no reason":                   {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Reason = " " }, "reason"},
		"no instruction":              {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Instruction = 0 }, "instruction"},
		"an unknown category":         {func(r *sinergiv1.CreateScreeningEntryRequest) { r.Category = 99 }, "category"},
		"expired already": {func(r *sinergiv1.CreateScreeningEntryRequest) {
			r.ExpireTime = timestamppb.New(time.Now().Add(-time.Minute))
		}, "expire_time"},
		"three years ahead": {func(r *sinergiv1.CreateScreeningEntryRequest) {
			r.ExpireTime = timestamppb.New(time.Now().AddDate(3, 0, 0))
		}, "expire_time"},
		"no case for an investigation": {func(r *sinergiv1.CreateScreeningEntryRequest) {
			r.Access = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION}
		}, "access.case_reference"},
		"a purpose police do not list for": {func(r *sinergiv1.CreateScreeningEntryRequest) {
			r.Access = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_TRANSFER_ESCORT}
		}, "access.purpose"},
	} {
		t.Run(name, func(t *testing.T) {
			r := good()
			tc.mod(r)
			_, err := polres.CreateScreeningEntry(ctx, r)
			if codeOf(err) != codes.InvalidArgument || !slices.Contains(validate.FieldsOf(err), tc.field) {
				t.Fatalf("%v, want INVALID_ARGUMENT on %s", err, tc.field)
			}
			if p := r.GetPerson(); p.GetNik() != "" && strings.Contains(err.Error(), p.GetNik()) {
				t.Fatalf("the error repeats the NIK: %v", err)
			}
		})
	}
	if _, err := polres.CreateScreeningEntry(ctx, good()); err != nil {
		t.Fatalf("the good entry: %v", err)
	}
	// A demo entry of another unit is its owner's too.
	if _, err := polres.GetScreeningEntry(ctx, &sinergiv1.GetScreeningEntryRequest{Access: analyst, Id: screening.DemoEntryID("jaktim-dpo")}); codeOf(err) != codes.NotFound {
		t.Fatalf("Polres Metro reads Polres Metro Jakarta Timur's demo entry: %v", err)
	}
}
