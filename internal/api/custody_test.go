package api

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestTransition walks the transition table: every event type from every
// status, allowed where the table says and refused with a reason elsewhere.
func TestTransition(t *testing.T) {
	const (
		reg = sinergiv1.CustodyStatus_CUSTODY_STATUS_REGISTERED
		hel = sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD
		out = sinergiv1.CustodyStatus_CUSTODY_STATUS_TRANSFERRED_OUT
		rel = sinergiv1.CustodyStatus_CUSTODY_STATUS_RELEASED
		esc = sinergiv1.CustodyStatus_CUSTODY_STATUS_ESCAPED
		dec = sinergiv1.CustodyStatus_CUSTODY_STATUS_DECEASED
	)
	allowed := map[sinergiv1.CustodyEventType]map[sinergiv1.CustodyStatus]sinergiv1.CustodyStatus{
		sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION:        {reg: hel, rel: hel},
		sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_OUT:     {hel: out},
		sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_IN:      {reg: hel, rel: hel, out: hel},
		sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE:          {hel: rel},
		sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ESCAPE:           {hel: esc},
		sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RECAPTURE:        {esc: hel},
		sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_DEATH:            {hel: dec, esc: dec},
		sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_COURT_APPEARANCE: {hel: hel},
		sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_HOSPITAL:         {hel: hel},
	}
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	origin := &store.TransferOrigin{RecordID: "o", Status: out, EventID: 7, Destination: "lapas-cipinang", EffectiveTime: at.Add(-time.Hour)}
	for typ, from := range allowed {
		for _, st := range []sinergiv1.CustodyStatus{reg, hel, out, rel, esc, dec} {
			ev := &sinergiv1.CustodyEvent{Type: typ, EffectiveTime: timestamppb.New(at)}
			next, reason := transition("lapas-cipinang", store.CustodyState{Status: st, Origin: origin}, ev)
			want, ok := from[st]
			switch {
			case ok && (reason != "" || next != want):
				t.Errorf("%v from %v: %v %q, want %v", typ, st, next, reason, want)
			case !ok && reason == "":
				t.Errorf("%v from %v: allowed (%v), want refused", typ, st, next)
			case !ok && st == dec && !strings.Contains(reason, "deceased"):
				t.Errorf("%v from deceased: %q", typ, reason)
			}
		}
	}
	t.Run("transfer in needs its transfer out", func(t *testing.T) {
		ev := &sinergiv1.CustodyEvent{Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_IN, EffectiveTime: timestamppb.New(at)}
		for name, o := range map[string]*store.TransferOrigin{
			"no record at the origin": nil,
			"origin still holds":      {Status: hel, EventID: 7, Destination: "lapas-cipinang"},
			"sent elsewhere":          {Status: out, EventID: 7, Destination: "lapas-permisan"},
			"already received":        {Status: out, EventID: 7, Destination: "lapas-cipinang", Received: true},
			"never transferred":       {Status: out},
		} {
			_, reason := transition("lapas-cipinang", store.CustodyState{Status: reg, Origin: o}, ev)
			// One answer for all: a transfer in cannot probe the origin's records.
			if !strings.Contains(reason, "no transfer out of that register number to this facility") {
				t.Errorf("%s: %q", name, reason)
			}
		}
		late := *origin
		late.EffectiveTime = at.Add(time.Hour)
		if _, reason := transition("lapas-cipinang", store.CustodyState{Status: reg, Origin: &late}, ev); !strings.Contains(reason, "before the transfer out") {
			t.Errorf("transfer in before its transfer out: %q", reason)
		}
	})
	t.Run("events in order", func(t *testing.T) {
		last := at.Add(time.Minute)
		ev := &sinergiv1.CustodyEvent{Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_HOSPITAL, EffectiveTime: timestamppb.New(at)}
		if _, reason := transition("x", store.CustodyState{Status: hel, LastEventTime: &last}, ev); !strings.Contains(reason, "in order") {
			t.Errorf("out of order: %q", reason)
		}
		same := at
		if _, reason := transition("x", store.CustodyState{Status: hel, LastEventTime: &same}, ev); reason != "" {
			t.Errorf("same time: %q", reason)
		}
	})
}

func TestShield(t *testing.T) {
	id := &sinergiv1.Identity{FullName: "Putra  ramadhan Siregar", Aliases: []string{"Ucok"}, Nik: "6402011503100001", BirthDate: "2010-03-15",
		BirthPlace: "Tenggarong", Sex: sinergiv1.Sex_SEX_MALE, Nationality: "IDN", PassportNumber: "A1234567", Address: "Jl. Merdeka 1",
		FatherName: "Slamet", MotherName: "Siti"}
	rec := &sinergiv1.CustodyRecord{Id: "r", Identity: id, Child: true, PhotoSha256: strings.Repeat("a", 64), RegisterNumber: "AN.1"}
	for _, tc := range []struct {
		name  string
		child bool
		grant authz.Grant
		want  *sinergiv1.CustodyRecord
	}{
		{"adult", false, authz.Grant{Classes: authz.CustodyClasses}, rec},
		{"child, grant with children's data", true, authz.Grant{Children: true, Agreements: []string{"a"}, Classes: authz.CustodyClasses}, rec},
		{"child, own facility", true, authz.Grant{Own: true, Children: true, Classes: authz.CustodyClasses}, rec},
		{"child, grant without children's data", true, authz.Grant{Agreements: []string{"a"}, Classes: authz.CustodyClasses}, &sinergiv1.CustodyRecord{Id: "r", Child: true,
			RegisterNumber: "AN.1", IdentityMasked: true, Identity: &sinergiv1.Identity{FullName: "P. R. S.", Sex: sinergiv1.Sex_SEX_MALE, Nationality: "IDN"}}},
		// Custody events alone: where and what, never who, nor the case.
		{"adult, custody events only", false, authz.Grant{Agreements: []string{"a"}, Classes: authz.Of(authz.ClassPlacement, authz.ClassEvents)},
			&sinergiv1.CustodyRecord{Id: "r", WithheldClasses: []sinergiv1.DataClass{sinergiv1.DataClass_DATA_CLASS_IDENTITY}}},
		{"no classes at all", false, authz.Grant{}, &sinergiv1.CustodyRecord{WithheldClasses: []sinergiv1.DataClass{
			sinergiv1.DataClass_DATA_CLASS_IDENTITY, sinergiv1.DataClass_DATA_CLASS_PLACEMENT}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := proto.Clone(rec).(*sinergiv1.CustodyRecord)
			in.Child = tc.child
			want := proto.Clone(tc.want).(*sinergiv1.CustodyRecord)
			want.Child = tc.child
			got := present(in, tc.grant)
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !proto.Equal(in, func() *sinergiv1.CustodyRecord {
				r := proto.Clone(rec).(*sinergiv1.CustodyRecord)
				r.Child = tc.child
				return r
			}()) {
				t.Error("present changed its input")
			}
		})
	}
	if got := initials("  budi   'Ucok'  santoso "); got != "B. S." {
		t.Errorf("initials: %q", got)
	}
}

