package presence

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/pagetoken"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func TestHitReference(t *testing.T) {
	s := pagetoken.New([]byte("a key of thirty-two bytes, enough"))
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	ref, err := SealReference(s, "polres-metro", "01a2-hit", now.Add(HitLifetime))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ref, "lapas") {
		t.Fatalf("a reference names a facility: %s", ref)
	}
	if r, err := OpenReference(s, "polres-metro", ref, now); err != nil || r.ID != "01a2-hit" {
		t.Fatalf("open: %v, %v", r, err)
	}
	if _, err := OpenReference(s, "polres-cilacap", ref, now); !errors.Is(err, ErrForeignReference) {
		t.Fatalf("another unit's: %v", err)
	}
	if _, err := OpenReference(s, "polres-metro", ref, now.Add(HitLifetime)); !errors.Is(err, ErrExpiredReference) {
		t.Fatalf("at expiry: %v", err)
	}
	if _, err := OpenReference(s, "polres-metro", ref[:len(ref)-2]+"AA", now); !errors.Is(err, ErrForeignReference) {
		t.Fatalf("altered: %v", err)
	}
}

func TestRulesOfConfirmation(t *testing.T) {
	if Deadline(sinergiv1.HitUrgency_HIT_URGENCY_URGENT) != 10*time.Minute || Deadline(sinergiv1.HitUrgency_HIT_URGENCY_ROUTINE) != time.Hour {
		t.Fatal("deadlines are NCIC's: 10 minutes urgent, an hour routine")
	}
	if Province("64.02") != "64" || ProvinceName("64") != "Kalimantan Timur" || Province("") != "" {
		t.Fatal("provinces")
	}
	if !National(sinergiv1.InstitutionKind_INSTITUTION_KIND_POLSEK) || National(sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS) ||
		National(sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL) {
		t.Fatal("only police units ask nationally")
	}
	r := &sinergiv1.HitRequest{Id: "x", FacilityCode: "lapas-tenggarong", RecordId: "rec", RequesterCode: "polres-metro",
		State: sinergiv1.HitRequestState_HIT_REQUEST_STATE_PENDING, EscalatedToCode: "kanwil-kaltim"}
	if RoleOf(r, "kanwil-kaltim") != Stranger {
		t.Fatal("an office is a party only once escalated")
	}
	r.EscalateTime = timestamppb.Now()
	for code, want := range map[string]Role{"lapas-tenggarong": Holder, "polres-metro": Requester, "kanwil-kaltim": Escalated, "lapas-metro": Stranger} {
		if got := RoleOf(r, code); got != want {
			t.Errorf("%s: role %v, want %v", code, got, want)
		}
	}
	if MayAnswer(Requester) || !MayAnswer(Holder) || !MayAnswer(Escalated) {
		t.Fatal("who answers")
	}
	if v := ForRequester(r); v.GetFacilityCode() != "" || v.GetRecordId() != "" {
		t.Fatalf("pending, the requester sees %v", v)
	}
	r.State = sinergiv1.HitRequestState_HIT_REQUEST_STATE_DENIED
	r.DenyReason = "salah orang"
	notices := AnswerNotices(r, Holder, time.Now())
	if len(notices) != 2 || notices[0].Audience != "polres-metro" || notices[0].Notice.GetRecordId() != "" || notices[1].Audience != "kanwil-kaltim" {
		t.Fatalf("a denial's notices: %v", notices)
	}
	r.State = sinergiv1.HitRequestState_HIT_REQUEST_STATE_CONFIRMED
	if v := ForRequester(r); v.GetFacilityCode() != "lapas-tenggarong" || v.GetRecordId() != "rec" {
		t.Fatalf("confirmed, the requester sees %v", v)
	}
}
