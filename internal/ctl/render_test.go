package ctl

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func twoInstitutions() *sinergiv1.ListInstitutionsResponse {
	return &sinergiv1.ListInstitutionsResponse{
		Institutions: []*sinergiv1.Institution{
			{
				Code:       "lapas-cipinang",
				Name:       "Lapas Kelas I Cipinang",
				Kind:       sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS,
				RegionCode: "31.75",
				Status:     sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE,
				CreateTime: timestamppb.New(time.Date(2025, 8, 4, 2, 0, 0, 0, time.UTC)),
				UpdateTime: timestamppb.New(time.Date(2025, 8, 5, 3, 30, 15, 250000000, time.UTC)),
			},
			{
				Code:       "polres-metro-jakarta-timur",
				Name:       "Polres Metro Jakarta Timur",
				Kind:       sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES,
				RegionCode: "31.75",
				ParentCode: "polda-metro-jaya",
				Status:     sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED,
				CreateTime: timestamppb.New(time.Date(2025, 8, 4, 2, 0, 0, 0, time.UTC)),
			},
		},
		NextPageToken: "eyJjIjoicG9scmVzIn0",
	}
}

func TestWriteTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  proto.Message
		want string
	}{
		{
			name: "list of institutions: what does not fit in 120 characters named below",
			msg:  twoInstitutions(),
			want: "" +
				"CODE                        NAME                        KIND    REGION_CODE  PARENT_CODE       STATUS\n" +
				"lapas-cipinang              Lapas Kelas I Cipinang      LAPAS   31.75        -                 ACTIVE\n" +
				"polres-metro-jakarta-timur  Polres Metro Jakarta Timur  POLRES  31.75        polda-metro-jaya  SUSPENDED\n" +
				"(not shown: create_time, update_time (-o json has every field))\n" +
				"\n" +
				"next_page_token: eyJjIjoicG9scmVzIn0\n",
		},
		{
			name: "times to the minute in the view's zone, the zone named below",
			msg: &sinergiv1.ListWatchesResponse{Watches: []*sinergiv1.Watch{{Id: "w1", Nik: "1872011504850001",
				ExpireTime: timestamppb.New(time.Date(2027, 3, 1, 17, 0, 0, 0, time.UTC))}}},
			want: "" +
				"ID  NIK               EXPIRE_TIME\n" +
				"w1  1872011504850001  2027-03-02 00:00\n" +
				"(times +07:00 WIB)\n",
		},
		{
			name: "empty list",
			msg:  &sinergiv1.ListInstitutionsResponse{},
			want: "(no institutions)\n",
		},
		{
			name: "one message",
			msg:  &sinergiv1.GetInstitutionResponse{Institution: twoInstitutions().Institutions[1]},
			want: "" +
				"institution:\n" +
				"  code:        polres-metro-jakarta-timur\n" +
				"  name:        Polres Metro Jakarta Timur\n" +
				"  kind:        POLRES\n" +
				"  region_code: 31.75\n" +
				"  parent_code: polda-metro-jaya\n" +
				"  status:      SUSPENDED\n" +
				"  create_time: 2025-08-04T09:00:00+07:00\n",
		},
		{
			name: "two lists: key: value, a false bool shown, list items under dashes",
			msg: &sinergiv1.CheckCoverageResponse{
				Covered: false,
				Gap:     sinergiv1.CoverageGap_COVERAGE_GAP_EXPIRED,
				NearMisses: []*sinergiv1.NearMiss{
					{AgreementId: "pks-2024-keamanan", Gap: sinergiv1.CoverageGap_COVERAGE_GAP_EXPIRED, GapTime: timestamppb.New(time.Date(2025, 1, 24, 17, 0, 0, 0, time.UTC))},
					{AgreementId: "mou-2025", Gap: sinergiv1.CoverageGap_COVERAGE_GAP_SCOPE_NOT_COVERED},
				},
			},
			want: "" +
				"covered: false\n" +
				"gap:     EXPIRED\n" +
				"near_misses:\n" +
				"  - agreement_id: pks-2024-keamanan\n" +
				"    gap:          EXPIRED\n" +
				"    gap_time:     2025-01-25T00:00:00+07:00\n" +
				"  - agreement_id: mou-2025\n" +
				"    gap:          SCOPE_NOT_COVERED\n",
		},
		{
			name: "nested messages and lists in cells; columns empty, 0 or false in every row left out",
			msg: &sinergiv1.ListAgreementsResponse{Agreements: []*sinergiv1.Agreement{{
				Id:      "pks-1",
				Kind:    sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
				Title:   "Data\ttahanan\nbaris dua",
				Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_CORRECTIONS}}, {Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "polda-lampung"}}},
				Scopes:  []sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA, sinergiv1.Scope_SCOPE_TRAINING},
				Status:  sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE,
			}}},
			want: "" +
				"ID     KIND  TITLE                     PARTIES                                   SCOPES                  STATUS\n" +
				`pks-1  PKS   Data\ttahanan\nbaris dua  [{"side":"SIDE_CORRECTIONS"},{"institut…  DETAINEE_DATA,TRAINING  ACTIVE` + "\n",
		},
		{
			name: "nested messages flattened into named columns",
			msg: &sinergiv1.SearchCustodyRecordsResponse{Records: []*sinergiv1.CustodyRecord{{
				Id: "r1", FacilityCode: "lapas-metro", RegisterNumber: "BI.1",
				Identity: &sinergiv1.Identity{FullName: "Budi", Nik: "1872011504850001"},
				Status:   sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD,
			}}},
			want: "" +
				"ID  FACILITY_CODE  REGISTER_NUMBER  IDENTITY.FULL_NAME  IDENTITY.NIK      STATUS\n" +
				"r1  lapas-metro    BI.1             Budi                1872011504850001  HELD\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := (&view{zone: wib}).writeTable(&b, tc.msg.ProtoReflect()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("table (-want +got):\n%s\ngot:\n%s", diff, b.String())
			}
		})
	}
}

