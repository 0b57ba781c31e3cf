package custody_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestPolicyMatrix calls every method as institutions it allows and as
// institutions it refuses, and checks what the data methods let each see.
func TestPolicyMatrix(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro := custodyAs(t, env, "lapas-metro")
	cipinang := custodyAs(t, env, "lapas-cipinang")
	when := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	inMetro := admitted(t, metro, person(unique("MX."), "Bambang Hartono", date("1985-04-12"), sinergiv1.Sex_SEX_MALE, "187201"), when)
	inCipinang := admitted(t, cipinang, person(unique("CX."), "Dedi Kurniawan", date("1979-09-30"), sinergiv1.Sex_SEX_MALE, "317501"), when)
	const missingID = "00000000-0000-4000-8000-000000000000"

	var watchID string
	{
		w, err := custodyAs(t, env, "polres-metro").AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, Nik: inCipinang.GetIdentity().GetNik(),
			Reason: "warrant", ExpireTime: timestamppb.New(time.Now().Add(24 * time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		watchID = w.GetWatch().GetId()
	}

	get := func(id string, ac *sinergiv1.AccessContext) func(sinergiv1.CustodyServiceClient) error {
		return func(c sinergiv1.CustodyServiceClient) error {
			_, err := c.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: ac, Id: id})
			return err
		}
	}
	upsert := func(rec *sinergiv1.CustodyRecord) func(sinergiv1.CustodyServiceClient) error {
		return func(c sinergiv1.CustodyServiceClient) error {
			_, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: rec})
			return err
		}
	}
	court := func(id string) func(sinergiv1.CustodyServiceClient) error {
		return func(c sinergiv1.CustodyServiceClient) error {
			_, err := event(ctx, c, id, sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_COURT_APPEARANCE, time.Now().Add(-time.Hour))
			return err
		}
	}
	sync := func(c sinergiv1.CustodyServiceClient) error {
		st, err := c.SyncRoster(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Header{Header: &sinergiv1.RosterHeader{}}}); err != nil {
			_, err = st.CloseAndRecv()
			return err
		}
		_, err = st.CloseAndRecv()
		return err
	}
	presence := func(nikValue string) func(sinergiv1.CustodyServiceClient) error {
		return func(c sinergiv1.CustodyServiceClient) error {
			_, err := c.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, Nik: nikValue})
			return err
		}
	}
	search := func(c sinergiv1.CustodyServiceClient) error {
		_, err := c.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Name: "Bambang"})
		return err
	}
	listEvents := func(id string) func(sinergiv1.CustodyServiceClient) error {
		return func(c sinergiv1.CustodyServiceClient) error {
			_, err := c.ListCustodyEvents(ctx, &sinergiv1.ListCustodyEventsRequest{Access: analyst, RecordId: id})
			return err
		}
	}
	watch := func(ac *sinergiv1.AccessContext) func(sinergiv1.CustodyServiceClient) error {
		return func(c sinergiv1.CustodyServiceClient) error {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			st, err := c.WatchCustodyEvents(wctx, &sinergiv1.WatchCustodyEventsRequest{Access: ac})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}
	}
	addWatch := func(c sinergiv1.CustodyServiceClient) error {
		_, err := c.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, RecordId: inMetro.GetId(), Reason: "escape risk",
			ExpireTime: timestamppb.New(time.Now().Add(time.Hour))})
		return err
	}
	listWatches := func(c sinergiv1.CustodyServiceClient) error {
		_, err := c.ListWatches(ctx, &sinergiv1.ListWatchesRequest{Access: investigator})
		return err
	}
	removeWatch := func(c sinergiv1.CustodyServiceClient) error {
		_, err := c.RemoveWatch(ctx, &sinergiv1.RemoveWatchRequest{Access: investigator, Id: watchID})
		return err
	}
	foreign := person(unique("MX."), "Agus Salim", date("1990-01-01"), sinergiv1.Sex_SEX_MALE, "187201")
	foreign.FacilityCode = "lapas-metro"

	for _, tc := range []struct {
		name string
		as   string
		call func(sinergiv1.CustodyServiceClient) error
		want codes.Code
	}{
		{"upsert by the facility", "lapas-metro", upsert(person(unique("MX."), "Eko Prasetyo", date("1991-02-03"), sinergiv1.Sex_SEX_MALE, "187201")), codes.OK},
		{"upsert by a police unit", "polres-metro", upsert(person(unique("MX."), "Eko Prasetyo", date("1991-02-03"), sinergiv1.Sex_SEX_MALE, "187201")), codes.PermissionDenied},
		{"upsert by the ministry", "kemenimipas", upsert(person(unique("MX."), "Eko Prasetyo", date("1991-02-03"), sinergiv1.Sex_SEX_MALE, "187201")), codes.PermissionDenied},
		{"upsert by Mabes", "mabes-polri", upsert(person(unique("MX."), "Eko Prasetyo", date("1991-02-03"), sinergiv1.Sex_SEX_MALE, "187201")), codes.PermissionDenied},
		{"upsert of another facility's record", "lapas-cipinang", upsert(foreign), codes.PermissionDenied},
		{"event by the facility", "lapas-metro", court(inMetro.GetId()), codes.OK},
		{"event by a police unit", "polres-metro", court(inMetro.GetId()), codes.PermissionDenied},
		{"event on another facility's record", "lapas-cipinang", court(inMetro.GetId()), codes.NotFound},
		{"roster by the facility", "lapas-metro", sync, codes.OK},
		{"roster by a police unit", "polres-metro", sync, codes.PermissionDenied},
		{"roster by the ministry", "kemenimipas", sync, codes.PermissionDenied},
		{"presence by a police unit", "polres-metro", presence(inMetro.GetIdentity().GetNik()), codes.OK},
		{"presence by the ministry", "kemenimipas", presence(inMetro.GetIdentity().GetNik()), codes.OK},
		{"presence by a facility", "lapas-cipinang", presence(inMetro.GetIdentity().GetNik()), codes.OK},
		{"get in jurisdiction", "polres-metro", get(inMetro.GetId(), analyst), codes.OK},
		{"get out of jurisdiction", "polres-metro", get(inCipinang.GetId(), analyst), codes.NotFound},
		{"get by Mabes, Lampung", "mabes-polri", get(inMetro.GetId(), analyst), codes.OK},
		{"get by Mabes, Jakarta", "mabes-polri", get(inCipinang.GetId(), analyst), codes.OK},
		{"get by the Polda of the province", "polda-lampung", get(inMetro.GetId(), analyst), codes.OK},
		{"get by another Polda", "polda-metro-jaya", get(inMetro.GetId(), analyst), codes.NotFound},
		{"get by the Polres of Jakarta Timur", "polres-metro-jakarta-timur", get(inCipinang.GetId(), analyst), codes.OK},
		{"get own record", "lapas-metro", get(inMetro.GetId(), warden), codes.OK},
		{"get another facility's record", "lapas-cipinang", get(inMetro.GetId(), warden), codes.NotFound},
		{"get by the ministry: oversight of its units", "kemenimipas", get(inCipinang.GetId(), warden), codes.OK},
		{"get a missing record", "polres-metro", get(missingID, analyst), codes.NotFound},
		{"search by a police unit", "polres-metro", search, codes.OK},
		{"search by the ministry", "kemenimipas", search, codes.OK},
		{"events in jurisdiction", "polres-metro", listEvents(inMetro.GetId()), codes.OK},
		{"events out of jurisdiction", "polres-metro", listEvents(inCipinang.GetId()), codes.NotFound},
		{"watch by a police unit", "polres-metro", watch(analyst), codes.OK},
		{"watch by a facility", "lapas-metro", watch(warden), codes.PermissionDenied},
		{"watch by the ministry", "kemenimipas", watch(warden), codes.PermissionDenied},
		{"add watch by a police unit", "polres-metro", addWatch, codes.OK},
		{"add watch by a facility", "lapas-metro", addWatch, codes.PermissionDenied},
		{"list watches by a police unit", "polres-cilacap", listWatches, codes.OK},
		{"list watches by a facility", "lapas-metro", listWatches, codes.PermissionDenied},
		{"remove another unit's watch", "polres-cilacap", removeWatch, codes.NotFound},
		{"remove by a facility", "lapas-metro", removeWatch, codes.PermissionDenied},
		{"remove own watch", "polres-metro", removeWatch, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(custodyAs(t, env, tc.as)); status.Code(err) != tc.want {
				t.Fatalf("%s as %s: %v, want %v", tc.name, tc.as, err, tc.want)
			}
		})
	}

	t.Run("out of reach and missing answer alike", func(t *testing.T) {
		c := custodyAs(t, env, "polres-metro")
		_, outOfReach := c.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: inCipinang.GetId()})
		_, missing := c.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: missingID})
		if status.Code(outOfReach) != codes.NotFound || status.Convert(outOfReach).Message() != status.Convert(missing).Message() {
			t.Fatalf("out of reach: %v; missing: %v: want the same NOT_FOUND", outOfReach, missing)
		}
		_, outEvents := c.ListCustodyEvents(ctx, &sinergiv1.ListCustodyEventsRequest{Access: analyst, RecordId: inCipinang.GetId()})
		_, missingEvents := c.ListCustodyEvents(ctx, &sinergiv1.ListCustodyEventsRequest{Access: analyst, RecordId: missingID})
		if status.Convert(outEvents).Message() != status.Convert(missingEvents).Message() {
			t.Fatalf("events out of reach: %v; missing: %v", outEvents, missingEvents)
		}
		// A watch on it by id: the same NOT_FOUND, though the national PKS
		// covers custody events there (watch lists reach beyond jurisdiction
		// only by NIK, which tells nothing of where).
		addWatch := func(id string) error {
			_, err := c.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, RecordId: id, Reason: "probe", ExpireTime: timestamppb.New(time.Now().Add(time.Hour))})
			return err
		}
		outWatch, missingWatch := addWatch(inCipinang.GetId()), addWatch(missingID)
		if status.Code(outWatch) != codes.NotFound || outWatch.Error() != missingWatch.Error() {
			t.Fatalf("watch out of reach: %v; missing: %v: want the same NOT_FOUND", outWatch, missingWatch)
		}
		// And search never returns it; presence, national, says held in
		// DKI Jakarta and nothing of where (internal/e2e/presence).
		s, err := c.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Nik: inCipinang.GetIdentity().GetNik()})
		if err != nil || len(s.GetRecords()) != 0 {
			t.Fatalf("search out of reach: %v %v", s, err)
		}
		p, err := c.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, Nik: inCipinang.GetIdentity().GetNik()})
		if err != nil || !p.GetHeld() || len(p.GetPlacements()) != 0 || len(p.GetRemoteHits()) != 1 || p.GetRemoteHits()[0].GetProvinceCode() != "31" {
			t.Fatalf("presence out of reach: %v %v, want a remote hit in province 31 alone", p, err)
		}
	})

	t.Run("access context", func(t *testing.T) {
		c := custodyAs(t, env, "polres-metro")
		for _, tc := range []struct {
			name string
			ac   *sinergiv1.AccessContext
			want []string
		}{
			{"missing", nil, []string{"access"}},
			{"operator not an NRP or NIP", &sinergiv1.AccessContext{OperatorId: "12", Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}, []string{"access.operator_id"}},
			{"no purpose", &sinergiv1.AccessContext{OperatorId: "85051234"}, []string{"access.purpose"}},
			{"investigation without a case", &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION}, []string{"access.case_reference"}},
			{"a blank case", &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: "   "}, []string{"access.case_reference"}},
			{"a case that is no police report", &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: "see the file"}, []string{"access.case_reference"}},
			{"a warrant without its letter", &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_WARRANT_EXECUTION, CaseReference: "LP/B/123/VIII/2025/SPKT"}, []string{"access.case_reference"}},
			// A Polres answers no data subject's request, nor oversees.
			{"a police unit for a data subject", &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST, CaseReference: "PDP/0042/XI/2026"}, []string{"access.purpose"}},
			{"a police unit for oversight", &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}, []string{"access.purpose"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for name, call := range map[string]func() error{
					"get": func() error { return get(inMetro.GetId(), tc.ac)(c) },
					"presence": func() error {
						_, err := c.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: tc.ac, Nik: inMetro.GetIdentity().GetNik()})
						return err
					},
					"watch": func() error { return watch(tc.ac)(c) },
					"add watch": func() error {
						_, err := c.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: tc.ac, Nik: inMetro.GetIdentity().GetNik(), Reason: "x", ExpireTime: timestamppb.New(time.Now().Add(time.Hour))})
						return err
					},
				} {
					err := call()
					if status.Code(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), tc.want) {
						t.Errorf("%s: %v (fields %v), want InvalidArgument naming %v", name, err, validate.FieldsOf(err), tc.want)
					}
				}
			})
		}
	})
}
