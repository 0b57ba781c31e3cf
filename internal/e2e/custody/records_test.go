package custody_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func TestUpsertCustodyRecord(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	c := custodyAs(t, env, "lapas-metro")
	rec := person(unique("BI."), "Rudi Hartono", date("1988-07-21"), sinergiv1.Sex_SEX_MALE, "187203")
	rec.Identity.Aliases = []string{"Rudi Codet"}

	rctx, rid := withRequestID(ctx)
	first, err := c.UpsertCustodyRecord(rctx, &sinergiv1.UpsertCustodyRecordRequest{Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	got := first.GetRecord()
	if !first.GetCreated() || got.GetId() == "" || got.GetFacilityCode() != "lapas-metro" ||
		got.GetStatus() != sinergiv1.CustodyStatus_CUSTODY_STATUS_REGISTERED || got.GetChild() || got.GetIdentityMasked() {
		t.Fatalf("first upsert: created=%v %v", first.GetCreated(), got)
	}
	want := proto.Clone(rec).(*sinergiv1.CustodyRecord)
	want.Id, want.FacilityCode, want.Status = got.GetId(), "lapas-metro", sinergiv1.CustodyStatus_CUSTODY_STATUS_REGISTERED
	if diff := cmp.Diff(want, got, protocmp.Transform(), protocmp.IgnoreFields(&sinergiv1.CustodyRecord{}, "create_time", "update_time")); diff != "" {
		t.Errorf("stored record (-sent +got):\n%s", diff)
	}
	if a := auditOf(t, env, rid); len(a) != 1 || a[0].Decision != "ALLOWED" || a[0].Status != "OK" || !cmp.Equal(a[0].Subjects, []string{subject(got.GetId())}) {
		t.Errorf("audit of the upsert: %+v", a)
	}

	t.Run("same content changes nothing", func(t *testing.T) {
		again, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		if again.GetCreated() || again.GetRecord().GetId() != got.GetId() || !again.GetRecord().GetUpdateTime().AsTime().Equal(got.GetUpdateTime().AsTime()) {
			t.Fatalf("second upsert: created=%v update_time %v, want unchanged %v", again.GetCreated(), again.GetRecord().GetUpdateTime().AsTime(), got.GetUpdateTime().AsTime())
		}
	})
	t.Run("changed content updates, status stays", func(t *testing.T) {
		changed := proto.Clone(rec).(*sinergiv1.CustodyRecord)
		changed.RiskFlags = append(changed.RiskFlags, sinergiv1.RiskFlag_RISK_FLAG_ESCAPE_RISK)
		changed.Status = sinergiv1.CustodyStatus_CUSTODY_STATUS_RELEASED // output only: ignored
		up, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: changed})
		if err != nil {
			t.Fatal(err)
		}
		if up.GetCreated() || up.GetRecord().GetId() != got.GetId() || len(up.GetRecord().GetRiskFlags()) != 2 ||
			up.GetRecord().GetStatus() != sinergiv1.CustodyStatus_CUSTODY_STATUS_REGISTERED {
			t.Fatalf("update: %v", up)
		}
	})

	t.Run("invalid records name the field", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			mutate func(*sinergiv1.CustodyRecord)
			fields []string
		}{
			{"NIK with 15 digits", func(r *sinergiv1.CustodyRecord) { r.Identity.Nik = r.Identity.Nik[:15] }, []string{"record.identity.nik"}},
			{"NIK of another birth date", func(r *sinergiv1.CustodyRecord) { r.Identity.BirthDate = "1988-07-22" }, []string{"record.identity.nik"}},
			{"NIK of a man for a woman", func(r *sinergiv1.CustodyRecord) { r.Identity.Sex = sinergiv1.Sex_SEX_FEMALE }, []string{"record.identity.nik"}},
			{"NIK of an unknown province", func(r *sinergiv1.CustodyRecord) { r.Identity.Nik = "99" + r.Identity.Nik[2:] }, []string{"record.identity.nik"}},
			{"no name", func(r *sinergiv1.CustodyRecord) { r.Identity.FullName = " " }, []string{"record.identity.full_name"}},
			{"no register number", func(r *sinergiv1.CustodyRecord) { r.RegisterNumber = "" }, []string{"record.register_number"}},
			{"birth date not a date", func(r *sinergiv1.CustodyRecord) { r.Identity.BirthDate = "21/07/1988"; r.Identity.Nik = "" }, []string{"record.identity.birth_date"}},
			{"convicted without sentence", func(r *sinergiv1.CustodyRecord) { r.LegalStatus.SentenceMonths = 0 }, []string{"record.legal_status.sentence_months"}},
			{"pre-trial without authority or end", func(r *sinergiv1.CustodyRecord) {
				r.LegalStatus = &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_PRE_TRIAL_DETAINEE}
			}, []string{"record.legal_status.detaining_authority", "record.legal_status.detention_end_date"}},
			{"no legal status", func(r *sinergiv1.CustodyRecord) { r.LegalStatus = nil }, []string{"record.legal_status"}},
			{"unknown risk flag", func(r *sinergiv1.CustodyRecord) { r.RiskFlags = []sinergiv1.RiskFlag{42} }, []string{"record.risk_flags[0]"}},
			{"photo hash not hex", func(r *sinergiv1.CustodyRecord) { r.PhotoSha256 = "photo.jpg" }, []string{"record.photo_sha256"}},
			{"nationality not ISO", func(r *sinergiv1.CustodyRecord) { r.Identity.Nationality = "Indonesia" }, []string{"record.identity.nationality"}},
			{"empty alias", func(r *sinergiv1.CustodyRecord) { r.Identity.Aliases = []string{"ok", ""} }, []string{"record.identity.aliases[1]"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				bad := person(unique("BI."), "Rudi Hartono", date("1988-07-21"), sinergiv1.Sex_SEX_MALE, "187203")
				tc.mutate(bad)
				_, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: bad})
				if status.Code(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), tc.fields) {
					t.Fatalf("%v (fields %v), want InvalidArgument naming %v", err, validate.FieldsOf(err), tc.fields)
				}
				// Nothing half written.
				var n int
				if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM custody_records WHERE register_number = $1`, bad.GetRegisterNumber()).Scan(&n); err != nil || n != 0 {
					t.Fatalf("rejected record stored: %d %v", n, err)
				}
			})
		}
	})
}

func TestSearchAndPresence(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro := custodyAs(t, env, "lapas-metro")
	cipinang := custodyAs(t, env, "lapas-cipinang")
	police := custodyAs(t, env, "polres-metro")
	since := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)

	// A surname no other test (nor a rerun in the same database) gives,
	// and unlike any other in its letters: name searches are fuzzy.
	name := "Gilang " + randomWord(10)
	a := person(unique("BI."), name, date("1990-03-15"), sinergiv1.Sex_SEX_MALE, "187201")
	alias := randomWord(8)
	a.Identity.Aliases = []string{"Bang " + alias}
	inA := admitted(t, metro, a, since)
	b := person(unique("BI."), name, date("1990-03-18"), sinergiv1.Sex_SEX_MALE, "187201") // namesake, born three days later
	b.LegalStatus = &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_PRE_TRIAL_DETAINEE, DetainingAuthority: "Polres Metro", DetentionEndDate: "2030-01-01"}
	inB := admitted(t, metro, b, since)
	far := person(unique("BI."), name, date("1990-03-15"), sinergiv1.Sex_SEX_MALE, "317501") // in Jakarta: out of polres-metro's reach
	inFar := admitted(t, cipinang, far, since)
	registered, err := metro.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: person(unique("BI."), name, date("1970-01-01"), sinergiv1.Sex_SEX_MALE, "187201")})
	if err != nil {
		t.Fatal(err)
	}

	ids := func(resp *sinergiv1.SearchCustodyRecordsResponse) []string {
		var out []string
		for _, r := range resp.GetRecords() {
			out = append(out, r.GetId())
		}
		return out
	}
	for _, tc := range []struct {
		name string
		req  *sinergiv1.SearchCustodyRecordsRequest
		want []string
	}{
		{"NIK exactly", &sinergiv1.SearchCustodyRecordsRequest{Nik: inA.GetIdentity().GetNik()}, []string{inA.GetId()}},
		{"register number", &sinergiv1.SearchCustodyRecordsRequest{RegisterNumber: inB.GetRegisterNumber()}, []string{inB.GetId()}},
		{"name, ranked, out of reach left out", &sinergiv1.SearchCustodyRecordsRequest{Name: name, Status: sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD}, []string{inA.GetId(), inB.GetId()}},
		{"name misspelt", &sinergiv1.SearchCustodyRecordsRequest{Name: "gilang " + name[7:len(name)-1], BirthDate: "1990-03-15"}, []string{inA.GetId()}},
		{"alias", &sinergiv1.SearchCustodyRecordsRequest{Name: "bang " + strings.ToLower(alias), FacilityCode: "lapas-metro", BirthDate: "1990-03-15"}, []string{inA.GetId()}},
		{"birth date give or take three days", &sinergiv1.SearchCustodyRecordsRequest{Name: name, BirthDate: "1990-03-16", BirthDateToleranceDays: 3}, []string{inA.GetId(), inB.GetId()}},
		{"birth date exactly", &sinergiv1.SearchCustodyRecordsRequest{Name: name, BirthDate: "1990-03-18"}, []string{inB.GetId()}},
		{"legal status", &sinergiv1.SearchCustodyRecordsRequest{Name: name, LegalStatus: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_PRE_TRIAL_DETAINEE}, []string{inB.GetId()}},
		{"status registered", &sinergiv1.SearchCustodyRecordsRequest{Name: name, Status: sinergiv1.CustodyStatus_CUSTODY_STATUS_REGISTERED}, []string{registered.GetRecord().GetId()}},
		{"another facility's people", &sinergiv1.SearchCustodyRecordsRequest{FacilityCode: "lapas-cipinang"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Access = analyst
			resp, err := police.SearchCustodyRecords(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got := ids(resp)
			if tc.req.GetName() != "" && len(tc.want) > 1 {
				slices.Sort(got) // the ranking between near-equal names is not the point
				tc.want = slices.Sorted(slices.Values(tc.want))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("ranking puts the exact name first", func(t *testing.T) {
		resp, err := police.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Name: name + " bin Slamet", FacilityCode: "lapas-metro"})
		if err != nil || len(resp.GetRecords()) == 0 {
			t.Fatalf("%v %v", resp, err)
		}
		resp2, err := police.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Name: alias, FacilityCode: "lapas-metro", BirthDate: "1990-03-15"})
		if err != nil || len(resp2.GetRecords()) != 1 || resp2.GetRecords()[0].GetId() != inA.GetId() {
			t.Fatalf("alias search: %v %v", resp2, err)
		}
	})

	t.Run("pages", func(t *testing.T) {
		var got []string
		req := &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Name: name, PageSize: 1}
		for range 10 {
			resp, err := police.SearchCustodyRecords(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(resp)...)
			if resp.GetNextPageToken() == "" {
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values([]string{inA.GetId(), inB.GetId(), registered.GetRecord().GetId()}))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("paged (-want +got):\n%s", diff)
		}
		// A token is bound to its query.
		first, _ := police.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, FacilityCode: "lapas-metro", PageSize: 1})
		_, err := police.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Name: name, PageSize: 1, PageToken: first.GetNextPageToken()})
		if status.Code(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"page_token"}) {
			t.Errorf("token of another query: %v", err)
		}
	})

	t.Run("search audit names every record returned", func(t *testing.T) {
		rctx, rid := withRequestID(ctx)
		resp, err := police.SearchCustodyRecords(rctx, &sinergiv1.SearchCustodyRecordsRequest{Access: investigator, Name: name, Status: sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD})
		if err != nil {
			t.Fatal(err)
		}
		a := auditOf(t, env, rid)
		var want []string
		for _, id := range ids(resp) {
			want = append(want, subject(id))
		}
		if len(a) != 1 || !cmp.Equal(slices.Sorted(slices.Values(a[0].Subjects)), slices.Sorted(slices.Values(want))) ||
			!cmp.Equal(a[0].Agreements, []string{"pks-2025-kemenimipas-polri-data"}) || a[0].Purpose != "CRIMINAL_INVESTIGATION" ||
			a[0].Operator != investigator.GetOperatorId() || a[0].Case != investigator.GetCaseReference() {
			t.Fatalf("audit %+v, want subjects %v under the data PKS", a, want)
		}
	})

	t.Run("get audit names the record", func(t *testing.T) {
		rctx, rid := withRequestID(ctx)
		if _, err := police.GetCustodyRecord(rctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: inA.GetId()}); err != nil {
			t.Fatal(err)
		}
		if a := auditOf(t, env, rid); len(a) != 1 || !cmp.Equal(a[0].Subjects, []string{subject(inA.GetId())}) ||
			!cmp.Equal(a[0].Agreements, []string{"pks-2025-kemenimipas-polri-data"}) {
			t.Fatalf("audit %+v", a)
		}
		rctx, rid = withRequestID(ctx)
		if _, err := police.GetCustodyRecord(rctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: inFar.GetId()}); status.Code(err) != codes.NotFound {
			t.Fatal(err)
		}
		if a := auditOf(t, env, rid); len(a) != 1 || len(a[0].Subjects) != 0 || a[0].Status != "NotFound" {
			t.Fatalf("audit of an out-of-reach get: %+v", a)
		}
	})

	t.Run("presence", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			as    string
			req   *sinergiv1.CheckPresenceRequest
			want  []string
			since time.Time
			// The provinces of remote hits.
			remote []string
		}{
			{"by NIK, in reach", "polres-metro", &sinergiv1.CheckPresenceRequest{Nik: inA.GetIdentity().GetNik()}, []string{"lapas-metro"}, since, nil},
			// Beyond its reach, a Polres learns the province alone (a remote hit).
			{name: "by NIK, out of reach", as: "polres-metro", req: &sinergiv1.CheckPresenceRequest{Nik: inFar.GetIdentity().GetNik()}, remote: []string{"31"}},
			{"by NIK, Mabes", "mabes-polri", &sinergiv1.CheckPresenceRequest{Nik: inFar.GetIdentity().GetNik()}, []string{"lapas-cipinang"}, since, nil},
			{"by name and birth date", "polres-metro", &sinergiv1.CheckPresenceRequest{FullName: name, BirthDate: "1990-03-18"}, []string{"lapas-metro"}, since, nil},
			{"by name and birth date, two places", "mabes-polri", &sinergiv1.CheckPresenceRequest{FullName: name, BirthDate: "1990-03-15"}, []string{"lapas-cipinang", "lapas-metro"}, since, nil},
			{"registered is not held", "polres-metro", &sinergiv1.CheckPresenceRequest{FullName: name, BirthDate: "1970-01-01"}, nil, time.Time{}, nil},
			{"nobody", "polres-metro", &sinergiv1.CheckPresenceRequest{Nik: "1872991503900999"}, nil, time.Time{}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.req.Access = analyst
				rctx, rid := withRequestID(ctx)
				resp, err := custodyAs(t, env, tc.as).CheckPresence(rctx, tc.req)
				if err != nil {
					t.Fatal(err)
				}
				var where []string
				for _, p := range resp.GetPlacements() {
					where = append(where, p.GetFacilityCode())
					if !p.GetHeldSince().AsTime().Equal(tc.since) {
						t.Errorf("held since %v, want %v", p.GetHeldSince().AsTime(), tc.since)
					}
				}
				var provinces []string
				for _, h := range resp.GetRemoteHits() {
					provinces = append(provinces, h.GetProvinceCode())
				}
				if resp.GetHeld() != (len(tc.want)+len(tc.remote) > 0) || !cmp.Equal(where, tc.want) || !cmp.Equal(provinces, tc.remote) {
					t.Fatalf("held=%v at %v and provinces %v, want %v and %v", resp.GetHeld(), where, provinces, tc.want, tc.remote)
				}
				// A hit names its record in the audit trail; a miss names none.
				a := auditOf(t, env, rid)
				if len(a) != 1 || len(a[0].Subjects) != len(tc.want)+len(tc.remote) {
					t.Fatalf("audit %+v, want %d subjects", a, len(tc.want)+len(tc.remote))
				}
			})
		}
		// The answer holds nothing but held, where and since when, and for a
		// remote hit the province and the reference.
		fields := (&sinergiv1.CheckPresenceResponse{}).ProtoReflect().Descriptor().Fields()
		placement := (&sinergiv1.Placement{}).ProtoReflect().Descriptor().Fields()
		remote := (&sinergiv1.RemoteHit{}).ProtoReflect().Descriptor().Fields()
		if fields.Len() != 3 || placement.Len() != 2 || remote.Len() != 4 {
			t.Fatalf("presence answer grew fields: %d, %d, %d", fields.Len(), placement.Len(), remote.Len())
		}
	})

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			call   func() error
			fields []string
		}{
			{"search without criteria", func() error {
				_, err := police.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Status: sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD})
				return err
			}, []string{"name"}},
			{"search by an implausible NIK", func() error {
				_, err := police.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Nik: "1872013203900001"})
				return err
			}, []string{"nik"}},
			{"tolerance without birth date", func() error {
				_, err := police.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Name: "budi", BirthDateToleranceDays: 3})
				return err
			}, []string{"birth_date_tolerance_days"}},
			{"presence by name without birth date", func() error {
				_, err := police.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, FullName: "Budi Santoso"})
				return err
			}, []string{"birth_date"}},
			{"presence by nothing", func() error {
				_, err := police.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst})
				return err
			}, []string{"nik"}},
			{"get by a malformed id", func() error {
				_, err := police.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: "42"})
				return err
			}, []string{"id"}},
			{"watch expiring in the past", func() error {
				_, err := police.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: analyst, Nik: inA.GetIdentity().GetNik(), Reason: "x", ExpireTime: timestamppb.New(time.Now().Add(-time.Hour))})
				return err
			}, []string{"expire_time"}},
			{"watch of nobody", func() error {
				_, err := police.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: analyst, Reason: "x", ExpireTime: timestamppb.New(time.Now().Add(time.Hour))})
				return err
			}, []string{"nik"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				if status.Code(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), tc.fields) {
					t.Fatalf("%v (fields %v), want InvalidArgument naming %v", err, validate.FieldsOf(err), tc.fields)
				}
			})
		}
	})
}
