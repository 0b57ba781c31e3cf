package store_test

import (
	"context"
	"testing"

	"github.com/sinergi-id/sinergi/internal/names"
)

// TestModernSpellingInSQL: the migration's sinergi_modern_spelling, which
// rewrote the search names already stored, answers as internal/names does.
func TestModernSpellingInSQL(t *testing.T) {
	st := open(t, db)
	for _, n := range []string{"joesoef", "moehammad joesoef", "soedjono", "tjahjono", "djojohadikoesoemo", "sjahrir", "njoman",
		"joko jaya", "budi santoso", "  siti   noerhaliza "} {
		var got string
		if err := st.Pool.QueryRow(context.Background(), `SELECT sinergi_modern_spelling($1)`, n).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := names.Modern(n); got != want {
			t.Errorf("sinergi_modern_spelling(%q) = %q, names.Modern = %q", n, got, want)
		}
	}
}
