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
			name: "list of institutions",
			msg:  twoInstitutions(),
			want: "" +
				"CODE                        NAME                        KIND    REGION_CODE  PARENT_CODE       STATUS     CREATE_TIME                UPDATE_TIME\n" +
				"lapas-cipinang              Lapas Kelas I Cipinang      LAPAS   31.75        -                 ACTIVE     2025-08-04T09:00:00+07:00  2025-08-05T10:30:15.25+07:00\n" +
				"polres-metro-jakarta-timur  Polres Metro Jakarta Timur  POLRES  31.75        polda-metro-jaya  SUSPENDED  2025-08-04T09:00:00+07:00  -\n" +
				"\n" +
				"next_page_token: eyJjIjoicG9scmVzIn0\n",
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
			name: "nested messages and lists in cells",
			msg: &sinergiv1.ListAgreementsResponse{Agreements: []*sinergiv1.Agreement{{
				Id:      "pks-1",
				Kind:    sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
				Title:   "Data\ttahanan\nbaris dua",
				Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_Side{Side: sinergiv1.Side_SIDE_CORRECTIONS}}, {Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "polda-lampung"}}},
				Scopes:  []sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA, sinergiv1.Scope_SCOPE_TRAINING},
				Status:  sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE,
			}}},
			want: "" +
				"ID     NUMBER  KIND  TITLE                     PARTIES                                                             SCOPES                  EFFECTIVE_TIME  EXPIRE_TIME  SIGN_TIME  SIGNATORIES  PARENT_ID  STATUS  REVOKE_TIME  PROPOSED_BY  CONFIRM_TIME\n" +
				`pks-1  -       PKS   Data\ttahanan\nbaris dua  [{"side":"SIDE_CORRECTIONS"},{"institution_code":"polda-lampung"}]  DETAINEE_DATA,TRAINING  -               -            -          -            -          ACTIVE  -            -            -` + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeTable(&b, tc.msg.ProtoReflect()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("table (-want +got):\n%s\ngot:\n%s", diff, b.String())
			}
		})
	}
}

// JSON output is protojson with proto names, and reads back to the message.
func TestWriteJSON(t *testing.T) {
	want := twoInstitutions()
	var b strings.Builder
	if err := writeJSON(&b, want); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"next_page_token"`, `"region_code"`, `"INSTITUTION_KIND_LAPAS"`, "\n  \"institutions\""} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("JSON lacks %s:\n%s", s, b.String())
		}
	}
	if strings.Contains(b.String(), `"parent_code": ""`) {
		t.Errorf("JSON carries unpopulated fields:\n%s", b.String())
	}
	got := &sinergiv1.ListInstitutionsResponse{}
	if err := protojson.Unmarshal([]byte(b.String()), got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
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
			`{"code":"a","n":1,"time":"2025-08-17T00:00:00Z"}` + "\n" +
			`{"code":"a-much-longer-code","tags":["x","y"]}` + "\n"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var b strings.Builder
			p := &streamPrinter{w: &b, format: tc.format}
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
