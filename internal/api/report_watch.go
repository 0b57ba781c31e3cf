package api

import (
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/reports"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// reportWatchPage is how many events a watch reads at a time, and how many
// deliveries its outbox holds for a consumer that does not read.
const reportWatchPage = 256

// WatchReports streams the caller's report events from a cursor.
//
// The stream reads the events table itself, from its own position, a page
// at a time, and its outbox sends at the pace the consumer takes them: a
// consumer that leaves it full too long, or would take the server's stream
// budget past its limit, is told to come back with its cursor, and one
// that disconnects resumes from the last cursor it received, losing
// nothing and receiving nothing twice.
// Commits anywhere (any server process) wake it through the fan-out hub
// (NOTIFY sinergi_report_events in the event's transaction).
//
// Events are delivered in id order, and ids are assigned in commit order
// (store.ReportEventsAfter), so a cursor never passes over an event that
// commits late. Each delivery is decided
// at delivery time: the caller must be in the event's audience (the
// facility, the police unit that warned it, the observers and the
// recipients it had), and, for a police unit, its reach now (recomputed
// from the current directory and clock) must include the facility for the
// report's scope, or the unit must have received it by an emergency
// override. Each delivery's audit record commits
// before it is sent.
func (s *Reports) WatchReports(req *sinergiv1.WatchReportsRequest, stream grpc.ServerStreamingServer[sinergiv1.WatchReportsResponse]) error {
	ctx := stream.Context()
	code := caller(ctx).Institution.GetCode()
	query := "report-watch|" + code
	only := req.GetReportId()
	if only != "" {
		// One report's thread: a cursor of it follows that report alone.
		query += "|" + only
		_, reach, err := reportCall(ctx)
		if err != nil {
			return err
		}
		ok, err := s.Store.ReportAdmitted(ctx, reach, only)
		if err != nil {
			return s.reportError(ctx, err)
		}
		if !ok {
			return errReportNotFound
		}
	}
	var pos store.ReportPosition
	if cur := req.GetCursor(); cur != "" {
		if err := s.Tokens.Open(cur, query, &pos); err != nil {
			return validate.Error("cursor", "not a cursor of this watch (altered, or another institution's)")
		}
	} else {
		var err error
		if pos, err = s.Store.ReportWatchStart(ctx); err != nil {
			return s.reportError(ctx, err)
		}
	}
	sub := s.Hub.Subscribe(store.ReportChannel)
	defer sub.Close()

	cursor := func(p store.ReportPosition) (string, error) { return s.Tokens.Seal(query, p) }
	tok, err := cursor(pos)
	if err != nil {
		return err
	}
	// The first message says the stream is established, and where it starts.
	if err := stream.Send(&sinergiv1.WatchReportsResponse{Cursor: tok}); err != nil {
		return err
	}
	out := newOutbox(ctx, s.Streams, "sinergi.v1.ReportService", tok, reportWatchPage, 0,
		func(m proto.Message) error { return stream.Send(m.(*sinergiv1.WatchReportsResponse)) })
	defer out.close(ctx)
	for {
		snap := s.Directory.Snapshot()
		// The stream's recheck, now (see WatchCustodyEvents' plan).
		if err := authz.StreamStanding(ctx); err != nil {
			return err
		}
		me := snap.Institution(code)
		if me == nil || me.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
			return authz.EndInstitutionSuspended
		}
		rs := authz.ComputeReaches(snap, me, s.Now(), reports.Scopes...)
		reach := rs.Reports()

		page := reportWatchPage
		if out.behind() {
			page = behindWindow
		}
		rows, err := s.Store.ReportEventsAfter(ctx, code, pos, page, only)
		if err != nil {
			return s.reportError(ctx, err)
		}
		var ids []string
		seen := map[string]bool{}
		for _, row := range rows {
			if reach.Admits(row.Row()) && !seen[row.Event.GetReportId()] {
				seen[row.Event.GetReportId()] = true
				ids = append(ids, row.Event.GetReportId())
			}
		}
		loaded, err := s.Store.LoadReports(ctx, ids)
		if err != nil {
			return s.reportError(ctx, err)
		}
		byID := make(map[string]*sinergiv1.Report, len(loaded))
		for _, r := range loaded {
			byID[r.GetId()] = reportView(r, rs)
		}
		// Each delivery's audit record commits before its message is sent
		// (the outbox audits a page's deliveries in one group commit);
		// after a failure nothing more is sent (fail closed).
		for _, row := range rows {
			rep := byID[row.Event.GetReportId()]
			if rep == nil || !reach.Admits(row.Row()) {
				continue
			}
			d := audit.FromContext(ctx).Derive(s.Now())
			authz.Attribute(d, rs.For(row.Scope), rep)
			tok, err := cursor(row.Pos)
			if err != nil {
				return err
			}
			if err := out.put(ctx, outItem{msg: &sinergiv1.WatchReportsResponse{Cursor: tok, Event: row.Event, Report: rep},
				cursor: tok, entry: d}); err != nil {
				return err
			}
		}
		if len(rows) > 0 {
			pos = rows[len(rows)-1].Pos
		}
		if len(rows) == page {
			continue
		}
		if err := out.wait(ctx, sub.C); err != nil {
			return err
		}
	}
}
