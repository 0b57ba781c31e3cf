package api

import (
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/firearms"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// firearmsWatchPage is how many events a watch reads at a time, and how
// many deliveries its outbox holds for a consumer that does not read.
const firearmsWatchPage = 256

// WatchFirearms streams the register's events the caller is told of, from
// a cursor, as WatchReports streams reports: it reads the events table
// itself from its own position a page at a time, and its outbox sends at
// the pace the consumer takes them (a consumer too slow, or past the
// streams' budget, is told to come back with its cursor), and a consumer
// that disconnects resumes from the last cursor it received, losing
// nothing and receiving nothing twice. Commits in any
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
	out := newOutbox(ctx, s.Streams, "sinergi.v1.FirearmsService", tok, firearmsWatchPage, 0,
		func(m proto.Message) error { return stream.Send(m.(*sinergiv1.WatchFirearmsResponse)) })
	defer out.close(ctx)
	for {
		// The stream's recheck, now (see WatchCustodyEvents' plan).
		if err := authz.StreamStanding(ctx); err != nil {
			return err
		}
		snap := s.Directory.Snapshot()
		me := snap.Institution(code)
		if me == nil || me.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
			return authz.EndInstitutionSuspended
		}
		rs := authz.ComputeReaches(snap, me, s.Now(), firearms.Scope)
		reach := rs.Firearms()

		page := firearmsWatchPage
		if out.behind() {
			page = behindWindow
		}
		rows, err := s.Store.FirearmEventsAfter(ctx, code, pos, page)
		if err != nil {
			return s.firearmsError(ctx, err, nil, "event")
		}
		// Each delivery's audit record commits before its message is sent
		// (the outbox audits waiting deliveries in one group commit); after
		// a failure nothing more is sent.
		for _, row := range rows {
			if !reach.Admits(restrict.Row{Facility: row.Event.GetFacilityCode()}) {
				continue
			}
			d := audit.FromContext(ctx).Derive(s.Now())
			authz.Attribute(d, rs.For(firearms.Scope), row.Event)
			tok, err := cursor(row.Pos)
			if err != nil {
				return err
			}
			if err := out.put(ctx, outItem{msg: &sinergiv1.WatchFirearmsResponse{Cursor: tok, Event: row.Event}, cursor: tok, entry: d}); err != nil {
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
