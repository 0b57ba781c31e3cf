package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/presence"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Custody implements CustodyService.
type Custody struct {
	sinergiv1.UnimplementedCustodyServiceServer
	*Deps

	tailOnce sync.Once
	tail     *custodyTail
}

// events is the process's tail of ordered custody events, which every
// watcher reads.
func (s *Custody) events() *custodyTail {
	s.tailOnce.Do(func() { s.tail = newCustodyTail(s.Store, currentWatchTuning().Tail) })
	return s.tail
}

func init() {
	// Every record and event in a response is an audit subject, attributed
	// to the agreements that granted its facility (the authz interceptor
	// walks unary responses; the watch stream attributes each delivery).
	authz.RegisterSubject((&sinergiv1.CustodyRecord{}).ProtoReflect().Descriptor().FullName(), "custody", "id", "facility_code")
	authz.RegisterSubject((&sinergiv1.CustodyEvent{}).ProtoReflect().Descriptor().FullName(), "custody", "record_id", "facility_code")
	authz.RegisterSubject((&sinergiv1.Watch{}).ProtoReflect().Descriptor().FullName(), "watch", "id", "institution_code")
}

// errRecordNotFound is the one answer for a record that does not exist and
// for one outside the caller's reach, so nobody can probe where a person is held.
var errRecordNotFound = status.Error(codes.NotFound, "custody record not found")

// custodyError maps storage errors of custody calls.
func (s *Custody) custodyError(ctx context.Context, err error) error {
	var pe *store.PreconditionError
	if _, ok := status.FromError(err); ok && err != nil {
		return err // already a status (a refusal decided on the way)
	}
	switch {
	case errors.As(err, &pe):
		return status.Error(codes.FailedPrecondition, pe.Reason)
	case errors.Is(err, store.ErrNotFound):
		return errRecordNotFound
	case store.IsLockTimeout(err):
		// Another write holds the facility's records (a roster merge).
		return status.Error(codes.Unavailable, "the facility's records are being updated: retry shortly")
	}
	return s.storeError(ctx, err, "custody record")
}

// initials turns "Budi Santoso" into "B. S.".
func initials(name string) string {
	var parts []string
	for _, w := range strings.Fields(name) {
		r, _ := utf8.DecodeRuneInString(w)
		if unicode.IsLetter(r) {
			parts = append(parts, string(unicode.ToUpper(r))+".")
		}
	}
	return strings.Join(parts, " ")
}

// shield is the one place a child's identity is hidden (UU 11/2012 art.
// 19): every record and event subject leaving the service goes through it.
// Unless grant shows children's identities (own data, or an agreement
// covering children's data), a child's identity keeps only initials, sex
// and nationality. It reports whether it masked.
func shield(child bool, grant authz.Grant, id *sinergiv1.Identity) (*sinergiv1.Identity, bool) {
	if !child || grant.Children {
		return id, false
	}
	return &sinergiv1.Identity{FullName: initials(id.GetFullName()), Sex: id.GetSex(), Nationality: id.GetNationality()}, true
}

// present is a record as the holder of grant may see it: the classes of
// data the grant's agreements do not cover withheld, a child's identity
// shielded.
func present(rec *sinergiv1.CustodyRecord, grant authz.Grant) *sinergiv1.CustodyRecord {
	full := grant.Classes.Covers(authz.CustodyClasses)
	if full && (!rec.GetChild() || grant.Children) {
		return rec
	}
	out := proto.Clone(rec).(*sinergiv1.CustodyRecord)
	if !full {
		out.WithheldClasses = authz.Mask(out, grant.Classes).Proto()
	}
	if out.Identity != nil {
		id, masked := shield(rec.GetChild(), grant, out.GetIdentity())
		if masked {
			out.Identity, out.IdentityMasked, out.PhotoSha256 = id, true, ""
		}
	}
	return out
}

// custodyQuery names a query in its page tokens without carrying its
// criteria (a NIK, a name) inside the token.
func custodyQuery(kind string, parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%v\x00", p)
	}
	return kind + "|" + hex.EncodeToString(h.Sum(nil)[:16])
}

func custodyParseDate(s string) time.Time {
	t, _ := time.Parse("2006-01-02", s)
	return t
}

