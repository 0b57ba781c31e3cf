package api

import (
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// hitNoticePage is how many notices a watch reads at a time, and how many
// deliveries its outbox holds for a consumer that does not read.
const hitNoticePage = 256

type hitNoticePosition struct {
	Seq int64 `json:"s"`
}

// WatchHitNotices streams the caller's hit notices from a cursor, as
// WatchFirearms streams the register's events: it reads the notices table
// from its own position, a page at a time, woken when the sequencer has
// ordered new notices (NOTIFY sinergi_hit_notices_ordered, in any server
// process); its outbox sends at the pace the consumer takes them (one too
// slow, or past the streams' budget, is told to come back with its
// cursor), and a consumer that reconnects with its last cursor loses
// nothing and receives nothing twice. Every notice is its audience's own;
// the stream's recheck (the institution's standing) runs before each
// batch, and each delivery's audit record, naming the request and the
// record, commits before it is sent.
func (s *Custody) WatchHitNotices(req *sinergiv1.WatchHitNoticesRequest, stream grpc.ServerStreamingServer[sinergiv1.WatchHitNoticesResponse]) error {
	ctx := stream.Context()
	c := caller(ctx)
	code := c.Institution.GetCode()
	query := "hit-notices|" + code
	// Subscribe before the first read: an ordering after it wakes us.
	sub := s.Hub.Subscribe(store.HitNoticesOrderedChannel)
	defer sub.Close()
	var pos hitNoticePosition
	if cur := req.GetCursor(); cur != "" {
		if err := s.Tokens.Open(cur, query, &pos); err != nil {
			return validate.Error("cursor", "not a cursor of this watch (altered, or another institution's)")
		}
	} else {
		seq, err := s.Store.HitNoticesHead(ctx)
		if err != nil {
			return s.custodyError(ctx, err)
		}
		pos.Seq = seq
	}
	cursor := func(p hitNoticePosition) (string, error) { return s.Tokens.Seal(query, p) }
	tok, err := cursor(pos)
	if err != nil {
		return err
	}
	if err := stream.Send(&sinergiv1.WatchHitNoticesResponse{Cursor: tok}); err != nil {
		return err
	}
	out := newOutbox(ctx, s.Streams, "sinergi.v1.CustodyService", tok, hitNoticePage, 0,
		func(m proto.Message) error { return stream.Send(m.(*sinergiv1.WatchHitNoticesResponse)) })
	defer out.close(ctx)
	for {
		if err := authz.StreamStanding(ctx); err != nil {
			return err
		}
		page := hitNoticePage
		if out.behind() {
			page = behindWindow
		}
		rows, err := s.Store.HitNoticesAfter(ctx, code, pos.Seq, page)
		if err != nil {
			return s.custodyError(ctx, err)
		}
		for _, row := range rows {
			pos.Seq = row.Seq
			tok, err := cursor(pos)
			if err != nil {
				return err
			}
			d := audit.FromContext(ctx).Derive(s.Now())
			if id := row.Notice.GetHitRequestId(); id != "" {
				d.AddSubjects(authz.SubjectHitRequest + "/" + id)
			}
			authz.Attribute(d, nil, row.Notice)
			if err := out.put(ctx, outItem{msg: &sinergiv1.WatchHitNoticesResponse{Cursor: tok, Notice: row.Notice}, cursor: tok, entry: d}); err != nil {
				return err
			}
		}
		if len(rows) == page {
			continue
		}
		if err := out.wait(ctx, sub.C); err != nil {
			return err
		}
	}
}
