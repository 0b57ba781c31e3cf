package audit

import (
	"encoding/base64"

	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sinergi-id/sinergi/internal/store"
)

// The field numbers of sinergi.v1.AuditLeaf.
const (
	leafID protowire.Number = iota + 1
	leafTime
	leafRequestID
	leafCallerCode
	leafCertificateSerial
	leafOperatorID
	leafMethod
	leafPurpose
	leafCaseReference
	leafDecision
	leafReason
	leafAgreementIDs
	leafStatusCode
	leafSubjects
	leafLatency
	leafMAC
)

// LeafBytes are the bytes a record's leaf commits to: the record as a
// sinergi.v1.AuditLeaf message, fields in number order and defaults left
// out, which is the deterministic protobuf encoding any generated client
// decodes. With mac false the MAC field is left out: that is what the MAC
// itself covers. The encoding is written here, not by the protobuf
// library, so that it never changes with a library version (a test holds
// it to the library's deterministic encoding).
func LeafBytes(r *store.AuditRecord, mac bool) []byte {
	b := make([]byte, 0, 256)
	b = appendInt(b, leafID, r.ID)
	b = appendInt(b, leafTime, r.At.UnixMicro())
	b = appendStr(b, leafRequestID, r.RequestID)
	b = appendStr(b, leafCallerCode, r.CallerCode)
	b = appendStr(b, leafCertificateSerial, r.CertificateSerial)
	b = appendStr(b, leafOperatorID, r.OperatorID)
	b = appendStr(b, leafMethod, r.Method)
	b = appendStr(b, leafPurpose, r.Purpose)
	b = appendStr(b, leafCaseReference, r.CaseReference)
	b = appendStr(b, leafDecision, r.Decision)
	b = appendStr(b, leafReason, r.Reason)
	for _, s := range r.AgreementIDs {
		b = protowire.AppendString(protowire.AppendTag(b, leafAgreementIDs, protowire.BytesType), s)
	}
	b = appendStr(b, leafStatusCode, r.StatusCode)
	for _, s := range r.Subjects {
		b = protowire.AppendString(protowire.AppendTag(b, leafSubjects, protowire.BytesType), s)
	}
	b = appendInt(b, leafLatency, r.LatencyMicros)
	if mac && len(r.MAC) > 0 {
		b = protowire.AppendBytes(protowire.AppendTag(b, leafMAC, protowire.BytesType), r.MAC)
	}
	return b
}

func appendInt(b []byte, n protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, n, protowire.VarintType), uint64(v))
}

func appendStr(b []byte, n protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, n, protowire.BytesType), s)
}

// LeafHash is the RFC 6962 hash of a leaf: SHA-256(0x00 || bytes).
func LeafHash(leaf []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(leaf) }

// emptyRoot is the root of the empty log.
func emptyRoot() []byte { return rfc6962.DefaultHasher.EmptyRoot() }

// nodeHash is the RFC 6962 hash of an inner node.
func nodeHash(l, r []byte) []byte { return rfc6962.DefaultHasher.HashChildren(l, r) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
