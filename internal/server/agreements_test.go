package server_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/requestid"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func party(code string) *sinergiv1.Party {
	return &sinergiv1.Party{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: code}}
}

// TestAgreementRegistry: an agreement joins a corrections party and a police
// party; one side registers it, the other confirms it; revocations are from
// now on and an MoU's take its PKS with it; each side administers its own
// institutions; and the database refuses to rewrite what was registered.
// Every act is audited with its officer.
func TestAgreementRegistry(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	ctx := context.Background()
	ministry, mabes := env.As(t, "kemenimipas"), env.As(t, "mabes-polri")
	now := time.Now()
	pks := func(id string, a, b string) *sinergiv1.Agreement {
		return &sinergiv1.Agreement{Id: id, Number: "PKS/" + id, Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
			Parties: []*sinergiv1.Party{party(a), party(b)}, Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_INCIDENT_REPORTS},
			EffectiveTime: timestamppb.New(now.Add(-time.Hour))}
	}
	status := func(id string) sinergiv1.AgreementStatus {
		t.Helper()
		r, err := ministry.Agreements.GetAgreement(ctx, &sinergiv1.GetAgreementRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetAgreement().GetStatus()
	}

	t.Run("two parties, one of each side", func(t *testing.T) {
		for _, a := range []*sinergiv1.Agreement{
			pks("pks-police-police", "polres-metro", "polda-lampung"),
			pks("pks-prison-prison", "lapas-metro", "lapas-cipinang"),
			{Id: "pks-side-side", Number: "1", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS, Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_TRAINING},
				EffectiveTime: timestamppb.New(now), Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_POLRI}}, party("polres-metro")}},
		} {
			_, err := ministry.Agreements.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: ministryAdmin, Agreement: a})
			if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"agreement.parties"}) {
				t.Errorf("%s: %v, want InvalidArgument naming agreement.parties", a.GetId(), err)
			}
		}
	})

	t.Run("each side administers its own", func(t *testing.T) {
		in := func(code string, kind sinergiv1.InstitutionKind, region, parent string) *sinergiv1.Institution {
			return &sinergiv1.Institution{Code: code, Name: "Test " + code, Kind: kind, RegionCode: region, ParentCode: parent}
		}
		for _, tc := range []struct {
			name   string
			call   func() error
			want   codes.Code
			fields []string
		}{
			{"the ministry suspends Mabes", func() error {
				_, err := ministry.Institutions.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Access: ministryAdmin, Code: "mabes-polri",
					Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED})
				return err
			}, codes.PermissionDenied, nil},
			{"the ministry suspends a Polres", func() error {
				_, err := ministry.Institutions.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Access: ministryAdmin, Code: "polres-metro",
					Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED})
				return err
			}, codes.PermissionDenied, nil},
			{"the ministry creates a Polres", func() error {
				_, err := ministry.Institutions.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: ministryAdmin,
					Institution: in("polres-lampung-timur", sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES, "18.07", "polda-lampung")})
				return err
			}, codes.PermissionDenied, nil},
			{"the ministry creates another ministry", func() error {
				_, err := ministry.Institutions.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: ministryAdmin,
					Institution: in("kemenimipas-dua", sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY, "", "")})
				return err
			}, codes.InvalidArgument, []string{"institution.kind"}},
			{"Mabes creates a Lapas", func() error {
				_, err := mabes.Institutions.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: policeAdmin,
					Institution: in("lapas-bandar-lampung", sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, "18.71", "")})
				return err
			}, codes.PermissionDenied, nil},
			{"Mabes suspends the ministry", func() error {
				_, err := mabes.Institutions.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Access: policeAdmin, Code: "kemenimipas",
					Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED})
				return err
			}, codes.PermissionDenied, nil},
			{"an act without an officer", func() error {
				_, err := mabes.Institutions.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Code: "polres-metro",
					Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED})
				return err
			}, codes.InvalidArgument, []string{"access"}},
			{"an act for another purpose", func() error {
				_, err := mabes.Institutions.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Code: "polres-metro",
					Access: &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT},
					Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED})
				return err
			}, codes.InvalidArgument, []string{"access.purpose"}},
			{"Mabes creates a Polres", func() error {
				_, err := mabes.Institutions.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: policeAdmin,
					Institution: in("polres-lampung-timur", sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES, "18.07", "polda-lampung")})
				return err
			}, codes.OK, nil},
			{"the ministry creates a Rutan", func() error {
				_, err := ministry.Institutions.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: ministryAdmin,
					Institution: in("rutan-metro", sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN, "18.72", "")})
				return err
			}, codes.OK, nil},
		} {
			err := tc.call()
			if codeOf(err) != tc.want || (tc.fields != nil && !cmp.Equal(validate.FieldsOf(err), tc.fields)) {
				t.Errorf("%s: %v, want %v %v", tc.name, err, tc.want, tc.fields)
			}
		}
	})

	t.Run("registered by one side, confirmed by the other", func(t *testing.T) {
		r, err := mabes.Agreements.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: policeAdmin, Agreement: pks("pks-cilacap-permisan", "polres-cilacap", "lapas-permisan")})
		if err != nil || r.GetAgreement().GetStatus() != sinergiv1.AgreementStatus_AGREEMENT_STATUS_PENDING || r.GetAgreement().GetProposedBy() != sinergiv1.Side_SIDE_POLRI {
			t.Fatalf("created by Mabes: %v %v, want PENDING, proposed by the police", r, err)
		}
		if _, err := mabes.Agreements.ConfirmAgreement(ctx, &sinergiv1.ConfirmAgreementRequest{Access: policeAdmin, Id: "pks-cilacap-permisan"}); codeOf(err) != codes.FailedPrecondition {
			t.Errorf("confirmed by its own side: %v, want FailedPrecondition", err)
		}
		if _, err := ministry.Agreements.ConfirmAgreement(ctx, &sinergiv1.ConfirmAgreementRequest{Access: ministryAdmin, Id: "mou-2025-kemenimipas-polri"}); codeOf(err) != codes.FailedPrecondition {
			t.Errorf("confirming a seeded agreement: %v, want FailedPrecondition", err)
		}
		if _, err := ministry.Agreements.ConfirmAgreement(ctx, &sinergiv1.ConfirmAgreementRequest{Access: ministryAdmin, Id: "pks-nowhere"}); codeOf(err) != codes.NotFound {
			t.Errorf("confirming what does not exist: %v, want NotFound", err)
		}
		c1, err := ministry.Agreements.ConfirmAgreement(ctx, &sinergiv1.ConfirmAgreementRequest{Access: ministryAdmin, Id: "pks-cilacap-permisan"})
		if err != nil || c1.GetAgreement().GetStatus() != sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE {
			t.Fatalf("confirmed by the ministry: %v %v", c1, err)
		}
		c2, err := ministry.Agreements.ConfirmAgreement(ctx, &sinergiv1.ConfirmAgreementRequest{Access: ministryAdmin, Id: "pks-cilacap-permisan"})
		if err != nil || !c2.GetAgreement().GetConfirmTime().AsTime().Equal(c1.GetAgreement().GetConfirmTime().AsTime()) {
			t.Errorf("confirmed twice: %v %v, want the first confirmation kept", c2, err)
		}
	})

	t.Run("revocations from now on, never earlier", func(t *testing.T) {
		_, err := ministry.Agreements.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: ministryAdmin, Id: "pks-cilacap-permisan",
			RevokeTime: timestamppb.New(time.Now().Add(-time.Hour))})
		if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"revoke_time"}) {
			t.Errorf("backdated revocation: %v, want InvalidArgument naming revoke_time", err)
		}
		if st := status("pks-cilacap-permisan"); st != sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE {
			t.Errorf("after a refused revocation: %v", st)
		}
		later := time.Now().Add(2 * time.Hour)
		r, err := mabes.Agreements.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: policeAdmin, Id: "pks-cilacap-permisan", RevokeTime: timestamppb.New(later)})
		if err != nil || r.GetAgreement().GetStatus() != sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE || !r.GetAgreement().GetRevokeTime().AsTime().Equal(later.Truncate(time.Microsecond)) {
			t.Fatalf("revocation in two hours: %v %v, want active until then", r, err)
		}
		cov, err := env.As(t, "polres-cilacap").Agreements.CheckCoverage(ctx, &sinergiv1.CheckCoverageRequest{CounterpartCode: "lapas-permisan",
			Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, AtTime: timestamppb.New(later.Add(time.Minute))})
		if err != nil || cov.GetCovered() || cov.GetGap() != sinergiv1.CoverageGap_COVERAGE_GAP_REVOKED {
			t.Errorf("coverage after the revocation: %v %v", cov, err)
		}
		// A revocation stands: revoking again changes nothing.
		again, err := ministry.Agreements.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: ministryAdmin, Id: "pks-cilacap-permisan"})
		if err != nil || !again.GetAgreement().GetRevokeTime().AsTime().Equal(later.Truncate(time.Microsecond)) {
			t.Errorf("revoked again: %v %v, want the first revocation kept", again, err)
		}
	})

	t.Run("the database refuses to rewrite the registry", func(t *testing.T) {
		for _, q := range []string{
			`UPDATE agreements SET revoke_time = now() - interval '1 day' WHERE id = 'pks-2025-kemenimipas-polri-training'`,
			`UPDATE agreements SET scopes = '{DETAINEE_DATA,CHILDREN_DATA}' WHERE id = 'pks-2024-lpka-tenggarong-polres-kukar'`,
			`UPDATE agreements SET expire_time = NULL WHERE id = 'pks-2024-lpka-tenggarong-polres-kukar'`,
			`UPDATE agreements SET revoke_time = NULL WHERE id = 'pks-cilacap-permisan'`,
			`UPDATE agreements SET confirm_time = NULL WHERE id = 'pks-cilacap-permisan'`,
			`DELETE FROM agreements WHERE id = 'pks-2024-lpka-tenggarong-polres-kukar'`,
			`DELETE FROM agreement_parties WHERE agreement_id = 'pks-2024-lpka-tenggarong-polres-kukar'`,
			`UPDATE agreement_parties SET institution_code = 'polres-metro' WHERE agreement_id = 'pks-2024-lpka-tenggarong-polres-kukar' AND position = 1`,
			`INSERT INTO agreement_parties (agreement_id, position, side) VALUES ('pks-2024-lpka-tenggarong-polres-kukar', 2, 'POLRI')`,
			`INSERT INTO agreements (id, number, kind, scopes, effective_time, revoke_time) VALUES ('pks-backdated', '1', 'PKS', '{TRAINING}', now() - interval '2 days', now() - interval '1 day')`,
			`TRUNCATE agreements CASCADE`,
		} {
			if _, err := env.Owner.Pool.Exec(ctx, q); err == nil {
				t.Errorf("the database let through: %s", q)
			}
		}
		if st := status("pks-2024-lpka-tenggarong-polres-kukar"); st != sinergiv1.AgreementStatus_AGREEMENT_STATUS_EXPIRED {
			t.Errorf("the 2024 PKS is %v", st)
		}
	})

	t.Run("revoking the MoU revokes the PKS under it", func(t *testing.T) {
		under, err := ministry.Agreements.ListAgreements(ctx, &sinergiv1.ListAgreementsRequest{PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, a := range under.GetAgreements() {
			if a.GetParentId() == "mou-2025-kemenimipas-polri" && a.GetRevokeTime() == nil {
				want = append(want, a.GetId())
			}
		}
		if len(want) < 3 {
			t.Fatalf("only %v under the MoU", want)
		}
		rctx, rid := withRequestIDServer(ctx)
		r, err := mabes.Agreements.RevokeAgreement(rctx, &sinergiv1.RevokeAgreementRequest{Access: policeAdmin, Id: "mou-2025-kemenimipas-polri"})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		if diff := cmp.Diff(want, r.GetCascadedIds()); diff != "" {
			t.Errorf("revoked with the MoU (-want +got):\n%s", diff)
		}
		for _, id := range append(want, "mou-2025-kemenimipas-polri") {
			if st := status(id); st != sinergiv1.AgreementStatus_AGREEMENT_STATUS_REVOKED {
				t.Errorf("%s is %v after the MoU's revocation", id, st)
			}
		}
		cov, err := env.As(t, "polres-metro").Agreements.CheckCoverage(ctx, &sinergiv1.CheckCoverageRequest{CounterpartCode: "lapas-metro", Scope: sinergiv1.Scope_SCOPE_DETAINEE_DATA})
		if err != nil || cov.GetCovered() || cov.GetGap() != sinergiv1.CoverageGap_COVERAGE_GAP_REVOKED {
			t.Errorf("detainee data after the MoU's revocation: %v %v", cov, err)
		}
		// One audit record, with the officer, naming the MoU and each PKS.
		var subjects []string
		var operator, purpose string
		if err := env.Owner.Pool.QueryRow(ctx, `SELECT subjects, operator_id, purpose FROM audit_records WHERE request_id = $1`, rid).
			Scan(&subjects, &operator, &purpose); err != nil {
			t.Fatal(err)
		}
		wantSubjects := []string{"agreement/mou-2025-kemenimipas-polri"}
		for _, id := range want {
			wantSubjects = append(wantSubjects, "agreement/"+id)
		}
		if !cmp.Equal(subjects, wantSubjects) || operator != policeAdmin.GetOperatorId() || purpose != "ADMINISTRATION" {
			t.Errorf("audit of the revocation: %v by %s for %s, want %v by %s for ADMINISTRATION", subjects, operator, purpose, wantSubjects, policeAdmin.GetOperatorId())
		}
	})

	t.Run("every administrative act is audited with its officer", func(t *testing.T) {
		rows, err := env.Owner.Pool.Query(ctx, `SELECT method, decision, operator_id, purpose FROM audit_records
			WHERE method ~ '(Create|Confirm|Revoke)Agreement$|(CreateInstitution|SetInstitutionStatus)$' AND decision = 'ALLOWED' AND status_code = 'OK'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var method, decision, operator, purpose string
			if err := rows.Scan(&method, &decision, &operator, &purpose); err != nil {
				t.Fatal(err)
			}
			n++
			if operator == "" || purpose != "ADMINISTRATION" {
				t.Errorf("%s audited without its officer: %q for %q", method, operator, purpose)
			}
		}
		if n < 6 {
			t.Errorf("%d administrative acts audited, want at least 6", n)
		}
	})
}

var requestSerial int

// withRequestIDServer tags a call so that its audit record can be found.
func withRequestIDServer(ctx context.Context) (context.Context, string) {
	requestSerial++
	id := fmt.Sprintf("registry-test-%d-%d", time.Now().UnixNano(), requestSerial)
	return metadata.AppendToOutgoingContext(ctx, requestid.Header, id), id
}
