package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// custodyClockSkew is how far in the future a facility's clock may put an
// event or an admission before it is refused.
const custodyClockSkew = 5 * time.Minute

func custodyKindText(k sinergiv1.InstitutionKind) string {
	return strings.TrimPrefix(k.String(), "INSTITUTION_KIND_")
}

func custodyStatusWord(s sinergiv1.CustodyStatus) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s.String(), "CUSTODY_STATUS_"), "_", " "))
}

func custodyEventWord(t sinergiv1.CustodyEventType) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(t.String(), "CUSTODY_EVENT_TYPE_"), "_", " "))
}

// errOtherFacility refuses a facility writing records it does not hold.
var errOtherFacility = status.Error(codes.PermissionDenied, "permission denied: a facility writes only its own records")

// UpsertCustodyRecord creates or updates one of the caller's records.
func (s *Custody) UpsertCustodyRecord(ctx context.Context, req *sinergiv1.UpsertCustodyRecordRequest) (*sinergiv1.UpsertCustodyRecordResponse, error) {
	c := caller(ctx)
	e := audit.FromContext(ctx)
	rec := req.GetRecord()
	if fc := rec.GetFacilityCode(); fc != "" && fc != c.Institution.GetCode() {
		e.Refuse("a facility writes only its own records")
		return nil, errOtherFacility
	}
	out, created, err := s.Store.UpsertCustodyRecord(ctx, e, c.Institution.GetCode(), custodyKindText(c.Institution.GetKind()), rec, s.Now())
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	return &sinergiv1.UpsertCustodyRecordResponse{Record: out, Created: created}, nil
}

