package api

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/requestid"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// WatchTuning bounds what one watch stream may hold and says when its
// consumer is too slow.
type WatchTuning struct {
	// Batch is how many positions of the order one read looks at (the
	// events among them that are the watcher's are read).
	Batch int
	// Queue is how many messages may wait for a consumer that is not reading.
	Queue int
	// Stall is how long the queue may stay full before the consumer is told
	// to come back with its cursor.
	Stall time.Duration
	// Tail is how many of the newest events the process keeps for its
	// watchers (read when a server's first watch opens).
	Tail int
}

var defaultWatchTuning = WatchTuning{Batch: 1000, Queue: 64, Stall: 10 * time.Second, Tail: custodyTailSize}

// behindWindow is the window a watch reads while its consumer is behind:
// what a stalled watcher's reader holds besides its queue.
const behindWindow = 32

var watchTuning atomic.Pointer[WatchTuning]

// SetWatchTuning changes the bounds of watch streams opened from now on
// (zero fields keep their defaults); tests use it to make a slow consumer
// cheap to produce.
func SetWatchTuning(t WatchTuning) {
	d := defaultWatchTuning
	if t.Batch > 0 {
		d.Batch = t.Batch
	}
	if t.Queue > 0 {
		d.Queue = t.Queue
	}
	if t.Stall > 0 {
		d.Stall = t.Stall
	}
	if t.Tail > 0 {
		d.Tail = t.Tail
	}
	watchTuning.Store(&d)
}

func currentWatchTuning() WatchTuning {
	if t := watchTuning.Load(); t != nil {
		return *t
	}
	return defaultWatchTuning
}

// watchedTypes are the events a watch list reports anywhere.
var watchedTypes = map[sinergiv1.CustodyEventType]bool{
	sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION:    true,
	sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_OUT: true,
	sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_IN:  true,
	sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE:      true,
	sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ESCAPE:       true,
	// A correction may void any of them: whoever was told is told.
	sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_CORRECTION: true,
}

// delivery is one message on its way to a watcher, with what it is audited by.
type delivery struct {
	msg   *sinergiv1.WatchCustodyEventsResponse
	reach *authz.Reach
	watch *sinergiv1.Watch
	// agreements behind a delivery the message's own facility does not
	// explain (a transfer out, told under the destination's grant).
	agreements []string
}

// watchPlan decides, for one batch of events, what the watcher may be told:
// reaches and watch list as they stand when the batch is delivered.
type watchPlan struct {
	jurisdiction, anywhere *authz.Reach
	byRecord, byNIK        map[string]*sinergiv1.Watch
	// filter reads what route may deliver: the jurisdiction's facilities,
	// and the watched types of the watched records (by id, or held under a
	// watched NIK).
	filter store.EventFilter
}

func (s *Custody) plan(ctx context.Context, c *authn.Caller, withWatches bool) (*watchPlan, error) {
	snap := s.Directory.Snapshot()
	// The stream's recheck, now, against a directory at least as new as
	// snap: nothing is audited as delivered to a caller that no longer stands.
	if err := authz.StreamStanding(ctx); err != nil {
		return nil, err
	}
	inst := snap.Institution(c.Institution.GetCode())
	if inst == nil || inst.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
		return nil, authz.EndInstitutionSuspended
	}
	now := s.Now()
	p := &watchPlan{
		jurisdiction: authz.ComputeReach(snap, inst, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, now, authz.ReachOptions{}),
		// A watch list reaches beyond jurisdiction, never beyond agreements.
		anywhere: authz.ComputeReach(snap, inst, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, now, authz.ReachOptions{IgnoreJurisdiction: true}),
		byRecord: map[string]*sinergiv1.Watch{}, byNIK: map[string]*sinergiv1.Watch{},
	}
	p.filter.Facilities = p.jurisdiction.Facilities()
	// The unit's region as the start of the NIKs registered in it
	// ("18.72" -> "1872"): its people's releases reach it from anywhere.
	if r := inst.GetRegionCode(); r != "" {
		p.filter.NIKPrefix = strings.ReplaceAll(r, ".", "")
	}
	p.filter.Escort = inst.GetCode()
	if !withWatches {
		return p, nil
	}
	// Only watches one of whose agreements is still in force.
	watches, err := s.Store.ActiveWatches(ctx, inst.GetCode(), now, snap.ActiveAgreements(now))
	if err != nil {
		return nil, err
	}
	var niks []string
	for _, w := range watches {
		if w.GetRecordId() != "" {
			p.byRecord[w.GetRecordId()] = w
			p.filter.Records = append(p.filter.Records, w.GetRecordId())
		} else {
			p.byNIK[w.GetNik()] = w
			niks = append(niks, w.GetNik())
		}
	}
	// A watch on a record follows the person: to the records the
	// facilities that received them made (transfer in after transfer out).
	if len(p.byRecord) > 0 {
		watched := make([]string, 0, len(p.byRecord))
		for id := range p.byRecord {
			watched = append(watched, id)
		}
		next, err := s.Store.TransferSuccessors(ctx, watched)
		if err != nil {
			return nil, err
		}
		for succ, from := range next {
			if p.byRecord[succ] == nil {
				p.byRecord[succ] = p.byRecord[from]
				p.filter.Records = append(p.filter.Records, succ)
			}
		}
	}
	held, err := s.Store.CustodyRecordsByNIK(ctx, niks)
	if err != nil {
		return nil, err
	}
	p.filter.Records = append(p.filter.Records, held...)
	for t := range watchedTypes {
		p.filter.Types = append(p.filter.Types, strings.TrimPrefix(t.String(), "CUSTODY_EVENT_TYPE_"))
	}
	return p, nil
}