func validRecord() *sinergiv1.CustodyRecord {
	birth := time.Date(1990, 3, 15, 0, 0, 0, 0, time.UTC)
	return &sinergiv1.CustodyRecord{
		RegisterNumber: "BI.123/2025",
		Identity: &sinergiv1.Identity{FullName: "Budi Santoso", Nik: nik.Make("187201", birth, nik.Male, 1), BirthDate: "1990-03-15",
			Sex: sinergiv1.Sex_SEX_MALE, Nationality: "IDN"},
		LegalStatus:     &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED, SentenceMonths: 60, ExpectedReleaseDate: "2029-01-01"},
		OffenceArticles: []string{"UU 35/2009 Pasal 114"},
	}
}

func TestRecordValidator(t *testing.T) {
	if err := validate.Request(&sinergiv1.UpsertCustodyRecordRequest{Record: validRecord()}); err != nil {
		t.Fatalf("valid record refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*sinergiv1.CustodyRecord)
		fields []string
	}{
		{"woman's NIK for a man", func(r *sinergiv1.CustodyRecord) {
			r.Identity.Nik = nik.Make("187201", time.Date(1990, 3, 15, 0, 0, 0, 0, time.UTC), nik.Female, 1)
		}, []string{"record.identity.nik"}},
		{"life sentence with months", func(r *sinergiv1.CustodyRecord) { r.LegalStatus.LifeSentence = true }, []string{"record.legal_status.sentence_months"}},
		{"register number with a newline", func(r *sinergiv1.CustodyRecord) { r.RegisterNumber = "BI\n1" }, []string{"record.register_number"}},
		{"too many aliases", func(r *sinergiv1.CustodyRecord) { r.Identity.Aliases = make([]string, 21) }, nil},
		{"repeated risk flag", func(r *sinergiv1.CustodyRecord) {
			r.RiskFlags = []sinergiv1.RiskFlag{sinergiv1.RiskFlag_RISK_FLAG_TERRORISM, sinergiv1.RiskFlag_RISK_FLAG_TERRORISM}
		}, []string{"record.risk_flags[1]"}},
		{"name not UTF-8", func(r *sinergiv1.CustodyRecord) { r.Identity.FullName = "Bud\xffi" }, []string{"record.identity.full_name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validRecord()
			tc.mutate(r)
			err := validate.Request(&sinergiv1.UpsertCustodyRecordRequest{Record: r})
			fields := validate.FieldsOf(err)
			if err == nil || (tc.fields != nil && !cmp.Equal(fields, tc.fields)) {
				t.Fatalf("%v (fields %v), want %v", err, fields, tc.fields)
			}
			for _, f := range fields {
				if !strings.HasPrefix(f, "record.") {
					t.Errorf("field %q not named within the request", f)
				}
			}
			if r.GetIdentity().GetNik() != "" && strings.Contains(err.Error(), r.GetIdentity().GetNik()) {
				t.Errorf("the error repeats the NIK: %v", err)
			}
		})
	}
}

// FuzzSyncRosterRequest feeds arbitrary bytes to the roster validator, the
// one untrusted input that arrives in bulk: it must never panic, every
// violation names a field of the record, and a record it accepts has a
// plausible NIK consistent with its birth date and sex.
func FuzzSyncRosterRequest(f *testing.F) {
	seed, _ := proto.Marshal(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Record{Record: validRecord()}})
	f.Add(seed)
	header, _ := proto.Marshal(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Header{Header: &sinergiv1.RosterHeader{Full: true}}})
	f.Add(header)
	f.Add([]byte{})
	bad := validRecord()
	bad.Identity.Nik = "1872015503900000"
	b, _ := proto.Marshal(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Record{Record: bad}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req sinergiv1.SyncRosterRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		err := validate.Request(&req)
		for _, field := range validate.FieldsOf(err) {
			if field != "item" && !strings.HasPrefix(field, "record") && !strings.HasPrefix(field, "header") {
				t.Fatalf("violation names %q", field)
			}
		}
		if err != nil {
			return
		}
		if rec := req.GetRecord(); rec != nil && rec.GetIdentity().GetNik() != "" {
			birth, _ := time.Parse("2006-01-02", rec.GetIdentity().GetBirthDate())
			if nik.Check(rec.GetIdentity().GetNik(), birth, nik.SexUnknown) != nil {
				t.Fatalf("accepted an implausible NIK")
			}
		}
	})
}
