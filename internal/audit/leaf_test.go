package audit_test

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func randomRecord(r *rand.Rand) *store.AuditRecord {
	str := func() string {
		if r.IntN(3) == 0 {
			return ""
		}
		return strings.Repeat(string(rune('a'+r.IntN(26))), r.IntN(40)) + "Ñ漢"
	}
	list := func() []string {
		var l []string
		for range r.IntN(4) {
			l = append(l, str())
		}
		return l
	}
	rec := &store.AuditRecord{ID: r.Int64N(1 << 40), At: time.UnixMicro(r.Int64N(1 << 52)), RequestID: str(), CallerCode: str(),
		CertificateSerial: str(), OperatorID: str(), Method: str(), Purpose: str(), CaseReference: str(), Decision: str(),
		Reason: str(), AgreementIDs: list(), StatusCode: str(), Subjects: list(), LatencyMicros: r.Int64N(1 << 30)}
	if r.IntN(2) == 0 {
		rec.MAC = bytes.Repeat([]byte{byte(r.IntN(256))}, 32)
	}
	return rec
}

func leafMessage(r *store.AuditRecord) *sinergiv1.AuditLeaf {
	return &sinergiv1.AuditLeaf{Id: r.ID, TimeUnixMicros: r.At.UnixMicro(), RequestId: r.RequestID, CallerCode: r.CallerCode,
		CertificateSerial: r.CertificateSerial, OperatorId: r.OperatorID, Method: r.Method, Purpose: r.Purpose,
		CaseReference: r.CaseReference, Decision: r.Decision, Reason: r.Reason, AgreementIds: r.AgreementIDs,
		StatusCode: r.StatusCode, Subjects: r.Subjects, LatencyMicros: r.LatencyMicros, Mac: r.MAC}
}

// TestLeafBytesAreTheDeterministicProtobuf: the bytes a leaf commits to
// are exactly the deterministic protobuf encoding of sinergi.v1.AuditLeaf,
// so any generated client decodes a leaf and can recompute it; and the
// MAC covers the same encoding without its MAC field.
func TestLeafBytesAreTheDeterministicProtobuf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		rec := randomRecord(r)
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(leafMessage(rec))
		if err != nil {
			t.Fatal(err)
		}
		if got := audit.LeafBytes(rec, true); !bytes.Equal(got, want) {
			t.Fatalf("record %d: leaf bytes\n%x\nwant the deterministic encoding\n%x", i, got, want)
		}
		noMAC := *rec
		noMAC.MAC = nil
		want, _ = proto.MarshalOptions{Deterministic: true}.Marshal(leafMessage(&noMAC))
		if got := audit.LeafBytes(rec, false); !bytes.Equal(got, want) {
			t.Fatalf("record %d: MAC'd bytes are not the encoding without the MAC", i)
		}
		var back sinergiv1.AuditLeaf
		if err := proto.Unmarshal(audit.LeafBytes(rec, true), &back); err != nil || !proto.Equal(&back, leafMessage(rec)) {
			t.Fatalf("record %d does not decode back: %v", i, err)
		}
	}
}

// TestRecordMACCoversEveryField: changing any field, or moving a byte
// from one field to its neighbour, changes the leaf and breaks the MAC.
func TestRecordMACCoversEveryField(t *testing.T) {
	keys := testKeys(t)
	base := func() *store.AuditRecord {
		rec := &store.AuditRecord{ID: 42, At: time.Date(2026, 8, 17, 9, 30, 0, 123456000, time.UTC), RequestID: "req-1",
			CallerCode: "polres-metro", CertificateSerial: "0a1b", OperatorID: "85051234", Method: "/sinergi.v1.CustodyService/GetCustodyRecord",
			Purpose: "CRIMINAL_INVESTIGATION", CaseReference: "LP/B/1/VIII/2026", Decision: "ALLOWED", Reason: "agreement pks-1",
			AgreementIDs: []string{"pks-1", "mou-2025"}, StatusCode: "OK", Subjects: []string{"custody/5f0c", "custody/3171"}, LatencyMicros: 1234}
		rec.MAC = keys.RecordMAC(audit.LeafBytes(rec, false))
		return rec
	}
	if !keys.Authentic(base()) {
		t.Fatal("a sealed record is not authentic")
	}
	for name, change := range map[string]func(*store.AuditRecord){
		"id": func(r *store.AuditRecord) { r.ID++ }, "at": func(r *store.AuditRecord) { r.At = r.At.Add(time.Microsecond) },
		"purpose": func(r *store.AuditRecord) { r.Purpose += "x" }, "reason": func(r *store.AuditRecord) { r.Reason = "" },
		"subjects":   func(r *store.AuditRecord) { r.Subjects = r.Subjects[:1] },
		"order":      func(r *store.AuditRecord) { r.Subjects[0], r.Subjects[1] = r.Subjects[1], r.Subjects[0] },
		"agreements": func(r *store.AuditRecord) { r.AgreementIDs = append(r.AgreementIDs, "x") },
		"latency":    func(r *store.AuditRecord) { r.LatencyMicros++ }, "status": func(r *store.AuditRecord) { r.StatusCode = "NOT_FOUND" },
		"boundary": func(r *store.AuditRecord) { r.RequestID, r.CallerCode = r.RequestID+"p", "olres-metro" },
		"mac":      func(r *store.AuditRecord) { r.MAC[0] ^= 1 },
	} {
		rec := base()
		before := audit.LeafHash(audit.LeafBytes(rec, true))
		change(rec)
		if keys.Authentic(rec) {
			t.Errorf("changing %s left the MAC valid", name)
		}
		if bytes.Equal(before, audit.LeafHash(audit.LeafBytes(rec, true))) {
			t.Errorf("changing %s left the leaf hash unchanged", name)
		}
	}
	if testKeys(t).Authentic(base()) {
		t.Error("another key's holder can make an authentic record")
	}
}

// TestBoundKeepsRecordsSmallAndValid: whatever a caller sends, each field
// of the record is valid UTF-8 without control characters, within its
// bound, and still names what was sent (its SHA-256).
func TestBoundKeepsRecordsSmallAndValid(t *testing.T) {
	for _, in := range []string{"\x00", "a\x00b", "\xff\xfe", strings.Repeat("x", 1<<20), strings.Repeat("\x00\xff", 100000),
		"line\nbreak", "tab\t", "\u0085", "ok", "Joesoef bin Ñandú 漢字", strings.Repeat("漢", 1000)} {
		rec := &store.AuditRecord{CaseReference: in, OperatorID: in, Reason: in, Method: in, Subjects: []string{in}}
		audit.Bound(rec)
		for field, v := range map[string]string{"case_reference": rec.CaseReference, "operator_id": rec.OperatorID,
			"reason": rec.Reason, "method": rec.Method, "subject": rec.Subjects[0]} {
			if !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\n\t\u0085") || len(v) > 2048 {
				t.Errorf("%s of %q... kept as %q", field, in[:min(len(in), 20)], v)
			}
		}
		if in == "ok" && rec.CaseReference != "ok" {
			t.Errorf("a plain value was changed to %q", rec.CaseReference)
		}
	}
}