// route says whether and why se goes to the watcher, as the message to
// send: admitted by the restriction of the reach it goes under, shown as the
// grant behind it covers (an event under custody events alone says what
// happened where, not to whom).
func (p *watchPlan) route(se store.SettledEvent) (delivery, bool) {
	ev := se.Event
	var d delivery
	var g authz.Grant
	if watchedTypes[ev.GetType()] {
		anywhere := p.anywhere.Restriction()
		w := p.byRecord[ev.GetRecordId()]
		if w != nil && !anywhere.Admits(restrict.Row{Facility: ev.GetFacilityCode()}) {
			w = nil
		}
		// A NIK singles the person out: it finds a child's record only for
		// those who may see children's identities.
		if w == nil && se.Subject.GetNik() != "" && anywhere.Admits(restrict.Row{Facility: ev.GetFacilityCode(), Child: se.Child}) {
			w = p.byNIK[se.Subject.GetNik()]
		}
		if w != nil {
			wg, _ := p.anywhere.Grant(ev.GetFacilityCode())
			// A watch ends with the agreements that granted it: one of them
			// must still cover this facility.
			if sharesAgreement(w.GetAgreementIds(), wg.Agreements) {
				d = delivery{reach: p.anywhere, watch: w,
					msg: &sinergiv1.WatchCustodyEventsResponse{Reason: sinergiv1.DeliveryReason_DELIVERY_REASON_WATCH, WatchId: w.GetId()}}
				g = wg
			}
		}
	}
	if d.msg == nil {
		here := p.jurisdiction.Restriction()
		switch to := ev.GetCounterpartFacilityCode(); {
		case here.Admits(restrict.Row{Facility: ev.GetFacilityCode()}):
			d = delivery{reach: p.jurisdiction, msg: &sinergiv1.WatchCustodyEventsResponse{Reason: sinergiv1.DeliveryReason_DELIVERY_REASON_JURISDICTION}}
			g, _ = p.jurisdiction.Grant(ev.GetFacilityCode())
		case ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_OUT && to != "" && here.Admits(restrict.Row{Facility: to}):
			// The police of the destination are told ahead, as the
			// destination will be of its own people.
			g, _ = p.jurisdiction.Grant(to)
			d = delivery{reach: p.jurisdiction, agreements: g.Agreements,
				msg: &sinergiv1.WatchCustodyEventsResponse{Reason: sinergiv1.DeliveryReason_DELIVERY_REASON_INCOMING_TRANSFER}}
		case ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_OUT && slices.Contains(ev.GetEscortCodes(), p.filter.Escort) &&
			p.anywhere.Restriction().Admits(restrict.Row{Facility: ev.GetFacilityCode()}):
			// Named as an escort or on the route: told under its
			// agreements with the facility of origin, wherever it is.
			g, _ = p.anywhere.Grant(ev.GetFacilityCode())
			d = delivery{reach: p.anywhere, msg: &sinergiv1.WatchCustodyEventsResponse{Reason: sinergiv1.DeliveryReason_DELIVERY_REASON_ESCORT}}
		case ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE && p.filter.NIKPrefix != "" &&
			strings.HasPrefix(se.Subject.GetNik(), p.filter.NIKPrefix) &&
			p.anywhere.Restriction().Admits(restrict.Row{Facility: ev.GetFacilityCode(), Child: se.Child}):
			// A NIK singles the person out, as a watch by NIK does.
			g, _ = p.anywhere.Grant(ev.GetFacilityCode())
			d = delivery{reach: p.anywhere, msg: &sinergiv1.WatchCustodyEventsResponse{Reason: sinergiv1.DeliveryReason_DELIVERY_REASON_HOME_REGION}}
		default:
			return d, false
		}
	}
	// The event and subject are shared with every watcher (the tail): a
	// message that masks them masks copies.
	d.msg.Event, d.msg.Subject = ev, se.Subject
	if !g.Classes.Covers(authz.CustodyClasses) {
		d.msg.Event = proto.Clone(ev).(*sinergiv1.CustodyEvent)
		if se.Subject != nil {
			d.msg.Subject = proto.Clone(se.Subject).(*sinergiv1.Identity)
		}
		d.msg.WithheldClasses = authz.Mask(d.msg, g.Classes).Proto()
	}
	if d.msg.Subject != nil {
		d.msg.Subject, d.msg.IdentityMasked = shield(se.Child, g, d.msg.Subject)
	}
	return d, true
}

