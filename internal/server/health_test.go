package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestHealthTellsTheTruth: while the database is unreachable the health
// service answers NOT_SERVING (a probe tells "database down" from "process
// down"), calls that need it fail closed with UNAVAILABLE, and once it is
// back both recover by themselves; probes are never written to the trail.
func TestHealthTellsTheTruth(t *testing.T) {
	d := pgtest.Fresh(t)
	proxy := servertest.NewDBProxy(t, d.App)
	env := servertest.Start(t, d, servertest.Options{Configure: func(c *server.Config) {
		c.DatabaseURL, c.IntegratorDatabaseURL = proxy.URL(t, d.App), proxy.URL(t, d.Integrator)
		c.AuditTimeout = time.Second
	}})
	ctx := context.Background()
	conn := env.ConnAs(t, "polres-metro")
	health := healthpb.NewHealthClient(conn)
	inst := sinergiv1.NewInstitutionServiceClient(conn)
	check := func() (healthpb.HealthCheckResponse_ServingStatus, error) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		r, err := health.Check(cctx, &healthpb.HealthCheckRequest{})
		return r.GetStatus(), err
	}
	waitStatus := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := check()
			if err != nil {
				t.Fatalf("health check failed as a call (%v): it must answer, with a status", err)
			}
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health %s, want %s", got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitStatus(healthpb.HealthCheckResponse_SERVING)
	for range 5 {
		if _, err := check(); err != nil {
			t.Fatal(err)
		}
	}

	proxy.Down()
	waitStatus(healthpb.HealthCheckResponse_NOT_SERVING)
	if _, err := inst.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); status.Code(err) != codes.Unavailable {
		t.Errorf("a call while the database is down: %v, want UNAVAILABLE", err)
	}

	proxy.Up()
	waitStatus(healthpb.HealthCheckResponse_SERVING)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := inst.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls did not recover after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var probes int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE method LIKE '/grpc.health.v1.Health/%'`).Scan(&probes); err != nil {
		t.Fatal(err)
	}
	if probes != 0 {
		t.Errorf("%d health probes written to the audit trail", probes)
	}
}