// JSON output has every field under its proto name, times in the view's
// zone, 64-bit integers as numbers where a double holds them, and reads
// back to the message with protojson.
func TestWriteJSON(t *testing.T) {
	want := twoInstitutions()
	var b strings.Builder
	if err := (&view{zone: wib}).writeJSON(&b, want); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"next_page_token"`, `"region_code"`, `"INSTITUTION_KIND_LAPAS"`, "\n  \"institutions\"",
		`"parent_code": ""`, `"create_time": "2025-08-04T09:00:00+07:00"`, `"update_time": null`} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("JSON lacks %s:\n%s", s, b.String())
		}
	}
	got := &sinergiv1.ListInstitutionsResponse{}
	if err := protojson.Unmarshal([]byte(b.String()), got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

func TestJSONValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  proto.Message
		utc  bool
		want string
	}{
		{
			name: "false, zero and empty are there",
			msg:  &sinergiv1.CheckCoverageResponse{},
			want: `{"covered":false,"agreements":[],"gap":"COVERAGE_GAP_UNSPECIFIED","near_misses":[]}`,
		},
		{
			name: "int64 as a number while a double holds it, else a string",
			msg:  &sinergiv1.SyncRosterResponse{Received: 1 << 53, Inserted: 1<<53 - 1, Updated: -(1<<53 - 1), Unchanged: -(1 << 53)},
			want: `{"received":"9007199254740992","inserted":9007199254740991,"updated":-9007199254740991,"unchanged":"-9007199254740992",` +
				`"rejected":0,"rejections":[],"missing":[],"missing_count":0,"not_held":[],"not_held_count":0,"reconciliation_items_opened":0}`,
		},
		{
			name: "times in UTC with --utc; an unset message is null; a oneof shows its member",
			msg: &sinergiv1.ListAgreementsResponse{Agreements: []*sinergiv1.Agreement{{
				Id: "a", EffectiveTime: timestamppb.New(time.Date(2025, 1, 24, 17, 0, 0, 0, time.UTC)),
				Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "polda-lampung"}}},
			}}},
			utc:  true,
			want: `"effective_time":"2025-01-24T17:00:00Z","expire_time":null`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &view{zone: wib}
			if tc.utc {
				v.zone = time.UTC
			}
			got := string(marshalJSON(tc.msg.ProtoReflect(), v.zone))
			if !strings.Contains(got, tc.want) {
				t.Errorf("JSON\n%s\nlacks\n%s", got, tc.want)
			}
			back := tc.msg.ProtoReflect().New().Interface()
			if err := protojson.Unmarshal([]byte(got), back); err != nil {
				t.Fatalf("protojson does not read it back: %v", err)
			}
			if diff := cmp.Diff(tc.msg, back, protocmp.Transform()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRelativeTimes(t *testing.T) {
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now": now, "+90d": now.AddDate(0, 0, 90), "-2h": now.Add(-2 * time.Hour), "now+1w": now.AddDate(0, 0, 7),
		"+1d12h": now.Add(36 * time.Hour), "NOW-30m": now.Add(-30 * time.Minute),
	} {
		got, ok, err := parseRelative(in, now)
		if !ok || err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v %v, want %v", in, got, ok, err, want)
		}
	}
	for _, in := range []string{"+", "+d", "+90", "+90y", "now+", "now 1d", "-1d-", "+1234567d"} {
		if _, ok, err := parseRelative(in, now); !ok || err == nil {
			t.Errorf("%q: ok %v err %v, want an error", in, ok, err)
		}
	}
	for _, in := range []string{"2026-12-02", "2026-12-02T09:00:00+07:00"} {
		if _, ok, _ := parseRelative(in, now); ok {
			t.Errorf("%q taken as relative", in)
		}
	}
}

func TestStreamPrinter(t *testing.T) {
	cat := testCatalog(t)
	items := []proto.Message{
		testMessage(t, cat, "Item", `{"code": "a", "n": 1, "time": "2025-08-17T00:00:00Z"}`),
		testMessage(t, cat, "Item", `{"code": "a-much-longer-code", "tags": ["x", "y"]}`),
	}
	for _, tc := range []struct {
		format string
		want   string
	}{
		{outputTable, "" +
			"CODE  N  TIME                       TAGS\n" +
			"a     1  2025-08-17T07:00:00+07:00  -\n" +
			"a-much-longer-code  0  -                          x,y\n"},
		{outputJSON, "" +
			`{"code":"a","n":1,"time":"2025-08-17T07:00:00+07:00","tags":[]}` + "\n" +
			`{"code":"a-much-longer-code","n":0,"time":null,"tags":["x","y"]}` + "\n"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var b strings.Builder
			p := &streamPrinter{view: &view{zone: wib}, w: &b, format: tc.format}
			for _, m := range items {
				if err := p.write(m.ProtoReflect()); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("stream output (-want +got):\n%s", diff)
			}
		})
	}
}
