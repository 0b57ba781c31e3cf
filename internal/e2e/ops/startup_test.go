package ops_test

import (
	"context"
	"testing"

	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestServerStartsBesideAnotherHoldingLocks: a server starts while another
// process holds a session advisory lock on the database (as a server that
// has just created the audit partitions holds one until its connection's
// backend is gone). Startup took the lock 0 with a try and refused to
// start without it ("audit partitions: another process leads", seen in
// make test when a second server followed the first); it now waits its
// turn inside the partitions function instead.
func TestServerStartsBesideAnotherHoldingLocks(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	conn, err := env.Owner.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(0)`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`) //nolint:errcheck
	other := env.Another(t)
	c := sinergiv1.NewInstitutionServiceClient(env.ConnAsTo(t, other.Addr(), "polres-metro"))
	if _, err := c.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
		t.Fatalf("the second server: %v", err)
	}
}
