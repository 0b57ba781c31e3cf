package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/requestid"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestRecorderNotesAFailureAfterAWrite: a write whose transaction carried
// its record of success, and whose call then failed (its commit's
// acknowledgement lost), leaves a second record: the caller was answered
// with the error, naming the first record, so the trail does not say the
// caller was told of a write it was not told of.
func TestRecorderNotesAFailureAfterAWrite(t *testing.T) {
	ctx := context.Background()
	st := appStore(t)
	rec := &audit.Recorder{Writer: appWriter(t, st)}
	const rid = "recorder-test-after-write"
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(requestid.Header, rid))
	var written int64
	handler := func(ctx context.Context, _ any) (any, error) {
		tx, err := st.Pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		e := audit.FromContext(ctx)
		if err := e.WriteTx(ctx, tx); err != nil {
			return nil, err
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, err
		}
		if err := tx.Conn().QueryRow(ctx, `SELECT max(id) FROM audit_records WHERE request_id = $1`, rid).Scan(&written); err != nil {
			return nil, err
		}
		// The commit landed; its acknowledgement did not reach the call.
		return nil, status.Error(codes.Unavailable, "database connection lost")
	}
	_, err := requestid.UnaryServerInterceptor()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/test/AfterWrite"},
		func(ctx context.Context, req any) (any, error) {
			return rec.UnaryServerInterceptor()(ctx, req, &grpc.UnaryServerInfo{FullMethod: "/test/AfterWrite"}, handler)
		})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("call: %v, want UNAVAILABLE", err)
	}
	rows, err := st.Pool.Query(ctx, `SELECT id, status_code, reason FROM audit_records WHERE request_id = $1 ORDER BY id`, rid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id int64
		var code, reason string
		if err := rows.Scan(&id, &code, &reason); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s %s", id, code, reason))
	}
	if len(got) != 2 || !strings.Contains(got[0], " OK ") || !strings.Contains(got[1], "Unavailable") ||
		!strings.Contains(got[1], fmt.Sprintf("carried record %d of its success", written)) {
		t.Fatalf("the call's records:\n%s\nwant the write's OK record, then one saying the caller was answered UNAVAILABLE, naming record %d", strings.Join(got, "\n"), written)
	}
}

// TestRecorderWritesAttachedOnlyOnSuccess: a call that attaches a write to
// its record and succeeds has both in the database when its reply leaves;
// one that attaches a write and then fails has its record and not the write.
func TestRecorderWritesAttachedOnlyOnSuccess(t *testing.T) {
	ctx := context.Background()
	st := appStore(t)
	rec := &audit.Recorder{Writer: appWriter(t, st)}
	for _, fail := range []bool{false, true} {
		audience := fmt.Sprint("attached-", fail)
		handler := func(ctx context.Context, _ any) (any, error) {
			audit.FromContext(ctx).Attach(store.PresenceHits{Notices: []store.HitNoticeRow{{Audience: audience, Notice: &sinergiv1.HitNotice{
				Kind: sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_HIT, Time: timestamppb.Now(), RequesterCode: "polres-metro"}}}})
			if fail {
				return nil, status.Error(codes.FailedPrecondition, "the handler failed after attaching")
			}
			return "reply", nil
		}
		_, err := rec.UnaryServerInterceptor()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/test/Attached"}, handler)
		if (err != nil) != fail {
			t.Fatalf("fail=%v: call: %v", fail, err)
		}
		var notices int
		if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM hit_notices WHERE audience = $1`, audience).Scan(&notices); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{false: 1, true: 0}[fail]; notices != want {
			t.Errorf("fail=%v: %d attached writes applied when the reply left, want %d", fail, notices, want)
		}
	}
	var records int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE method = '/test/Attached'`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	if records != 2 {
		t.Fatalf("%d records of the two calls, want 2", records)
	}
}
