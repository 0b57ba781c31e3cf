package custody_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestSubjectAccessByNIK: a data subject brings a NIK; oversight lists who
// read that person's records, in every facility that holds one, and for what.
func TestSubjectAccessByNIK(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro, cipinang := custodyAs(t, env, "lapas-metro"), custodyAs(t, env, "lapas-cipinang")
	rec := person(unique("SA"), "Sutrisno "+randomWord(7), date("1988-04-12"), sinergiv1.Sex_SEX_MALE, "187201")
	held := admitted(t, metro, rec, date("2026-01-05"))
	// The same person, earlier, in another facility (the same NIK).
	again := person(unique("SB"), rec.GetIdentity().GetFullName(), date("1988-04-12"), sinergiv1.Sex_SEX_MALE, "187201")
	again.Identity.Nik = rec.GetIdentity().GetNik()
	other := admitted(t, cipinang, again, date("2025-02-01"))

	if _, err := custodyAs(t, env, "polres-metro").GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: investigator, Id: held.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := custodyAs(t, env, "polres-metro-jakarta-timur").GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: other.GetId()}); err != nil {
		t.Fatal(err)
	}

	oversight := &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST, CaseReference: "PDP/0042/XI/2026"}
	audit := sinergiv1.NewAuditServiceClient(env.ConnAs(t, "kemenimipas"))
	resp, err := audit.ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: oversight, Nik: rec.GetIdentity().GetNik()})
	if err != nil {
		t.Fatal(err)
	}
	var reads []string
	for _, a := range resp.GetAccesses() {
		if a.GetMethod() == sinergiv1.CustodyService_GetCustodyRecord_FullMethodName {
			reads = append(reads, a.GetCallerCode()+" "+a.GetPurpose().String())
		}
	}
	want := []string{"polres-metro-jakarta-timur PURPOSE_INTELLIGENCE_ANALYSIS", "polres-metro PURPOSE_CRIMINAL_INVESTIGATION"}
	if diff := cmp.Diff(want, reads); diff != "" {
		t.Errorf("reads of the person's records, newest first (-want +got):\n%s", diff)
	}

	// A NIK nobody is held under: nothing, not an error.
	empty, err := audit.ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: oversight, Nik: "3301121503900001"})
	if err != nil || len(empty.GetAccesses()) != 0 {
		t.Errorf("unknown NIK: %v %v", empty, err)
	}
	for _, tc := range []struct {
		req   *sinergiv1.ListSubjectAccessRequest
		field string
	}{
		{&sinergiv1.ListSubjectAccessRequest{Access: oversight, Nik: "12345"}, "nik"},
		{&sinergiv1.ListSubjectAccessRequest{Access: oversight, Nik: rec.GetIdentity().GetNik(), Subject: "custody/" + held.GetId()}, "nik"},
		{&sinergiv1.ListSubjectAccessRequest{Access: oversight}, "subject"},
	} {
		_, err := audit.ListSubjectAccess(ctx, tc.req)
		if status.Code(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{tc.field}) {
			t.Errorf("%v: %v, want InvalidArgument naming %s", tc.req, err, tc.field)
		}
	}
	// Police may not ask.
	if _, err := sinergiv1.NewAuditServiceClient(env.ConnAs(t, "polres-metro")).ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: investigator, Nik: rec.GetIdentity().GetNik()}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("police asking: %v, want PermissionDenied", err)
	}
}
