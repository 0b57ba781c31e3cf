package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// callLines returns the level of each finished call in a JSON log, keyed
// by its method and code, and the lines themselves.
func callLines(logs string) (map[string]string, map[string]map[string]any) {
	out, lines := map[string]string{}, map[string]map[string]any{}
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if len(line) == 0 || json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "finished call" {
			continue
		}
		code, _ := m["grpc.code"].(string)
		method, _ := m["grpc.method"].(string)
		out[method+" "+code] = m["level"].(string)
		lines[method+" "+code] = m
	}
	return out, lines
}

// TestCallLogLevels: at the default level (info) the log carries failed
// calls, not successful ones, which are in the audit trail; at debug it
// carries every call.
func TestCallLogLevels(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  map[string]string
	}{
		{slog.LevelInfo, map[string]string{"GetInstitution NotFound": "INFO"}},
		{slog.LevelDebug, map[string]string{"GetInstitution OK": "DEBUG", "GetInstitution NotFound": "INFO"}},
	} {
		t.Run(tc.level.String(), func(t *testing.T) {
			var logs servertest.LogBuffer
			env := servertest.Start(t, db, servertest.Options{Configure: func(c *server.Config) {
				c.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: tc.level}))
			}})
			c := env.As(t, "polres-metro")
			ctx := context.Background()
			if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "polres-cilacap"}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "polres-atlantis"}); codeOf(err) != codes.NotFound {
				t.Fatalf("unknown code: %v", err)
			}
			env.Server.Stop()
			got, lines := callLines(logs.String())
			// A failed call's line says what failed, for whom, and how long
			// it took, at every level.
			failed := lines["GetInstitution NotFound"]
			for _, k := range []string{"grpc.service", "grpc.component", "grpc.method_type", "grpc.error", "request_id", "peer.address", "grpc.time_ms", "grpc.start_time", "institution"} {
				if v, _ := failed[k].(string); v == "" {
					t.Errorf("failed call's line has no %s: %v", k, failed)
				}
			}
			if failed["institution"] != "polres-metro" {
				t.Errorf("failed call's institution %v, want the caller's code", failed["institution"])
			}
			if failed["grpc.service"] != "sinergi.v1.InstitutionService" {
				t.Errorf("failed call's service %v", failed["grpc.service"])
			}
			for k := range got {
				if k != "GetInstitution OK" && k != "GetInstitution NotFound" {
					delete(got, k) // other calls (health) are not under test
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("call lines %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s logged at %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

// TestClientCancelledStream: a watch the client ends itself (Ctrl-C) is
// not logged as a failure: nothing at info, a cancelled call at debug.
func TestClientCancelledStream(t *testing.T) {
	const method = "/sinergi.v1.CustodyService/WatchCustodyEvents"
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var logs servertest.LogBuffer
			env := servertest.Start(t, db, servertest.Options{Configure: func(c *server.Config) {
				c.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: level}))
			}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := sinergiv1.NewCustodyServiceClient(env.ConnAs(t, "polres-metro")).WatchCustodyEvents(ctx, &sinergiv1.WatchCustodyEventsRequest{
				Access: &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Recv(); err != nil {
				t.Fatal(err)
			}
			cancel()
			deadline := time.Now().Add(10 * time.Second)
			for env.Server.OpenStreams(method) > 0 {
				if time.Now().After(deadline) {
					t.Fatal("the cancelled stream is still open")
				}
				time.Sleep(10 * time.Millisecond)
			}
			env.Server.Stop()
			var found map[string]any
			for _, line := range strings.Split(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "finished call" || m["grpc.method"] != "WatchCustodyEvents" {
					continue
				}
				found = m
			}
			switch {
			case level == slog.LevelInfo && found != nil:
				t.Errorf("a stream the client cancelled is logged at info: %v", found)
			case level == slog.LevelDebug && (found == nil || found["level"] != "DEBUG" || found["grpc.code"] != "Canceled" || found["institution"] != "polres-metro"):
				t.Errorf("a stream the client cancelled, at debug: %v", found)
			}
		})
	}
}
