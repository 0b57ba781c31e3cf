package releases

import (
	"testing"
	"time"
)

// TestQuietPassesSkip: after a pass that found nothing due, passes skip
// the scan only while the day is the same, nothing was committed and the
// recheck has not passed; before any pass, or once any of those changes,
// they scan.
func TestQuietPassesSkip(t *testing.T) {
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	q := quiet{day: day, at: at}
	for _, c := range []struct {
		name  string
		q     quiet
		today time.Time
		now   time.Time
		woken bool
		skip  bool
	}{
		{"no pass yet", quiet{}, day, at, false, false},
		{"same day, nothing committed, within the recheck", q, day, at.Add(10 * time.Second), false, true},
		{"a custody event committed", q, day, at.Add(10 * time.Second), true, false},
		{"the next day", q, day.AddDate(0, 0, 1), at.Add(10 * time.Second), false, false},
		{"the recheck passed", q, day, at.Add(30 * time.Second), false, false},
	} {
		if got := c.q.skip(c.today, c.now, c.woken, 30*time.Second); got != c.skip {
			t.Errorf("%s: skip %v, want %v", c.name, got, c.skip)
		}
	}
}
