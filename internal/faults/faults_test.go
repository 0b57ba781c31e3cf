package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// h is the package's harness: one cluster (started by the first scenario)
// and the sinergi binary built from this checkout.
var h *Harness

func TestMain(m *testing.M) {
	code, err := testMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func testMain(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "sinergi-test-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "sinergi")
	build := exec.Command("go", "build", "-o", bin, "github.com/sinergi-id/sinergi/cmd/sinergi")
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build sinergi: %v: %s", err, out)
	}
	if h, err = NewHarness(bin, nil); err != nil {
		return 0, err
	}
	defer h.Close()
	return m.Run(), nil
}

// TestQuickScenarios runs every quick scenario of the battery (those of a
// few seconds) with make test's load: each must acknowledge writes, lose
// none, leave none unaudited or duplicated, and recover by itself.
func TestQuickScenarios(t *testing.T) {
	n := 0
	for _, s := range Scenarios {
		if !s.Quick {
			continue
		}
		n++
		t.Run(s.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			r := s.Run(ctx, h, Quick())
			t.Log(r.Line())
			if !r.OK() {
				t.Fatalf("%s", r.Line())
			}
			if r.Acknowledged == 0 {
				t.Fatal("no write was acknowledged: the scenario put nothing to the test")
			}
			if r.Recovery < 0 && !s.Ends {
				t.Fatal("the service's recovery was not seen")
			}
		})
	}
	if n == 0 {
		t.Fatal("no quick scenario")
	}
}

// TestChecksFindFaults: what the scenarios count is found when it is
// there. An acknowledged report deleted behind the server's back is lost;
// a write without its call's record, an OK call or a delivery with no
// record, and an acknowledgement naming another report are counted.
func TestChecksFindFaults(t *testing.T) {
	ctx := context.Background()
	_, d, err := h.single(ctx, "checks")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv, err := h.StartServer(ctx, "checks", d.App, d.Integrator)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	held, err := d.heldAt(ctx, eventFacility, 1)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Second)
	afterEvent, err := d.lastEvent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	load := &Load{Prefix: "checks", Ledger: newLedger()}
	occur := time.Now().Add(-time.Hour).Truncate(time.Second)
	probe(ctx, srv, load.Ledger, "checks-1", held, occur)
	probe(ctx, srv, load.Ledger, "checks-2", held, occur)
	var clean Result
	if err := judge(ctx, &clean, d, load, nil, afterEvent, since); err != nil {
		t.Fatal(err)
	}
	if !clean.OK() || clean.Acknowledged != 4 {
		t.Fatalf("before any fault: %s", clean.Line())
	}

	// Behind the server's back, as a superuser whose triggers are off.
	tamper := func(q string, args ...any) {
		t.Helper()
		tx, err := d.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tamper(`DELETE FROM reports WHERE id = $1`, load.Ledger.reports["checks-1"])
	tamper(`INSERT INTO custody_events (record_id, facility_code, type, effective_time, status_after, record_time)
		SELECT record_id, facility_code, type, now(), status_after, now() FROM custody_events WHERE id = $1`, load.Ledger.events[0])
	load.Ledger.add(Call{Method: "GetCustodyRecord", RequestID: "checks-never-sent", Code: codes.OK})
	load.Ledger.reports["checks-2"] = "00000000-0000-4000-8000-000000000000"
	var r Result
	if err := judge(ctx, &r, d, load, nil, afterEvent, since); err != nil {
		t.Fatal(err)
	}
	if r.Lost != 2 || r.Unaudited != 2 || r.Duplicated != 1 {
		t.Errorf("lost %d (want 2: the deleted report, and the one the acknowledgement names), unaudited %d (want 2: the call never recorded, "+
			"the event without its call), duplicated %d (want 1: the acknowledgement naming another report)", r.Lost, r.Unaudited, r.Duplicated)
	}
	if n, err := d.unauditedDeliveries(ctx, []Delivery{{EventID: 1, RecordID: held[0], RequestID: "checks-no-stream"}}); err != nil || n != 1 {
		t.Errorf("a delivery on a stream that never was: %d unaudited, %v (want 1)", n, err)
	}
	if gap, dup, phantom := compare([]Delivery{{EventID: 1}, {EventID: 2}, {EventID: 2}, {EventID: 9}}, []int64{1, 2, 3}); gap != 1 || dup != 1 || phantom != 1 {
		t.Errorf("compare: gap %d dup %d phantom %d, want 1 1 1", gap, dup, phantom)
	}
}
