package api

import (
	"context"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

const (
	// rosterChunk is how many records are staged per COPY: large enough
	// for COPY's speed, small enough that the handler holds little.
	rosterChunk = 5000
	// rosterMaxRecords bounds one upload (the largest prison holds a few thousand).
	rosterMaxRecords = 1_000_000
	// rosterListLimit bounds each list of the answer.
	rosterListLimit = 1000
)

// SyncRoster takes a facility's roster upload. Records are validated one by
// one as they arrive (a bad one is rejected alone, with its position),
// staged by COPY in short transactions (a slow upload holds no transaction
// open), and merged in one transaction with the call's audit record.
func (s *Custody) SyncRoster(stream sinergiv1.CustodyService_SyncRosterServer) (err error) {
	var resp *sinergiv1.SyncRosterResponse
	defer func() { s.Metrics.roster(resp, err) }()
	ctx := stream.Context()
	c := caller(ctx)
	facility := c.Institution.GetCode()
	now := s.Now()
	full, rosterTime := false, now

	up, err := s.Store.BeginRoster(ctx, facility)
	if errors.Is(err, store.ErrRosterBusy) {
		return status.Error(codes.Aborted, "another roster upload for "+facility+" is in progress: retry when it has ended")
	}
	if err != nil {
		return s.custodyError(ctx, err)
	}
	defer up.Close()
	// Staging runs beside receiving: while one chunk is copied in, the
	// next is received and validated. Stopped before up is closed.
	st := startStaging(ctx, up)
	defer st.finish()

	var (
		rejections []*sinergiv1.RosterRejection
		rejected   int64
		position   int64
		chunk      = make([]store.StagedRecord, 0, rosterChunk)
	)
	reject := func(pos int64, rn string, vs []*sinergiv1.RosterViolation) {
		rejected++
		if len(rejections) < rosterListLimit {
			rejections = append(rejections, &sinergiv1.RosterRejection{Position: pos, RegisterNumber: rn, Violations: vs})
		}
	}
	for first := true; ; first = false {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if h := req.GetHeader(); h != nil {
			if !first {
				return validate.Error("header", "only as the first message of the upload")
			}
			if err := validate.Request(req); err != nil {
				return err
			}
			full = h.GetFull()
			if h.GetRosterTime() != nil {
				rosterTime = h.GetRosterTime().AsTime()
				if rosterTime.After(now.Add(custodyClockSkew)) {
					return validate.Error("header.roster_time", "must not be in the future")
				}
			}
			continue
		}
		pos := position
		position++
		if position > rosterMaxRecords {
			return validate.Error("record", "an upload holds at most %d records", rosterMaxRecords)
		}
		rec := req.GetRecord()
		if err := validate.Request(req); err != nil {
			rn := rec.GetRegisterNumber()
			if len(rn) > 64 || !validate.IsText(rn) {
				rn = "" // not echoed: the position names the record
			}
			reject(pos, rn, rosterViolations(err))
			continue
		}
		if fc := rec.GetFacilityCode(); fc != "" && fc != facility {
			reject(pos, rec.GetRegisterNumber(), []*sinergiv1.RosterViolation{{Field: "facility_code", Description: "a facility uploads only its own records"}})
			continue
		}
		if rec.GetHeldSince() != nil && rec.GetHeldSince().AsTime().After(now.Add(custodyClockSkew)) {
			reject(pos, rec.GetRegisterNumber(), []*sinergiv1.RosterViolation{{Field: "held_since", Description: "must not be in the future"}})
			continue
		}
		chunk = append(chunk, store.StagedRecord{Position: pos, Record: rec})
		if len(chunk) == rosterChunk {
			if err := st.add(chunk); err != nil {
				return s.custodyError(ctx, err)
			}
			chunk = make([]store.StagedRecord, 0, rosterChunk)
		}
	}
	if len(chunk) > 0 {
		if err := st.add(chunk); err != nil {
			return s.custodyError(ctx, err)
		}
	}
	if err := st.finish(); err != nil {
		return s.custodyError(ctx, err)
	}
	res, err := up.Merge(ctx, audit.FromContext(ctx), facility, custodyKindText(c.Institution.GetKind()), full, rosterTime, now, rosterListLimit)
	if err != nil {
		return s.custodyError(ctx, err)
	}
	if res.Inserted+res.Updated >= store.BulkChange {
		// After the reply, not before it: the upload is done either way.
		go func() {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			if err := s.Store.AnalyzeCustody(actx); err != nil {
				s.Log.Warn("analyze after a bulk roster failed", "facility", facility, "error", err)
			}
		}()
	}

	for _, d := range res.Duplicates {
		reject(d.Position, d.RegisterNumber, []*sinergiv1.RosterViolation{{Field: "register_number",
			Description: "repeats the register number of the record at position " + strconv.FormatInt(d.FirstPosition, 10) + ", which was applied"}})
	}
	sort.Slice(rejections, func(i, j int) bool { return rejections[i].GetPosition() < rejections[j].GetPosition() })
	if len(rejections) > rosterListLimit {
		rejections = rejections[:rosterListLimit]
	}
	resp = &sinergiv1.SyncRosterResponse{
		Received: position, Inserted: res.Inserted, Updated: res.Updated, Unchanged: res.Unchanged, Rejected: rejected,
		Rejections: rejections, MissingCount: res.MissingCount, NotHeldCount: res.NotHeldCount,
		ReconciliationItemsOpened: res.ReconciliationOpened,
	}
	for _, m := range res.Missing {
		resp.Missing = append(resp.Missing, &sinergiv1.RosterDiscrepancy{RecordId: m.RecordID, RegisterNumber: m.RegisterNumber, Status: m.Status})
	}
	for _, m := range res.NotHeld {
		resp.NotHeld = append(resp.NotHeld, &sinergiv1.RosterDiscrepancy{RecordId: m.RecordID, RegisterNumber: m.RegisterNumber, Status: m.Status})
	}
	return stream.SendAndClose(resp)
}

// rosterViolations turns a validation error into the record's violations,
// fields named within the record.
func rosterViolations(err error) []*sinergiv1.RosterViolation {
	var out []*sinergiv1.RosterViolation
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, f := range br.GetFieldViolations() {
					out = append(out, &sinergiv1.RosterViolation{Field: strings.TrimPrefix(f.GetField(), "record."), Description: f.GetDescription()})
				}
			}
		}
	}
	if len(out) == 0 {
		out = append(out, &sinergiv1.RosterViolation{Field: "record", Description: "invalid"})
	}
	return out
}

// staging copies chunks of an upload in the background, one at a time, at
// most one waiting: the handler holds at most three chunks.
type staging struct {
	chunks chan []store.StagedRecord
	failed chan struct{} // closed when a chunk fails; err is then set
	done   chan struct{}
	err    error
	closed bool
}

func startStaging(ctx context.Context, up *store.RosterUpload) *staging {
	st := &staging{chunks: make(chan []store.StagedRecord, 1), failed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(st.done)
		for c := range st.chunks {
			if st.err != nil {
				continue // drain: the upload has failed
			}
			if st.err = up.Stage(ctx, c); st.err != nil {
				close(st.failed)
			}
		}
	}()
	return st
}

// add queues a chunk; it returns an earlier chunk's failure, if any.
func (st *staging) add(c []store.StagedRecord) error {
	select {
	case <-st.failed:
		return st.err
	case st.chunks <- c:
		return nil
	}
}

// finish waits for every queued chunk and returns the first failure. The
// upload's connection is free once it returns.
func (st *staging) finish() error {
	if !st.closed {
		st.closed = true
		close(st.chunks)
	}
	<-st.done
	return st.err
}