func sharesAgreement(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func watchCursorQuery(code string) string { return "custody-watch|" + code }

// WatchCustodyEvents streams the custody events the caller may see. The
// handler reads ordered events from the tables (the source of truth),
// woken by NOTIFY through the hub; its outbox audits and sends them. A
// consumer that leaves the outbox full too long, or would take the
// server's stream budget past its limit, is told to come back with its
// cursor, and so is every watcher when the server shuts down.
func (s *Custody) WatchCustodyEvents(req *sinergiv1.WatchCustodyEventsRequest, stream sinergiv1.CustodyService_WatchCustodyEventsServer) error {
	ctx := stream.Context()
	c := caller(ctx)
	tun := currentWatchTuning()
	query := watchCursorQuery(c.Institution.GetCode())

	// Subscribe before reading the position: an ordering after it wakes us.
	sub := s.Hub.Subscribe(store.CustodyOrderedChannel)
	defer sub.Close()
	var pos store.EventPosition
	if req.GetCursor() != "" {
		if err := s.Tokens.Open(req.GetCursor(), query, &pos); err != nil || !pos.Valid() {
			return validate.Error("cursor", "not a cursor of this institution's stream (altered, foreign, or from before the stream's order changed: start again without one)")
		}
	} else {
		var err error
		if pos, err = s.Store.CustodyEventsHead(ctx); err != nil {
			return s.custodyError(ctx, err)
		}
	}
	start, err := s.Tokens.Seal(query, pos)
	if err != nil {
		return err
	}
	if err := stream.Send(&sinergiv1.WatchCustodyEventsResponse{Cursor: start}); err != nil {
		return err
	}

	out := newOutbox(ctx, s.Streams, "sinergi.v1.CustodyService", start, tun.Queue, tun.Stall,
		func(m proto.Message) error { return stream.Send(m.(*sinergiv1.WatchCustodyEventsResponse)) })
	defer out.close(ctx)
	ctxErr := func() error { return status.FromContextError(ctx.Err()).Err() }
	tail := s.events()
	for {
		if err := tail.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return ctxErr()
			}
			return s.custodyError(ctx, err)
		}
		head := tail.Head()
		for pos.Seq < head {
			window := int64(tun.Batch)
			if out.behind() {
				window = behindWindow
			}
			upto := min(pos.Seq+window, head)
			// The plan is made after the head was read: every event up to
			// the head has its record by then, so a watched NIK's records
			// are all known to the filter. A window from the tail needs the
			// watch list only when it holds an event a watch reports.
			events, inTail := tail.Window(pos.Seq, upto)
			needWatches := !inTail || slices.ContainsFunc(events, func(se store.SettledEvent) bool { return watchedTypes[se.Event.GetType()] })
			plan, err := s.plan(ctx, c, needWatches)
			if err != nil {
				return s.custodyError(ctx, err)
			}
			if !inTail {
				if events, err = s.Store.CustodyEventsAfter(ctx, pos, upto, plan.filter); err != nil {
					if ctx.Err() != nil {
						return ctxErr()
					}
					return s.custodyError(ctx, err)
				}
			}
			for _, se := range events {
				d, ok := plan.route(se)
				if !ok {
					continue
				}
				if d.msg.Cursor, err = s.Tokens.Seal(query, se.Position); err != nil {
					return err
				}
				if err := out.put(ctx, outItem{msg: d.msg, cursor: d.msg.Cursor, entry: s.deliveryEntry(ctx, d)}); err != nil {
					return err
				}
			}
			pos.Seq = upto
		}
		if err := out.wait(ctx, sub.C); err != nil {
			return err
		}
	}
}

// deliveryEntry is the audit record of one delivery: the event's record as
// subject with the agreements that granted it. A watch-list delivery is
// recorded under the watch: its officer, purpose and case, and the watch as
// a subject.
func (s *Custody) deliveryEntry(ctx context.Context, d delivery) *audit.Entry {
	now := s.Now()
	var e *audit.Entry
	if w := d.watch; w != nil {
		c := caller(ctx)
		e = audit.NewEntry(sinergiv1.CustodyService_WatchCustodyEvents_FullMethodName, requestid.FromContext(ctx), now)
		e.SetCaller(c.Institution.GetCode(), c.Serial)
		e.SetAccess(w.GetOperatorId(), strings.TrimPrefix(w.GetPurpose().String(), "PURPOSE_"), w.GetCaseReference())
		e.Allow("watch-list delivery for " + store.WatchSubject(w.GetId()))
		e.AddSubjects(store.WatchSubject(w.GetId()))
	} else {
		e = audit.FromContext(ctx).Derive(now)
	}
	authz.Attribute(e, d.reach, d.msg)
	e.AddAgreements(d.agreements...)
	return e
}

