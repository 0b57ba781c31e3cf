package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// auditorCheckpoint is what an auditor makes of a checkpoint with only
// the log's verifier key and the note library: its size and root.
func auditorCheckpoint(t *testing.T, vkey string, c *sinergiv1.Checkpoint) (uint64, []byte) {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(c.GetNote()), note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint does not verify with the log's key: %v\n%s", err, c.GetNote())
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		t.Fatalf("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	return size, root
}

func leafHash(leaf []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, leaf...))
	return h[:]
}

// TestAuditorChecksDisclosuresWithTheAPIAlone: a data subject's
// disclosures, as ListSubjectAccess returns them, each check against a
// signed checkpoint with nothing but the generated client, the log's
// verifier key, sumdb/note and the RFC 6962 algorithms; so does the log's
// growth between two checkpoints. A proof that is wrong does not check.
func TestAuditorChecksDisclosuresWithTheAPIAlone(t *testing.T) {
	d := freshDB(t)
	env := servertest.Start(t, d, servertest.Options{})
	ctx := context.Background()
	vkey := env.Keys(t).VerifierKey() // what the operator publishes, pinned by the auditor
	ministry := env.As(t, "kemenimipas")
	polres := env.As(t, "polres-metro")
	// A person held at Lapas Metro, read three times by Polres Metro.
	birth := time.Date(1990, 4, 12, 0, 0, 0, 0, time.UTC)
	up, err := sinergiv1.NewCustodyServiceClient(env.ConnAs(t, "lapas-metro")).UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{
		Record: &sinergiv1.CustodyRecord{RegisterNumber: "BI.N-2026-0001",
			Identity: &sinergiv1.Identity{FullName: "Budi Santoso", Nik: nik.Make("187201", birth, nik.Male, 17), BirthDate: "1990-04-12",
				Sex: sinergiv1.Sex_SEX_MALE, Nationality: "IDN"},
			LegalStatus: &sinergiv1.LegalStatus{Kind: sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED, SentenceMonths: 72, ExpectedReleaseDate: "2030-01-15"}}})
	if err != nil {
		t.Fatal(err)
	}
	subject := "custody/" + up.GetRecord().GetId()
	investigator := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: "LP/B/123/VIII/2026"}
	custody := sinergiv1.NewCustodyServiceClient(polres.Conn)
	for range 3 {
		if _, err := custody.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: investigator, Id: up.GetRecord().GetId()}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitIntegrated(t)
	cp, err := ministry.Audit.GetCheckpoint(ctx, &sinergiv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	size, root := auditorCheckpoint(t, vkey, cp.GetCheckpoint())
	acc, err := env.As(t, "mabes-polri").Audit.ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: access, Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	if len(acc.GetAccesses()) != 4 { // the upsert and three reads
		t.Fatalf("%d disclosures of %s listed, want 4", len(acc.GetAccesses()), subject)
	}
	for _, a := range acc.GetAccesses() {
		var leaf sinergiv1.AuditLeaf
		if err := proto.Unmarshal(a.GetLeaf(), &leaf); err != nil {
			t.Fatal(err)
		}
		if leaf.GetCallerCode() != a.GetCallerCode() || leaf.GetMethod() != a.GetMethod() || leaf.GetId() != a.GetRecordId() ||
			!containsString(leaf.GetSubjects(), subject) {
			t.Fatalf("the leaf %v does not say what the disclosure %v says", &leaf, a)
		}
		p, err := ministry.Audit.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: access, RecordId: a.GetRecordId(), TreeSize: int64(size)})
		if err != nil {
			t.Fatal(err)
		}
		if (p.GetLeaf() != nil && !bytes.Equal(p.GetLeaf(), a.GetLeaf())) || p.GetLeafIndex() != a.GetLeafIndex() {
			t.Fatalf("the proof's leaf is not the disclosure's")
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.GetLeafIndex()), size, leafHash(a.GetLeaf()), p.GetHashes(), root); err != nil {
			t.Fatalf("record %d: inclusion proof does not verify: %v", a.GetRecordId(), err)
		}
		// A proof with one hash changed, or of another leaf, does not.
		if len(p.GetHashes()) > 0 {
			bad := append([][]byte(nil), p.GetHashes()...)
			bad[0] = append([]byte{bad[0][0] ^ 1}, bad[0][1:]...)
			if proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.GetLeafIndex()), size, leafHash(a.GetLeaf()), bad, root) == nil {
				t.Fatal("an altered proof verified")
			}
		}
		altered := append([]byte(nil), a.GetLeaf()...)
		altered[len(altered)-1] ^= 1
		if proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.GetLeafIndex()), size, leafHash(altered), p.GetHashes(), root) == nil {
			t.Fatal("an altered leaf verified")
		}
	}
	// The log grows; the new checkpoint extends the old one, provably.
	for range 300 {
		if _, err := polres.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "polres-metro"}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitIntegrated(t)
	cp2, err := polres.Audit.GetCheckpoint(ctx, &sinergiv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	size2, root2 := auditorCheckpoint(t, vkey, cp2.GetCheckpoint())
	if size2 < size+300 {
		t.Fatalf("the log grew from %d to %d leaves after 300 calls", size, size2)
	}
	cons, err := polres.Audit.GetConsistencyProof(ctx, &sinergiv1.GetConsistencyProofRequest{FirstTreeSize: int64(size), SecondTreeSize: int64(size2)})
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size, size2, cons.GetHashes(), root, root2); err != nil {
		t.Fatalf("consistency %d..%d does not verify: %v", size, size2, err)
	}
	if proof.VerifyConsistency(rfc6962.DefaultHasher, size, size2, cons.GetHashes(), root2, root2) == nil {
		t.Fatal("a consistency proof verified against the wrong old root")
	}
	// Every leaf of the grown log, at a size spanning a stored tree level
	// (256 leaves), proves against the newest checkpoint.
	for _, id := range []int64{a0(acc), lastRecord(t, env)} {
		p, err := ministry.Audit.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: access, RecordId: id})
		if err != nil {
			t.Fatal(err)
		}
		s, r := auditorCheckpoint(t, vkey, p.GetCheckpoint())
		rec, err := env.Owner.AuditLeafOf(ctx, id) // the leaf, as a listing would have shown it
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.GetLeafIndex()), s, leafHash(audit.LeafBytes(rec, true)), p.GetHashes(), r); err != nil {
			t.Fatalf("record %d against the newest checkpoint: %v", id, err)
		}
	}
	// Beyond the log; a missing record.
	_, err = ministry.Audit.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: access, RecordId: a0(acc), TreeSize: int64(size2) + 1000})
	if f := validate.FieldsOf(err); len(f) != 1 || f[0] != "tree_size" {
		t.Errorf("proof beyond the log: %v", err)
	}
	// Sizes at the ends of int64: refused as beyond the log or negative,
	// never a failed read.
	for _, size := range []int64{math.MaxInt64, math.MaxInt64 - 1, math.MinInt64} {
		_, err := ministry.Audit.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: access, RecordId: a0(acc), TreeSize: size})
		if f := validate.FieldsOf(err); len(f) != 1 || f[0] != "tree_size" {
			t.Errorf("inclusion proof at size %d: %v, want INVALID_ARGUMENT on tree_size", size, err)
		}
		_, err = polres.Audit.GetConsistencyProof(ctx, &sinergiv1.GetConsistencyProofRequest{FirstTreeSize: size, SecondTreeSize: size})
		if f := validate.FieldsOf(err); len(f) == 0 || !slices.ContainsFunc(f, func(x string) bool { return x == "second_tree_size" || x == "first_tree_size" }) {
			t.Errorf("consistency proof at sizes %d: %v, want INVALID_ARGUMENT on a size", size, err)
		}
		_, err = polres.Audit.GetConsistencyProof(ctx, &sinergiv1.GetConsistencyProofRequest{FirstTreeSize: size, SecondTreeSize: int64(size2)})
		if f := validate.FieldsOf(err); len(f) != 1 || f[0] != "first_tree_size" {
			t.Errorf("consistency proof from size %d: %v, want INVALID_ARGUMENT on first_tree_size", size, err)
		}
	}
	if _, err := polres.Audit.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: policeAccess, RecordId: 1 << 50}); status.Code(err) != codes.NotFound {
		t.Errorf("a missing record: %v, want NOT_FOUND", err)
	}
	// Another institution's call: the proof, to whoever holds its leaf,
	// but not the record; one's own call: the record too.
	reads := auditRecordIDs(t, env, "polres-metro", "/sinergi.v1.CustodyService/GetCustodyRecord")
	other, err := env.As(t, "polres-cilacap").Audit.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: policeAccess, RecordId: reads[0]})
	if err != nil || len(other.GetHashes()) == 0 || other.GetLeaf() != nil || other.GetRecord() != nil {
		t.Errorf("another's call: %v %v, want its proof without its record", other, err)
	}
	own, err := polres.Audit.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: policeAccess, RecordId: reads[0]})
	if err != nil || own.GetRecord().GetCallerCode() != "polres-metro" || !bytes.Equal(own.GetHashes()[0], other.GetHashes()[0]) {
		t.Errorf("polres-metro's own call: %v %v", own, err)
	}
	// The ministry lists this disclosure by the police, and proves it from
	// the leaf it was given, though the record is the other side's.
	for _, a := range acc.GetAccesses() {
		if a.GetCallerCode() != "polres-metro" {
			continue
		}
		p, err := ministry.Audit.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: access, RecordId: a.GetRecordId(), TreeSize: int64(size2)})
		if err != nil || p.GetRecord() != nil {
			t.Fatalf("the ministry's proof of a police read: %v %v", p, err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.GetLeafIndex()), size2, leafHash(a.GetLeaf()), p.GetHashes(), root2); err != nil {
			t.Fatalf("the ministry cannot check the police read it was shown: %v", err)
		}
	}
}

