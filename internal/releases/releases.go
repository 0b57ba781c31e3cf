// Package releases owns release notices ahead of time (VINE's habit): who
// is told that a person held is expected to be released, and when. The
// police units of the region the person's NIK was registered in (the
// Polsek of the district, the Polres of the regency, the Polda of the
// province) and the units watching the person are told 30, 7 and 1 days
// before the expected release date, each once for a date, where an
// agreement in force covers the unit and the holding facility for custody
// events. The release itself reaches them as a custody event (the home
// region's units by WatchCustodyEvents' HOME_REGION route).
package releases

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Thresholds are the days ahead a release is told.
var Thresholds = []int{30, 7, 1}

// NotifierLock is the advisory lock key of the one notifier ("RELNOTE").
const NotifierLock = 0x52454c4e4f5445

// NoticeMethod names release notices in the audit trail: the server's
// acts, each disclosing a person's coming release to the units told.
const NoticeMethod = "sinergi:release-notice"

// wib is the time zone calendar dates are kept in.
var wib = time.FixedZone("WIB", 7*3600)

// Today is the calendar date (WIB) of t, as a date at midnight UTC.
func Today(t time.Time) time.Time {
	y, m, d := t.In(wib).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// HomeDistrict is the district a NIK was registered in, as a region code
// ("187201..." -> "18.72.01"); "" for no NIK.
func HomeDistrict(nik string) string {
	if len(nik) < 6 {
		return ""
	}
	return nik[0:2] + "." + nik[2:4] + "." + nik[4:6]
}

// Audience is who is told of a release at facility of a person with nik,
// watched by watchers, at now: the police units whose region holds the
// person's home district, and the watchers, each only where an agreement
// in force covers it and the facility for custody events.
func Audience(snap *directory.Snapshot, facility, nik string, watchers []string, now time.Time) []string {
	var out []string
	covered := func(in *sinergiv1.Institution) bool {
		return in != nil && in.GetStatus() == sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE &&
			directory.SideOf(in.GetKind()) == sinergiv1.Side_SIDE_POLRI &&
			authz.NationalReach(snap, in, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, now).Includes(facility)
	}
	if home := HomeDistrict(nik); home != "" {
		for _, in := range snap.Institutions() {
			if in.GetRegionCode() != "" && directory.RegionWithin(home, in.GetRegionCode()) && covered(in) {
				out = append(out, in.GetCode())
			}
		}
	}
	for _, w := range watchers {
		if !slices.Contains(out, w) && covered(snap.Institution(w)) {
			out = append(out, w)
		}
	}
	slices.Sort(out)
	return out
}

// Notifier gives the release notices due, as the escalators do their
// work: every server process runs one, the one holding the lock works,
// its state is the tables, judged by the injected clock.
type Notifier struct {
	Store     *store.Store
	Audit     *audit.Sealer
	Directory *directory.Cache
	Now       func() time.Time
	Log       *slog.Logger
	// Interval between passes (real time); default 200 ms.
	Interval time.Duration
	// Wake, when set, has a token after custody events commit (an
	// admission, a release, a correction: what makes a person due or not).
	// Once a pass finds nothing due, the passes after it skip the scan
	// until a token comes, the day (WIB) changes, or Recheck has passed
	// (default 30 s, for a record whose expected date an upsert changed
	// without an event). Without Wake every pass scans.
	Wake    <-chan struct{}
	Recheck time.Duration

	quiet quiet // the pass loop's own
}

// quiet remembers the last pass that found nothing due: the day it was
// made for and when (real time).
type quiet struct {
	day, at time.Time
}

// skip reports whether a pass for today, at real time now, may skip the
// scan: one found nothing due for the same day less than recheck ago, and
// nothing was committed since (woken false).
func (q quiet) skip(today, now time.Time, woken bool, recheck time.Duration) bool {
	return !woken && !q.day.IsZero() && q.day.Equal(today) && now.Sub(q.at) < recheck
}

const batch = 200

func (n *Notifier) interval() time.Duration {
	if n.Interval > 0 {
		return n.Interval
	}
	return 200 * time.Millisecond
}

func (n *Notifier) recheck() time.Duration {
	if n.Recheck > 0 {
		return n.Recheck
	}
	return 30 * time.Second
}

// Run gives notices until ctx ends, whenever this process holds the lock.
func (n *Notifier) Run(ctx context.Context) {
	n.Store.LeadPasses(ctx, NotifierLock, n.interval(), batch, n.pass,
		func(err error) { n.Log.Warn("release notifier", "error", err) })
}

func (n *Notifier) pass(ctx context.Context, db store.DB) (int, error) {
	now := n.Now()
	today := Today(now)
	// A token taken here is for a commit the scan below sees.
	woken := false
	select {
	case <-n.Wake:
		woken = true
	default:
	}
	if n.Wake != nil && n.quiet.skip(today, time.Now(), woken, n.recheck()) {
		return 0, nil
	}
	n.quiet = quiet{}
	due, err := store.DueReleases(ctx, db, today, batch)
	if err != nil {
		return 0, fmt.Errorf("due releases: %w", err)
	}
	if len(due) == 0 {
		n.quiet = quiet{day: today, at: time.Now()}
	}
	snap := n.Directory.Snapshot()
	for _, d := range due {
		watchers, err := n.Store.WatchersOf(ctx, d.RecordID, d.NIK, now)
		if err != nil {
			return 0, err
		}
		entry := n.Audit.NewEntry(NoticeMethod, "")
		entry.Allow(fmt.Sprintf("expected release in %d days", d.DaysLeft))
		entry.AddSubjects(store.CustodySubject(d.RecordID))
		var notices []store.HitNoticeRow
		for _, to := range Audience(snap, d.Facility, d.NIK, watchers, now) {
			notices = append(notices, store.HitNoticeRow{Audience: to, Notice: &sinergiv1.HitNotice{
				Kind: sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_RELEASE_DUE, Time: timestamppb.New(now), FacilityCode: d.Facility,
				RecordId: d.RecordID, ExpectedReleaseDate: d.Expected.Format("2006-01-02"), DaysLeft: int32(d.DaysLeft)}})
			entry.AddSubjects("institution/" + to)
		}
		if _, err := n.Store.RecordReleaseNotice(ctx, db, entry, d, notices, now); err != nil {
			return 0, fmt.Errorf("release notice of %s: %w", d.RecordID, err)
		}
	}
	return len(due), nil
}
