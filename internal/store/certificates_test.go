package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/store"
)

// TestRevocationsArePermanent: no role lifts or loses a revocation: the
// application role lacks the privileges, and the table's trigger refuses
// the schema owner and a superuser too.
func TestRevocationsArePermanent(t *testing.T) {
	ctx := context.Background()
	d := pgtest.Fresh(t)
	app := open(t, d)
	hook := &subjectsHook{}
	if n, err := app.RevokeCertificates(ctx, hook, []store.Revocation{{Serial: "a1b2", Reason: "lost"}, {Serial: "a1b2"}, {Serial: "ff"}}); err != nil || n != 2 {
		t.Fatalf("revoke: %d %v, want 2 new", n, err)
	}
	if want := []string{"certificate/a1b2", "certificate/ff"}; !slices.Equal(hook.subjects, want) || hook.written != 1 {
		t.Fatalf("the act's record: %v written %d times, want %v once", hook.subjects, hook.written, want)
	}
	hook = &subjectsHook{}
	if n, err := app.RevokeCertificates(ctx, hook, []store.Revocation{{Serial: "a1b2", Reason: "again"}}); err != nil || n != 0 || hook.written != 1 {
		t.Fatalf("revoke again: %d %v (recorded %d times), want 0 new, recorded once", n, err, hook.written)
	}
	for _, bad := range []string{"0a1b", "A1B2", "0x1", "", "a1:b2", "not-hex"} {
		if _, err := app.RevokeCertificates(ctx, &subjectsHook{}, []store.Revocation{{Serial: bad}}); err == nil {
			t.Errorf("serial %q stored", bad)
		}
	}
	owner, err := store.Open(ctx, d.Owner, store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	super, err := store.Open(ctx, d.URL, store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	// The database itself refuses a serial not in its form.
	if _, err := owner.Pool.Exec(ctx, `INSERT INTO certificate_revocations (serial) VALUES ('0A1B')`); err == nil {
		t.Error("the database took a serial not in its written form")
	}
	for _, stmt := range []string{
		`DELETE FROM certificate_revocations WHERE serial = 'a1b2'`,
		`UPDATE certificate_revocations SET serial = 'a1b3' WHERE serial = 'a1b2'`,
		`UPDATE certificate_revocations SET revoke_time = now() + interval '1 year'`,
		`TRUNCATE certificate_revocations`,
	} {
		for who, st := range map[string]*store.Store{"application role": app, "schema owner": owner, "superuser": super} {
			if _, err := st.Pool.Exec(ctx, stmt); err == nil {
				t.Errorf("%s: %s succeeded", who, stmt)
			}
		}
	}
	revs, err := app.ListRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range revs {
		got = append(got, r.Serial+" "+r.Reason)
	}
	// One transaction, one time: by serial.
	if diff := cmp.Diff([]string{"a1b2 lost", "ff "}, got); diff != "" {
		t.Errorf("revocations (-want +got):\n%s", diff)
	}
}

// TestRevocationSerialsMigrated: serials written before they had one form
// are rewritten to it (the earliest time kept where two spell the same
// serial); rows that are no serial stay, listed as matching nothing.
func TestRevocationSerialsMigrated(t *testing.T) {
	ctx := context.Background()
	url := unmigratedDB(t)
	if err := store.MigrateTo(ctx, url, 19); err != nil {
		t.Fatal(err)
	}
	old, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close(ctx)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, serial := range []string{"0a1b2c", "a1b2c", "0x00A1B2C", "0F:FF", "ff", "deadbeef", "not-hex", "0x", "00"} {
		if _, err := old.Exec(ctx, `INSERT INTO certificate_revocations (serial, revoke_time, reason) VALUES ($1, $2, $3)`,
			serial, t0.Add(time.Duration(i)*time.Hour), "row "+serial); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	revs, err := st.ListRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range revs {
		got = append(got, fmt.Sprintf("%s %s %v %v", r.Serial, r.RevokeTime.UTC().Format("15h"), r.Valid, strings.HasPrefix(r.Reason, "row ")))
	}
	want := []string{"a1b2c 00h true true", "fff 03h true true", "ff 04h true true", "deadbeef 05h true true", "not-hex 06h false true", "0x 07h false true", "0 08h true true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("revocations after the migration (-want +got):\n%s", diff)
	}
	d, err := st.LoadDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a1b2c", "fff", "ff", "0"} {
		if _, ok := d.Revoked[s]; !ok {
			t.Errorf("serial %s not revoked after the migration", s)
		}
	}
}

// subjectsHook stands in for an audit entry: it keeps the subjects it is
// given and counts its writes.
type subjectsHook struct {
	subjects []string
	written  int
}

func (h *subjectsHook) AddSubjects(subjects ...string) { h.subjects = append(h.subjects, subjects...) }

func (h *subjectsHook) WriteTx(context.Context, pgx.Tx) error {
	h.written++
	return nil
}

// unmigratedDB is a new empty database owned by the schema owner, dropped
// at the end of the test, for a test to migrate step by step: the owner's
// URL.
func unmigratedDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("sinergi_test_migrate_%d", time.Now().UnixNano()%1e9)
	conn, err := pgx.Connect(ctx, db.ServerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" OWNER "+store.OwnerRole); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Its own connection: the one above is closed by then.
		c, err := pgx.Connect(context.Background(), db.ServerURL)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	admin, err := devdb.WithDatabase(db.ServerURL, name)
	if err != nil {
		t.Fatal(err)
	}
	url, err := devdb.WithUser(admin, store.OwnerRole)
	if err != nil {
		t.Fatal(err)
	}
	return url
}
