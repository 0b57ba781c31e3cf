package audit_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/store"
)

// serverStream is a stream with a context and nothing else.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s serverStream) Context() context.Context { return s.ctx }

// TestDeliverAllGroups: deliveries sent together on one stream share a
// record while they are recorded alike, each delivery's subjects named in
// turn (a subject as often as it was sent) and the record saying how many
// it holds; a delivery under other agreements starts a record of its own;
// each delivery knows its record.
func TestDeliverAllGroups(t *testing.T) {
	ctx := context.Background()
	st := appStore(t)
	rec := &audit.Recorder{Writer: appWriter(t, st)}
	const method = "/test/DeliverAll"
	var ds []*audit.Entry
	err := rec.StreamServerInterceptor()(nil, serverStream{ctx: ctx}, &grpc.StreamServerInfo{FullMethod: method},
		func(_ any, ss grpc.ServerStream) error {
			sctx := ss.Context()
			audit.FromContext(sctx).SetCaller("polres-metro", "01")
			audit.FromContext(sctx).Allow("test stream")
			for _, d := range []struct{ subject, agreement string }{
				{"custody/a", "AG-1"}, {"custody/b", "AG-1"}, {"custody/a", "AG-1"}, {"custody/c", "AG-2"}, {"custody/d", "AG-1"},
			} {
				e := audit.FromContext(sctx).Derive(time.Now())
				e.AddSubjects(d.subject)
				e.AddAgreements(d.agreement)
				ds = append(ds, e)
			}
			return audit.DeliverAll(sctx, ds, false)
		})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.RecordID()
	}
	if ids[0] == 0 || ids[0] != ids[1] || ids[1] != ids[2] || ids[3] == ids[2] || ids[4] == ids[3] || ids[4] == ids[0] {
		t.Fatalf("records of the deliveries: %v, want the first three in one, then one each", ids)
	}
	rows, err := st.Pool.Query(ctx, `SELECT id, subjects, agreement_ids, reason FROM audit_records WHERE method = $1 AND id = ANY($2) ORDER BY id`, method, ids)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type got struct {
		subjects, agreements []string
		deliveries           int
	}
	var recs []got
	for rows.Next() {
		var id int64
		var g got
		var reason string
		if err := rows.Scan(&id, &g.subjects, &g.agreements, &reason); err != nil {
			t.Fatal(err)
		}
		g.deliveries = audit.DeliveriesIn(reason)
		recs = append(recs, g)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []got{
		{[]string{"custody/a", "custody/b", "custody/a"}, []string{"AG-1"}, 3},
		{[]string{"custody/c"}, []string{"AG-2"}, 1},
		{[]string{"custody/d"}, []string{"AG-1"}, 1},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d delivery records, want %d: %+v", len(recs), len(want), recs)
	}
	for i := range want {
		if !slices.Equal(recs[i].subjects, want[i].subjects) || !slices.Equal(recs[i].agreements, want[i].agreements) || recs[i].deliveries != want[i].deliveries {
			t.Errorf("record %d: %+v, want %+v", i, recs[i], want[i])
		}
	}
}

// TestDeliverAllPartialFailure: when the database refuses one group's
// record, DeliverAll fails (nothing of the batch is to be sent), and the
// deliveries whose records did commit know their record, so that the
// stream's end record can name them as recorded but not sent.
func TestDeliverAllPartialFailure(t *testing.T) {
	var mu sync.Mutex
	var written []int64
	w := audit.NewWriterWith(func(_ context.Context, recs []*store.AuditRecord) error {
		for _, r := range recs {
			if slices.Contains(r.AgreementIDs, "AG-REFUSED") {
				return &pgconn.PgError{Code: "22021", Message: "refused"}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			written = append(written, r.ID)
		}
		return nil
	}, counterSealer(t), 1, 512, 4096)
	defer w.Close()
	rec := &audit.Recorder{Writer: w}
	var ds []*audit.Entry
	var got error
	_ = rec.StreamServerInterceptor()(nil, serverStream{ctx: context.Background()}, &grpc.StreamServerInfo{FullMethod: "/test/DeliverAllPartial"},
		func(_ any, ss grpc.ServerStream) error {
			for _, ag := range []string{"AG-1", "AG-1", "AG-REFUSED", "AG-2"} {
				e := audit.FromContext(ss.Context()).Derive(time.Now())
				e.AddSubjects("custody/x")
				e.AddAgreements(ag)
				ds = append(ds, e)
			}
			got = audit.DeliverAll(ss.Context(), ds, false)
			return got
		})
	if got == nil {
		t.Fatal("DeliverAll succeeded with a record refused")
	}
	mu.Lock()
	defer mu.Unlock()
	for i, d := range ds {
		id := d.RecordID()
		switch {
		case i == 2 && id != 0:
			t.Errorf("the refused delivery knows record %d", id)
		case i != 2 && (id == 0 || !slices.Contains(written, id)):
			t.Errorf("delivery %d: record %d, written %v", i, id, written)
		}
	}
}
