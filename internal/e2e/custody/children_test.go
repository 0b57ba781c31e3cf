package custody_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestChildrenMasked: a child's identity (UU 11/2012 art. 19) is shown only
// to those whose agreement covers children's data. Under the demo PKS,
// which does, Polres Kutai Kartanegara sees the LPKA's child; once that PKS
// is revoked and replaced by one for detainee data only, it sees initials,
// and cannot find the child by identity.
func TestChildrenMasked(t *testing.T) {
	env := servertest.Start(t, freshDB(t), servertest.Options{})
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	admittedAt := now.Add(-60 * 24 * time.Hour)

	child := person("AN.0001", "Putra Ramadhan Siregar", now.AddDate(-16, -2, 0), sinergiv1.Sex_SEX_MALE, "640201")
	child.LegalStatus = &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CHILD}
	child.Identity.Aliases = []string{"Ucok"}
	inLPKA := admitted(t, custodyAs(t, env, "lpka-tenggarong"), child, admittedAt)
	// Seventeen when admitted to an adult prison: a child's record too.
	young := person("BI.0001", "Bayu Pratama Lubis", admittedAt.AddDate(-17, 0, 0), sinergiv1.Sex_SEX_MALE, "640201")
	inLapasYoung := admitted(t, custodyAs(t, env, "lapas-tenggarong"), young, admittedAt)
	adult := person("BI.0002", "Hendra Gunawan", date("1980-05-05"), sinergiv1.Sex_SEX_MALE, "640201")
	inLapasAdult := admitted(t, custodyAs(t, env, "lapas-tenggarong"), adult, admittedAt)
	if !inLPKA.GetChild() || !inLapasYoung.GetChild() || inLapasAdult.GetChild() {
		t.Fatalf("child flags: LPKA %v, 17 at admission %v, adult %v", inLPKA.GetChild(), inLapasYoung.GetChild(), inLapasAdult.GetChild())
	}

	kukar := custodyAs(t, env, "polres-kutai-kartanegara")
	get := func(t *testing.T, c sinergiv1.CustodyServiceClient, id string) *sinergiv1.CustodyRecord {
		t.Helper()
		r, err := c.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: investigator, Id: id})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetRecord()
	}
	ignore := protocmp.IgnoreFields(&sinergiv1.CustodyRecord{}, "id", "facility_code", "status", "held_since", "status_time", "child", "create_time", "update_time")

	t.Run("under the PKS covering children's data", func(t *testing.T) {
		got := get(t, kukar, inLPKA.GetId())
		if got.GetIdentityMasked() || !got.GetChild() {
			t.Fatalf("masked=%v child=%v", got.GetIdentityMasked(), got.GetChild())
		}
		if diff := cmp.Diff(child, got, protocmp.Transform(), ignore); diff != "" {
			t.Fatalf("unmasked record (-sent +got):\n%s", diff)
		}
	})

	// The ministry replaces the data PKS by one without children's data.
	ministry := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "kemenimipas"))
	if _, err := ministry.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: ministryAdmin, Id: "pks-2025-kemenimipas-polri-data"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ministry.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: ministryAdmin, Agreement: &sinergiv1.Agreement{
		Id: "pks-test-detainee-data-only", Number: "PKS/TEST/1", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS, Title: "Data tahanan (tanpa data anak)",
		Parties:       []*sinergiv1.Party{{Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_CORRECTIONS}}, {Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_POLRI}}},
		Scopes:        []sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS},
		EffectiveTime: timestamppb.New(now.Add(-time.Hour)), SignTime: timestamppb.New(now.Add(-time.Hour)),
	}}); err != nil {
		t.Fatal(err)
	}
	// Registered by the ministry, in force once Mabes confirms it.
	confirm(t, env, "pks-test-detainee-data-only")
	// Other processes hear of the change by NOTIFY; this one reloaded on write.

	masked := func(r *sinergiv1.CustodyRecord) *sinergiv1.CustodyRecord {
		m := &sinergiv1.CustodyRecord{RegisterNumber: r.GetRegisterNumber(), LegalStatus: r.GetLegalStatus(), OffenceArticles: r.GetOffenceArticles(),
			RiskFlags: r.GetRiskFlags(), IdentityMasked: true,
			Identity: &sinergiv1.Identity{Sex: r.GetIdentity().GetSex(), Nationality: r.GetIdentity().GetNationality()}}
		for _, w := range strings.Fields(r.GetIdentity().GetFullName()) {
			m.Identity.FullName += w[:1] + ". "
		}
		m.Identity.FullName = strings.TrimSpace(m.Identity.FullName)
		return m
	}
	t.Run("without children's data: initials only", func(t *testing.T) {
		rctx, rid := withRequestID(ctx)
		r, err := kukar.GetCustodyRecord(rctx, &sinergiv1.GetCustodyRecordRequest{Access: investigator, Id: inLPKA.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(masked(child), r.GetRecord(), protocmp.Transform(), ignore); diff != "" {
			t.Fatalf("masked record (-want +got):\n%s", diff)
		}
		if r.GetRecord().GetIdentity().GetFullName() != "P. R. S." {
			t.Fatalf("initials %q", r.GetRecord().GetIdentity().GetFullName())
		}
		// Still a disclosure of the record: audited, under the new agreement.
		if a := auditOf(t, env, rid); len(a) != 1 || !cmp.Equal(a[0].Subjects, []string{subject(inLPKA.GetId())}) ||
			!cmp.Equal(a[0].Agreements, []string{"pks-test-detainee-data-only"}) {
			t.Fatalf("audit %+v", a)
		}
		if got := get(t, kukar, inLapasYoung.GetId()); !got.GetIdentityMasked() || got.GetIdentity().GetNik() != "" {
			t.Fatalf("17 at admission: %v", got)
		}
		if got := get(t, kukar, inLapasAdult.GetId()); got.GetIdentityMasked() || got.GetIdentity().GetNik() != adult.GetIdentity().GetNik() {
			t.Fatalf("adult: %v", got)
		}
	})

	t.Run("a child cannot be found by identity", func(t *testing.T) {
		for _, req := range []*sinergiv1.SearchCustodyRecordsRequest{
			{Nik: child.GetIdentity().GetNik()},
			{Name: "Putra Ramadhan"},
			{Name: "Ucok", FacilityCode: "lpka-tenggarong"},
			{BirthDate: child.GetIdentity().GetBirthDate()},
		} {
			req.Access = investigator
			resp, err := kukar.SearchCustodyRecords(ctx, req)
			if err != nil || len(resp.GetRecords()) != 0 {
				t.Fatalf("search %v: %v %v, want nothing", req, resp, err)
			}
		}
		p, err := kukar.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: investigator, Nik: child.GetIdentity().GetNik()})
		if err != nil || p.GetHeld() {
			t.Fatalf("presence of the child: %v %v", p, err)
		}
		// By what does not identify the child, it is found, masked.
		resp, err := kukar.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: investigator, FacilityCode: "lpka-tenggarong"})
		if err != nil || len(resp.GetRecords()) != 1 || !resp.GetRecords()[0].GetIdentityMasked() || resp.GetRecords()[0].GetPhotoSha256() != "" {
			t.Fatalf("by facility: %v %v", resp, err)
		}
	})

	t.Run("watch deliveries are masked too", func(t *testing.T) {
		w := watch(t, ctx, kukar, analyst, "")
		// Mabes, under an agreement of its own covering the LPKA's
		// children's data, watches the same event: one watcher's masked
		// copy is not the other's.
		if _, err := ministry.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: ministryAdmin, Agreement: &sinergiv1.Agreement{
			Id: "pks-test-mabes-children", Number: "PKS/TEST/2", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS, Title: "Data anak (Mabes)",
			Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "lpka-tenggarong"}},
				{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "mabes-polri"}}},
			Scopes:        []sinergiv1.Scope{sinergiv1.Scope_SCOPE_CHILDREN_DATA, sinergiv1.Scope_SCOPE_DETAINEE_DATA, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS},
			EffectiveTime: timestamppb.New(now.Add(-time.Hour)), SignTime: timestamppb.New(now.Add(-time.Hour)),
		}}); err != nil {
			t.Fatal(err)
		}
		confirm(t, env, "pks-test-mabes-children")
		mabes := watch(t, ctx, custodyAs(t, env, "mabes-polri"), analyst, "")
		if _, err := event(ctx, custodyAs(t, env, "lpka-tenggarong"), inLPKA.GetId(), courtApp, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		m := w.next(1)[0]
		if !m.GetIdentityMasked() || m.GetSubject().GetNik() != "" || m.GetSubject().GetBirthDate() != "" || m.GetSubject().GetFullName() != "P. R. S." {
			t.Fatalf("delivery %v", m)
		}
		var full *sinergiv1.WatchCustodyEventsResponse
		for full == nil || full.GetEvent().GetRecordId() != inLPKA.GetId() {
			full = mabes.next(1)[0]
		}
		if full.GetIdentityMasked() || full.GetSubject().GetNik() != child.GetIdentity().GetNik() || full.GetSubject().GetFullName() != child.GetIdentity().GetFullName() {
			t.Fatalf("Mabes's delivery %v, want the child's identity", full)
		}
	})

	t.Run("the facility and the ministry see the child", func(t *testing.T) {
		for _, code := range []string{"lpka-tenggarong", "kemenimipas"} {
			r, err := custodyAs(t, env, code).GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: warden, Id: inLPKA.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			got := r.GetRecord()
			if got.GetIdentityMasked() || got.GetIdentity().GetNik() != child.GetIdentity().GetNik() {
				t.Fatalf("%s: %v", code, got)
			}
		}
	})
}