// RecordCustodyEvent appends an event to one of the caller's records.
func (s *Custody) RecordCustodyEvent(ctx context.Context, req *sinergiv1.RecordCustodyEventRequest) (*sinergiv1.RecordCustodyEventResponse, error) {
	c := caller(ctx)
	ev := req.GetEvent()
	now := s.Now()
	var v validate.Violations
	if ev.GetEffectiveTime().AsTime().After(now.Add(custodyClockSkew)) {
		v.Add("event.effective_time", "must not be in the future")
	}
	if cf := ev.GetCounterpartFacilityCode(); cf != "" {
		switch other := c.Directory.Institution(cf); {
		case other == nil || !directory.IsFacility(other.GetKind()):
			v.Add("event.counterpart_facility_code", "not a facility of the directory")
		case cf == c.Institution.GetCode():
			v.Add("event.counterpart_facility_code", "must be another facility")
		}
	}
	for i, code := range ev.GetEscortCodes() {
		if in := c.Directory.Institution(code); in == nil || directory.SideOf(in.GetKind()) != sinergiv1.Side_SIDE_POLRI {
			v.Add(fmt.Sprintf("event.escort_codes[%d]", i), "not a police unit of the directory")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := custodyEventHash(req)
	if err != nil {
		return nil, err
	}
	outEv, outRec, replayed, err := s.Store.RecordCustodyEvent(ctx, audit.FromContext(ctx), c.Institution.GetCode(),
		custodyKindText(c.Institution.GetKind()), req.GetRecordId(), req.GetRegisterNumber(),
		ev, req.GetIdempotencyKey(), hash, now, func(st store.CustodyState) (sinergiv1.CustodyStatus, error) {
			decide := transition
			if ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_CORRECTION {
				decide = correction
			}
			next, reason := decide(c.Institution.GetCode(), st, ev)
			if reason != "" {
				return 0, &store.PreconditionError{Reason: reason}
			}
			return next, nil
		})
	if errors.Is(err, store.ErrConflict) {
		return nil, status.Error(codes.AlreadyExists, "idempotency_key was used for another event: choose a new key for a new event")
	}
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	return &sinergiv1.RecordCustodyEventResponse{Event: outEv, Record: outRec, Replayed: replayed}, nil
}

// custodyEventHash identifies an event request's content: its
// deterministic encoding without the idempotency key (as a report's).
func custodyEventHash(req *sinergiv1.RecordCustodyEventRequest) ([]byte, error) {
	c := proto.Clone(req).(*sinergiv1.RecordCustodyEventRequest)
	c.IdempotencyKey = ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// correction decides a CORRECTION of a record in state st: only the
// record's latest event in force can be voided (what came after a wrong
// event was recorded on its strength: it is corrected first), and a
// transfer is not voided (the other facility acted on it: the transfer
// back is recorded instead). The status returns to what it was before the
// voided event: the previous event's, or REGISTERED.
func correction(_ string, st store.CustodyState, ev *sinergiv1.CustodyEvent) (sinergiv1.CustodyStatus, string) {
	n := len(st.InForce)
	if n == 0 {
		return 0, "cannot correct: the record has no event in force"
	}
	last := st.InForce[n-1]
	switch {
	case ev.GetCorrectsEventId() != last.ID:
		return 0, fmt.Sprintf("cannot correct event %d: only the record's latest event in force can be corrected, event %d (%s)",
			ev.GetCorrectsEventId(), last.ID, custodyEventWord(last.Type))
	case last.Type == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_OUT || last.Type == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_IN:
		return 0, "cannot correct a transfer: the other facility acted on it; record the transfer back instead"
	case n == 1:
		return sinergiv1.CustodyStatus_CUSTODY_STATUS_REGISTERED, ""
	}
	return st.InForce[n-2].StatusAfter, ""
}

// transition decides what event ev does to a record in state st held by
// facility: the record's next status, or why it cannot happen.
//
//	ADMISSION         REGISTERED, RELEASED          -> HELD
//	TRANSFER_OUT      HELD                          -> TRANSFERRED_OUT
//	TRANSFER_IN       REGISTERED, RELEASED,
//	                  TRANSFERRED_OUT               -> HELD, completing a transfer out to facility
//	RELEASE           HELD                          -> RELEASED
//	ESCAPE            HELD                          -> ESCAPED
//	RECAPTURE         ESCAPED                       -> HELD
//	DEATH             HELD, ESCAPED                 -> DECEASED
//	COURT_APPEARANCE,
//	HOSPITAL          HELD                          -> HELD
//
// Events are in effective-time order: none may predate the record's last.
func transition(facility string, st store.CustodyState, ev *sinergiv1.CustodyEvent) (sinergiv1.CustodyStatus, string) {
	const (
		registered  = sinergiv1.CustodyStatus_CUSTODY_STATUS_REGISTERED
		held        = sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD
		transferred = sinergiv1.CustodyStatus_CUSTODY_STATUS_TRANSFERRED_OUT
		released    = sinergiv1.CustodyStatus_CUSTODY_STATUS_RELEASED
		escaped     = sinergiv1.CustodyStatus_CUSTODY_STATUS_ESCAPED
		deceased    = sinergiv1.CustodyStatus_CUSTODY_STATUS_DECEASED
	)
	eff := ev.GetEffectiveTime().AsTime()
	if st.LastEventTime != nil && eff.Before(*st.LastEventTime) {
		return 0, fmt.Sprintf("cannot record %s effective %s: the record's last event is effective %s, and events are recorded in order",
			custodyEventWord(ev.GetType()), eff.UTC().Format(time.RFC3339), st.LastEventTime.UTC().Format(time.RFC3339))
	}
	from := func(allowed ...sinergiv1.CustodyStatus) bool {
		for _, a := range allowed {
			if st.Status == a {
				return true
			}
		}
		return false
	}
	refuse := func() (sinergiv1.CustodyStatus, string) {
		switch {
		case st.Status == deceased:
			return 0, fmt.Sprintf("cannot record %s: the person is recorded as deceased", custodyEventWord(ev.GetType()))
		case ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE && st.Status == released:
			return 0, "cannot release: the person is already released"
		case ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION && st.Status == held:
			return 0, "cannot admit: the person is already held"
		}
		return 0, fmt.Sprintf("cannot record %s: the record is %s", custodyEventWord(ev.GetType()), custodyStatusWord(st.Status))
	}
	switch ev.GetType() {
	case sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION:
		if from(registered, released) {
			return held, ""
		}
	case sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_OUT:
		if from(held) {
			return transferred, ""
		}
	case sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_IN:
		if !from(registered, released, transferred) {
			return refuse()
		}
		// One answer whether the origin has no such record, holds it, or
		// sent the person elsewhere: a transfer in cannot probe another
		// facility's records.
		o := st.Origin
		if o == nil || o.Status != transferred || o.EventID == 0 || o.Destination != facility || o.Received {
			return 0, "cannot record transfer in: the facility of origin has no transfer out of that register number to this facility awaiting receipt"
		}
		if eff.Before(o.EffectiveTime) {
			return 0, "cannot record transfer in: it is effective before the transfer out it completes"
		}
		return held, ""
	case sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE, sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ESCAPE:
		if from(held) {
			if ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE {
				return released, ""
			}
			return escaped, ""
		}
	case sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RECAPTURE:
		if from(escaped) {
			return held, ""
		}
	case sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_DEATH:
		if from(held, escaped) {
			return deceased, ""
		}
	case sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_COURT_APPEARANCE, sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_HOSPITAL:
		if from(held) {
			return held, ""
		}
	}
	return refuse()
}

type incomingPosition struct {
	After int64 `json:"a"`
}

// ListIncomingTransfers lists the people on their way to the caller.
func (s *Custody) ListIncomingTransfers(ctx context.Context, req *sinergiv1.ListIncomingTransfersRequest) (*sinergiv1.ListIncomingTransfersResponse, error) {
	code := caller(ctx).Institution.GetCode()
	query := custodyQuery("incoming-transfers", code)
	var pos incomingPosition
	if req.GetPageToken() != "" {
		if err := s.Tokens.Open(req.GetPageToken(), query, &pos); err != nil {
			return nil, s.badToken()
		}
	}
	size := pageSize(req.GetPageSize())
	list, err := s.Store.ListIncomingTransfers(ctx, code, pos.After, size+1)
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	resp := &sinergiv1.ListIncomingTransfersResponse{}
	if len(list) > size {
		list = list[:size]
		if resp.NextPageToken, err = s.Tokens.Seal(query, incomingPosition{After: list[size-1].Event.GetId()}); err != nil {
			return nil, err
		}
	}
	for _, in := range list {
		resp.Transfers = append(resp.Transfers, &sinergiv1.IncomingTransfer{Record: in.Record, TransferOut: in.Event})
	}
	return resp, nil
}