func auditRecordIDs(t *testing.T, env *servertest.Env, caller, method string) []int64 {
	t.Helper()
	rows, err := env.Owner.Pool.Query(context.Background(), `SELECT id FROM audit_records WHERE caller_code = $1 AND method = $2 ORDER BY id`, caller, method)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) == 0 {
		t.Fatalf("no records of %s by %s: %v", method, caller, err)
	}
	return ids
}

var policeAccess = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}

func a0(acc *sinergiv1.ListSubjectAccessResponse) int64 { return acc.GetAccesses()[0].GetRecordId() }

func lastRecord(t *testing.T, env *servertest.Env) int64 {
	t.Helper()
	var id int64
	if err := env.Owner.Pool.QueryRow(context.Background(), `SELECT record_id FROM audit_leaves ORDER BY leaf_index DESC LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// registerWitness registers code as a witness with a new key and returns
// its witness, keeping its state in a file of the test's.
func registerWitness(t *testing.T, env *servertest.Env, code string) *audit.Witness {
	t.Helper()
	cosigner, err := newCosigner(t, code)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Owner.RegisterWitness(context.Background(), store.Witness{InstitutionCode: code, Name: cosigner.Name(), VKey: cosigner.VerifierKey()}); err != nil {
		t.Fatal(err)
	}
	return &audit.Witness{Client: env.As(t, code).Audit, LogKey: env.Keys(t).VerifierKey(), Cosigner: cosigner,
		State: filepath.Join(t.TempDir(), code+".json")}
}

func newCosigner(t *testing.T, code string) (*audit.Cosigner, error) {
	path := filepath.Join(t.TempDir(), code+".key")
	if err := audit.WriteNewKey(path); err != nil {
		return nil, err
	}
	k, err := audit.LoadKey(path)
	if err != nil {
		return nil, err
	}
	return audit.NewCosigner("sinergi.go.id/witness/"+code, k), nil
}

// TestWitnessCosigns: a registered witness checks each new checkpoint
// against the one it holds and cosigns it; the log shows the cosigned
// checkpoint with its cosignature. Only a registered witness may hand one
// back, and only a true one.
func TestWitnessCosigns(t *testing.T) {
	d := freshDB(t)
	env := servertest.Start(t, d, servertest.Options{})
	ctx := context.Background()
	w := registerWitness(t, env, "mabes-polri")
	polres := env.As(t, "polres-metro")
	call := func(n int) {
		for range n {
			if _, err := polres.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
				t.Fatal(err)
			}
		}
		env.WaitIntegrated(t)
	}
	call(5)
	r, err := w.Round(ctx)
	if err != nil || !r.Cosigned || r.From != 0 {
		t.Fatalf("first round: %+v %v", r, err)
	}
	call(20)
	r2, err := w.Round(ctx)
	if err != nil || !r2.Cosigned || r2.From != r.To || r2.To <= r.To {
		t.Fatalf("second round: %+v %v", r2, err)
	}
	cp, err := polres.Audit.GetCheckpoint(ctx, &sinergiv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wit := cp.GetWitnessed()
	if wit.GetTreeSize() != int64(r2.To) || len(wit.GetCosignatures()) != 1 || wit.GetCosignatures()[0].GetWitnessCode() != "mabes-polri" {
		t.Fatalf("witnessed checkpoint %v, want size %d cosigned by mabes-polri", wit, r2.To)
	}
	wv, err := audit.NewCosignatureVerifier(w.Cosigner.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	lv, _ := note.NewVerifier(w.LogKey)
	if n, err := note.Open([]byte(wit.GetNote()), note.VerifierList(lv, wv)); err != nil || len(n.Sigs) != 2 {
		t.Fatalf("the witnessed note does not carry both signatures: %v %v", n, err)
	}
	// A non-witness cannot hand a cosignature back; a witness cannot hand
	// back a checkpoint the log did not sign, or one without its signature.
	other, _ := newCosigner(t, "polda-lampung")
	logNote := cp.GetCheckpoint().GetNote()
	opened, err := note.Open([]byte(logNote), note.VerifierList(lv))
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := note.Sign(&note.Note{Text: opened.Text, Sigs: opened.Sigs}, other)
	if _, err := env.As(t, "polda-lampung").Audit.AddCosignature(ctx, &sinergiv1.AddCosignatureRequest{Note: string(signed)}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a non-witness handed back a cosignature: %v", err)
	}
	mabes := env.As(t, "mabes-polri").Audit
	if _, err := mabes.AddCosignature(ctx, &sinergiv1.AddCosignatureRequest{Note: logNote}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a note without the witness's cosignature: %v", err)
	}
	forged, _ := note.Sign(&note.Note{Text: strings.Replace(opened.Text, "\n"+strconv.Itoa(int(r2.To))+"\n", "\n999999\n", 1)}, w.Cosigner)
	if _, err := mabes.AddCosignature(ctx, &sinergiv1.AddCosignatureRequest{Note: string(forged)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a checkpoint the log did not sign: %v", err)
	}
}

// TestWitnessRefusesARewrittenLog: a witness that holds a checkpoint
// refuses a log that shrank or forked from it, loudly (ErrInconsistent),
// and keeps its state.
func TestWitnessRefusesARewrittenLog(t *testing.T) {
	d := freshDB(t)
	env := servertest.Start(t, d, servertest.Options{})
	ctx := context.Background()
	w := registerWitness(t, env, "mabes-polri")
	polres := env.As(t, "polres-metro")
	for range 10 {
		if _, err := polres.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitIntegrated(t)
	if _, err := w.Round(ctx); err != nil {
		t.Fatal(err)
	}
	held, err := audit.LoadWitnessState(w.State)
	if err != nil {
		t.Fatal(err)
	}
	// Whoever holds the log's key (not the witness's) signs a checkpoint
	// of a different log with the size the witness holds.
	keys := env.Keys(t)
	forkNote, err := keys.SignCheckpoint(held.TreeSize, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	env.Server.Stop()
	if _, err := env.Owner.Pool.Exec(ctx, `UPDATE audit_log_latest SET note = $1`, forkNote); err != nil {
		t.Fatal(err)
	}
	env.Restart(t)
	w.Client = env.As(t, "mabes-polri").Audit
	_, err = w.Round(ctx)
	if !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("a forked log: %v, want ErrInconsistent", err)
	}
	after, _ := audit.LoadWitnessState(w.State)
	if after.Note != held.Note {
		t.Fatal("the witness changed its state after refusing")
	}
}
