package authz

import (
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func TestAttributeWalksOnlyWhereSubjectsCanBe(t *testing.T) {
	record := (&sinergiv1.CustodyRecord{}).ProtoReflect().Descriptor()
	RegisterSubject(record.FullName(), "custody", "id", "facility_code")

	t.Run("records in a list are each a subject", func(t *testing.T) {
		now := timestamppb.New(time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC))
		resp := &sinergiv1.SearchCustodyRecordsResponse{Records: []*sinergiv1.CustodyRecord{
			{Id: "a", FacilityCode: "lapas-metro", HeldSince: now, CreateTime: now},
			{Id: "b", FacilityCode: "lapas-metro", Identity: &sinergiv1.Identity{}},
			{FacilityCode: "lapas-metro"}, // no id: nothing to name
		}}
		e := audit.NewEntry("/test", "r", time.Now())
		attribute(e, Reaches{}, resp)
		if got, want := e.Subjects(), []string{"custody/a", "custody/b"}; !slices.Equal(got, want) {
			t.Fatalf("subjects %v, want %v", got, want)
		}
	})

	t.Run("a record's timestamps and identity are not visited", func(t *testing.T) {
		subjectMu.RLock()
		p := planFor(record)
		subjectMu.RUnlock()
		if p.subject == nil || p.id == nil || p.owner == nil {
			t.Fatalf("custody record plan %+v: not a subject type", p)
		}
		if len(p.fields) != 0 {
			t.Fatalf("custody record plan walks %d fields, want none", len(p.fields))
		}
	})

	t.Run("a recursive type is planned and walked", func(t *testing.T) {
		v, err := structpb.NewValue(map[string]any{"a": []any{map[string]any{"b": 1.0}}})
		if err != nil {
			t.Fatal(err)
		}
		e := audit.NewEntry("/test", "r", time.Now())
		attribute(e, Reaches{}, v)
		if got := e.Subjects(); len(got) != 0 {
			t.Fatalf("subjects %v in a struct", got)
		}
		subjectMu.RLock()
		p := planFor(v.ProtoReflect().Descriptor())
		subjectMu.RUnlock()
		if !p.mayHoldSubject() {
			t.Fatal("a recursive type must be taken to hold subjects")
		}
	})

	t.Run("registering a type drops the plans made without it", func(t *testing.T) {
		resp := &sinergiv1.GetInstitutionRequest{Code: "x"}
		e := audit.NewEntry("/test", "r", time.Now())
		attribute(e, Reaches{}, resp)
		if got := e.Subjects(); len(got) != 0 {
			t.Fatalf("subjects %v before registering", got)
		}
		name := resp.ProtoReflect().Descriptor().FullName()
		RegisterSubject(name, "test", "code", "")
		t.Cleanup(func() {
			subjectMu.Lock()
			delete(subjectTypes, name)
			plans = new(sync.Map)
			subjectMu.Unlock()
		})
		e = audit.NewEntry("/test", "r", time.Now())
		attribute(e, Reaches{}, resp)
		if got, want := e.Subjects(), []string{"test/x"}; !slices.Equal(got, want) {
			t.Fatalf("subjects %v after registering, want %v", got, want)
		}
	})
}
