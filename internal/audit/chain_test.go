package audit

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/store"
)

func goldenRecord() *store.AuditRecord {
	return &store.AuditRecord{ID: 42, TxID: 777, At: time.Date(2026, 8, 17, 9, 30, 0, 123456000, time.UTC), RequestID: "req-1",
		CallerCode: "polres-metro", CertificateSerial: "0a1b", OperatorID: "NRP 12345678", Method: "/sinergi.v1.CustodyService/GetCustodyRecord",
		Purpose: "investigation", CaseReference: "LP/B/1/VIII/2026", Decision: "allowed", Reason: "agreement pks-1",
		AgreementIDs: []string{"pks-1", "mou-2025"}, StatusCode: "OK", Subjects: []string{"custody:5f0c", "nik:3171"}, LatencyMicros: 1234}
}

// TestLinkKnownAnswers pins the chain hash: chains written by earlier
// versions must keep verifying, so any change to what a link covers or how
// it is encoded fails here. The answers were computed by the code that
// wrote the first chains (a Canonical function and a sha256 digest).
func TestLinkKnownAnswers(t *testing.T) {
	r := goldenRecord()
	for _, tc := range []struct {
		prev []byte
		want string
	}{
		{Genesis, "39229c01c13d90a41d3fb107dc355cca6d99b63013021ddc92f6555a29c69e8e"},
		{[]byte("prev-hash-bytes-0123456789abcdef"), "4d9e1a60ce8f10d4392261433b7ed1e540d01632dadb9663e6a6d66480efe525"},
	} {
		if got := hex.EncodeToString(Link(tc.prev, r)); got != tc.want {
			t.Errorf("Link(%x) = %s, want %s", tc.prev, got, tc.want)
		}
	}
	// Every field counts.
	base := hex.EncodeToString(Link(Genesis, r))
	for name, change := range map[string]func(*store.AuditRecord){
		"id": func(r *store.AuditRecord) { r.ID++ }, "txid": func(r *store.AuditRecord) { r.TxID++ },
		"at":      func(r *store.AuditRecord) { r.At = r.At.Add(time.Microsecond) },
		"purpose": func(r *store.AuditRecord) { r.Purpose += "x" }, "reason": func(r *store.AuditRecord) { r.Reason = "" },
		"subjects":   func(r *store.AuditRecord) { r.Subjects = r.Subjects[:1] },
		"agreements": func(r *store.AuditRecord) { r.AgreementIDs = append(r.AgreementIDs, "x") },
		"latency":    func(r *store.AuditRecord) { r.LatencyMicros++ }, "status": func(r *store.AuditRecord) { r.StatusCode = "NOT_FOUND" },
		// Moving a byte between two neighbouring fields is a change too.
		"boundary": func(r *store.AuditRecord) { r.RequestID, r.CallerCode = r.RequestID+"p", "olres-metro" },
	} {
		c := goldenRecord()
		change(c)
		if hex.EncodeToString(Link(Genesis, c)) == base {
			t.Errorf("changing %s left the link unchanged", name)
		}
	}
}

// BenchmarkLink: the sequencer links every audit record.
func BenchmarkLink(b *testing.B) {
	r := goldenRecord()
	prev := Genesis
	b.ReportAllocs()
	for b.Loop() {
		prev = Link(prev, r)
	}
}