// AddWatch puts a person on the caller's watch list. A record must be
// one the unit is told the custody events of in its jurisdiction: any other
// answers exactly as a record that does not exist. The watch keeps the
// agreements it rests on (a record's: those covering its facility; a
// NIK's: every one giving the unit custody events) and ends with them.
func (s *Custody) AddWatch(ctx context.Context, req *sinergiv1.AddWatchRequest) (*sinergiv1.AddWatchResponse, error) {
	c := caller(ctx)
	now := s.Now()
	exp := req.GetExpireTime().AsTime()
	switch {
	case !exp.After(now):
		return nil, validate.Error("expire_time", "must be in the future")
	case exp.After(now.AddDate(1, 0, 0)):
		return nil, validate.Error("expire_time", "at most a year ahead: renew the watch when it ends")
	}
	var agreements []string
	if id := req.GetRecordId(); id != "" {
		// A record's watch rests on the agreements covering its facility.
		rs, reach, err := authz.RestrictionFrom(ctx)
		if err != nil {
			return nil, err
		}
		facility, err := s.Store.CustodyRecordFacility(ctx, rs, id)
		if err != nil {
			return nil, s.custodyError(ctx, err)
		}
		g, _ := reach.Grant(facility)
		agreements = g.Agreements
	} else {
		// A NIK's, anywhere, on every agreement giving the unit custody events.
		agreements = authz.ComputeReach(c.Directory, c.Institution, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, now, authz.ReachOptions{IgnoreJurisdiction: true}).Agreements()
	}
	if len(agreements) == 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "no agreement in force lets %s be told of custody events: the watch could never deliver", c.Institution.GetCode())
	}
	acc := req.GetAccess()
	w, err := s.Store.AddWatch(ctx, audit.FromContext(ctx), &sinergiv1.Watch{
		InstitutionCode: c.Institution.GetCode(), Nik: req.GetNik(), RecordId: req.GetRecordId(), Reason: req.GetReason(),
		ExpireTime: req.GetExpireTime(), OperatorId: acc.GetOperatorId(), Purpose: acc.GetPurpose(), CaseReference: acc.GetCaseReference(),
		AgreementIds: agreements,
	}, now)
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	return &sinergiv1.AddWatchResponse{Watch: w}, nil
}

var errWatchNotFound = status.Error(codes.NotFound, "watch not found")

// RemoveWatch ends one of the caller's watches.
func (s *Custody) RemoveWatch(ctx context.Context, req *sinergiv1.RemoveWatchRequest) (*sinergiv1.RemoveWatchResponse, error) {
	c, now := caller(ctx), s.Now()
	w, err := s.Store.RemoveWatch(ctx, audit.FromContext(ctx), c.Institution.GetCode(), req.GetId(), now, c.Directory.ActiveAgreements(now))
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Another unit's watch answers as a missing one.
		return nil, errWatchNotFound
	case err != nil:
		return nil, s.custodyError(ctx, err)
	}
	return &sinergiv1.RemoveWatchResponse{Watch: w}, nil
}

// ListWatches lists the caller's watches, newest first.
func (s *Custody) ListWatches(ctx context.Context, req *sinergiv1.ListWatchesRequest) (*sinergiv1.ListWatchesResponse, error) {
	c := caller(ctx)
	code := c.Institution.GetCode()
	query := "custody-watches|" + code + "|" + strconv.FormatBool(req.GetIncludeInactive())
	var pos *store.WatchPosition
	if req.GetPageToken() != "" {
		pos = &store.WatchPosition{}
		if err := s.Tokens.Open(req.GetPageToken(), query, pos); err != nil {
			return nil, s.badToken()
		}
	}
	size := pageSize(req.GetPageSize())
	now := s.Now()
	ws, err := s.Store.ListWatches(ctx, code, req.GetIncludeInactive(), now, c.Directory.ActiveAgreements(now), pos, size+1)
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	resp := &sinergiv1.ListWatchesResponse{}
	if len(ws) > size {
		ws = ws[:size]
		last := ws[size-1]
		if resp.NextPageToken, err = s.Tokens.Seal(query, store.WatchPosition{CreateMicros: last.GetCreateTime().AsTime().UnixMicro(), ID: last.GetId()}); err != nil {
			return nil, err
		}
	}
	resp.Watches = ws
	return resp, nil
}