// GetCustodyRecord returns one record within the caller's reach.
func (s *Custody) GetCustodyRecord(ctx context.Context, req *sinergiv1.GetCustodyRecordRequest) (*sinergiv1.GetCustodyRecordResponse, error) {
	rs, reach, err := authz.RestrictionFrom(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := s.Store.GetCustodyRecord(ctx, rs, req.GetId())
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	g, _ := reach.Grant(rec.GetFacilityCode())
	return &sinergiv1.GetCustodyRecordResponse{Record: present(rec, g)}, nil
}

type custodySearchPosition struct {
	Facility string `json:"f,omitempty"`
	Register string `json:"r,omitempty"`
	Offset   int    `json:"o,omitempty"`
}

// maxSearchOffset bounds how deep ranked name results may be paged.
const maxSearchOffset = 10000

// SearchCustodyRecords finds records within the caller's reach.
func (s *Custody) SearchCustodyRecords(ctx context.Context, req *sinergiv1.SearchCustodyRecordsRequest) (*sinergiv1.SearchCustodyRecordsResponse, error) {
	rs, reach, err := authz.RestrictionFrom(ctx)
	if err != nil {
		return nil, err
	}
	f := store.CustodyFilter{
		Restriction: rs,
		NIK:         req.GetNik(), RegisterNumber: req.GetRegisterNumber(), Name: req.GetName(), FacilityCode: req.GetFacilityCode(),
		Passport: req.GetPassportNumber(),
		Status:   req.GetStatus(), LegalKind: req.GetLegalStatus(),
	}
	if req.GetBirthDate() != "" {
		b := custodyParseDate(req.GetBirthDate())
		tol := time.Duration(req.GetBirthDateToleranceDays()) * 24 * time.Hour
		f.BirthFrom, f.BirthTo = b.Add(-tol), b.Add(tol)
	}
	query := custodyQuery("custody-search", reach.Caller.GetCode(), f.NIK, f.RegisterNumber, store.NormalizeName(f.Name), req.GetBirthDate(),
		req.GetBirthDateToleranceDays(), f.FacilityCode, f.Status, f.LegalKind, store.NormalizePassport(f.Passport))
	var pos custodySearchPosition
	if req.GetPageToken() != "" {
		if err := s.Tokens.Open(req.GetPageToken(), query, &pos); err != nil {
			return nil, s.badToken()
		}
	}
	size := pageSize(req.GetPageSize())
	f.AfterFacility, f.AfterRegister, f.Offset, f.Limit = pos.Facility, pos.Register, pos.Offset, size+1
	recs, err := s.Store.SearchCustodyRecords(ctx, f)
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	resp := &sinergiv1.SearchCustodyRecordsResponse{}
	if len(recs) > size {
		recs = recs[:size]
		next := custodySearchPosition{Facility: recs[size-1].GetFacilityCode(), Register: recs[size-1].GetRegisterNumber()}
		if f.Name != "" {
			next = custodySearchPosition{Offset: pos.Offset + size}
		}
		if next.Offset <= maxSearchOffset {
			if resp.NextPageToken, err = s.Tokens.Seal(query, next); err != nil {
				return nil, err
			}
		}
	}
	for _, rec := range recs {
		g, _ := reach.Grant(rec.GetFacilityCode())
		resp.Records = append(resp.Records, present(rec, g))
	}
	return resp, nil
}

type custodyEventPosition struct {
	After int64 `json:"a"`
}

// ListCustodyEvents lists one record's events, oldest first.
func (s *Custody) ListCustodyEvents(ctx context.Context, req *sinergiv1.ListCustodyEventsRequest) (*sinergiv1.ListCustodyEventsResponse, error) {
	rs, _, err := authz.RestrictionFrom(ctx)
	if err != nil {
		return nil, err
	}
	query := custodyQuery("custody-events", req.GetRecordId())
	var pos custodyEventPosition
	if req.GetPageToken() != "" {
		if err := s.Tokens.Open(req.GetPageToken(), query, &pos); err != nil {
			return nil, s.badToken()
		}
	}
	size := pageSize(req.GetPageSize())
	events, err := s.Store.ListCustodyEvents(ctx, rs, req.GetRecordId(), pos.After, size+1)
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	// The record is the subject even when it has no event yet.
	e := audit.FromContext(ctx)
	e.AddSubjects(store.CustodySubject(req.GetRecordId()))
	resp := &sinergiv1.ListCustodyEventsResponse{}
	if len(events) > size {
		events = events[:size]
		if resp.NextPageToken, err = s.Tokens.Seal(query, custodyEventPosition{After: events[size-1].GetId()}); err != nil {
			return nil, err
		}
	}
	resp.Events = events
	return resp, nil
}

// CheckPresence answers hit or no hit: where and since when within the
// caller's reach, nothing else. A police unit asks nationally (see
// presence.go): a person held beyond its reach, where an agreement covers
// the two for custody events, is a remote hit.
func (s *Custody) CheckPresence(ctx context.Context, req *sinergiv1.CheckPresenceRequest) (*sinergiv1.CheckPresenceResponse, error) {
	rs, reach, err := authz.RestrictionFrom(ctx)
	if err != nil {
		return nil, err
	}
	c := caller(ctx)
	var national *authz.Reach
	if presence.National(c.Institution.GetKind()) {
		national = authz.NationalReach(c.Directory, c.Institution, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, s.Now())
		rs = national.Restriction()
	}
	hits, err := s.Store.FindPresence(ctx, rs, req.GetNik(), req.GetFullName(), custodyParseDate(req.GetBirthDate()))
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	// The answer carries no record, so the interceptor cannot see what was
	// disclosed: a hit names its record here.
	e := audit.FromContext(ctx)
	resp := &sinergiv1.CheckPresenceResponse{}
	var remote []store.Presence
	for _, h := range hits {
		g, ok := reach.Grant(h.FacilityCode)
		switch {
		case !ok:
			remote = append(remote, h)
			continue
		case h.Child && !g.Children:
			continue // as the caller's own reach finds it: not at all
		}
		e.AddSubjects(store.CustodySubject(h.RecordID))
		e.AddAgreements(g.Agreements...)
		resp.Placements = append(resp.Placements, &sinergiv1.Placement{FacilityCode: h.FacilityCode, HeldSince: timestamppb.New(h.HeldSince)})
	}
	if len(remote) > 0 {
		if err := s.remoteHits(ctx, c, national, req.GetAccess(), remote, resp); err != nil {
			return nil, err
		}
	}
	resp.Held = len(resp.Placements)+len(resp.RemoteHits) > 0
	return resp, nil
}
