package api

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/firearms"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// firearmsWatchPage is how many events a watch reads at a time: all it ever holds.
const firearmsWatchPage = 256

// WatchFirearms streams the register's events the caller is told of, from
// a cursor, as WatchReports streams reports: it reads the events table
// itself from its own position a page at a time, sends at the pace the
// consumer takes them (a slow consumer slows only itself and holds one
// page), and a consumer that disconnects resumes from the last cursor it
// received, losing nothing and receiving nothing twice. Commits in any
// server process wake it (NOTIFY sinergi_firearm_events).
//
// Each delivery is decided when it is delivered: the caller must be in the
// event's audience (the facility, and the police units concerned when it
// was written), and its reach for firearms governance now, recomputed from
// the current directory and clock, must include the event's facility. Each
// delivery's audit record commits before it is sent.
func (s *Firearms) WatchFirearms(req *sinergiv1.WatchFirearmsRequest, stream grpc.ServerStreamingServer[sinergiv1.WatchFirearmsResponse]) error {
	ctx := stream.Context()
	c := caller(ctx)
	code := c.Institution.GetCode()
	query := "firearms-watch|" + code
	var pos store.FirearmPosition
	if cur := req.GetCursor(); cur != "" {
		if err := s.Tokens.Open(cur, query, &pos); err != nil {
			return validate.Error("cursor", "not a cursor of this watch (altered, or another institution's)")
		}
	} else {
		var err error
		if pos, err = s.Store.FirearmWatchStart(ctx); err != nil {
			return s.firearmsError(ctx, err, nil, "event")
		}
	}
	// Subscribe before the first read: a commit after it wakes us.
	sub := s.Hub.Subscribe(store.FirearmsChannel)
	defer sub.Close()

	cursor := func(p store.FirearmPosition) (string, error) { return s.Tokens.Seal(query, p) }
	tok, err := cursor(pos)
	if err != nil {
		return err
	}
	if err := stream.Send(&sinergiv1.WatchFirearmsResponse{Cursor: tok}); err != nil {
		return err
	}
	for {
		snap := s.Directory.Snapshot()
		me := snap.Institution(code)
		switch {
		case me == nil || me.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE:
			return status.Error(codes.PermissionDenied, "permission denied: the institution is no longer active")
		case snap.Revoked(c.Serial):
			return status.Error(codes.Unauthenticated, "unauthenticated: the client certificate was revoked")
		}
		rs := authz.ComputeReaches(snap, me, s.Now(), firearms.Scope)
		reach := rs.Firearms()

		rows, err := s.Store.FirearmEventsAfter(ctx, code, pos, firearmsWatchPage)
		if err != nil {
			return s.firearmsError(ctx, err, nil, "event")
		}
		type delivery struct {
			pos   store.FirearmPosition
			event *sinergiv1.FirearmEvent
			entry *audit.Entry
		}
		var out []delivery
		for _, row := range rows {
			if !reach.Admits(restrict.Row{Facility: row.Event.GetFacilityCode()}) {
				continue
			}
			d := audit.FromContext(ctx).Derive(s.Now())
			authz.Attribute(d, rs.For(firearms.Scope), row.Event)
			out = append(out, delivery{pos: row.Pos, event: row.Event, entry: d})
		}
		// A page's records commit together (one group commit), each before
		// its message is sent; after a failure nothing more is sent.
		errs := make([]error, len(out))
		var wg sync.WaitGroup
		for i := range out {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = audit.Deliver(ctx, out[i].entry)
			}()
		}
		wg.Wait()
		for i, d := range out {
			if errs[i] != nil {
				return errs[i]
			}
			tok, err := cursor(d.pos)
			if err != nil {
				return err
			}
			if err := stream.Send(&sinergiv1.WatchFirearmsResponse{Cursor: tok, Event: d.event}); err != nil {
				return err
			}
		}
		if len(rows) > 0 {
			pos = rows[len(rows)-1].Pos
		}
		if len(rows) == firearmsWatchPage {
			continue
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-sub.C:
		}
	}
}
