// Package firearms_test proves FirearmsService end to end, through the
// generated client over mutual TLS against a real server on a real
// PostgreSQL: the inventory and its history, licences and who decides
// them, issue and return, inspections and their findings, loss, theft and
// discharge through the report flow, expiry warnings under an injected
// clock, the watch stream, statistics, what each institution may see, and
// what the database itself refuses.
package firearms_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/firearms"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// Officers: a facility's (NIP) and the police's (NRP); two holders (NIPs).
var (
	keeper     = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}
	supervisor = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
	overseer   = &sinergiv1.AccessContext{OperatorId: "198001012006041001", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
)

// holderName is the name every test holder has: tests look for it, and
// for the holders' NIPs, in the server's logs.
const holderName = "Rahmat Hidayat Siregar"

// accessFor is the access context an institution's officer gives.
func accessFor(code string) *sinergiv1.AccessContext {
	switch {
	case strings.HasPrefix(code, "pol") || code == "mabes-polri":
		return supervisor
	case code == "kemenimipas" || strings.HasPrefix(code, "kanwil"):
		return overseer
	}
	return keeper
}

// start runs a server whose clock stands at now (to the second).
func start(t *testing.T, d *pgtest.DB) (*servertest.Env, time.Time) {
	t.Helper()
	env := servertest.Start(t, d, servertest.Options{})
	now := time.Now().Truncate(time.Second)
	env.Clock.Set(now)
	return env, now
}

func as(t *testing.T, env *servertest.Env, code string) sinergiv1.FirearmsServiceClient {
	t.Helper()
	return sinergiv1.NewFirearmsServiceClient(env.ConnAs(t, code))
}

var serialSeq atomic.Int64

// serial is a fresh serial number.
func serial(t *testing.T) string {
	return fmt.Sprintf("SN-%d-%d", time.Now().UnixNano()%1_000_000_000, serialSeq.Add(1))
}

func codeOf(err error) codes.Code { return status.Code(err) }

// register registers a weapon of category at the facility c is for.
func register(t *testing.T, c sinergiv1.FirearmsServiceClient, category sinergiv1.WeaponCategory) *sinergiv1.Weapon {
	t.Helper()
	req := &sinergiv1.RegisterWeaponRequest{Access: keeper, Category: category, Make: "Pindad", Model: "G2 Combat", Calibre: "9x19mm",
		SerialNumber: serial(t), Armoury: "Gudang senjata blok A",
		Acquisition: &sinergiv1.WeaponAcquisition{AcquireTime: timestamppb.New(time.Now().AddDate(-1, 0, 0)), Source: "Pindad (Persero)", Document: "BAST/12/2025"}}
	if category == sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK {
		req.Calibre, req.Model = "", "Stun baton"
	}
	resp, err := c.RegisterWeapon(context.Background(), req)
	if err != nil {
		t.Fatalf("RegisterWeapon: %v", err)
	}
	return resp.GetWeapon()
}

// applyOwnership applies for weapon w's ownership licence.
func applyOwnership(t *testing.T, c sinergiv1.FirearmsServiceClient, w *sinergiv1.Weapon) *sinergiv1.FirearmLicence {
	t.Helper()
	r, err := c.ApplyForLicence(context.Background(), &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP,
		WeaponId: w.GetId(), Justification: "Senjata jaga"})
	if err != nil {
		t.Fatalf("ApplyForLicence (ownership): %v", err)
	}
	return r.GetLicence()
}

func applyHolder(t *testing.T, c sinergiv1.FirearmsServiceClient, nip string, category sinergiv1.WeaponCategory) *sinergiv1.FirearmLicence {
	t.Helper()
	r, err := c.ApplyForLicence(context.Background(), &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER,
		HolderNip: nip, HolderName: holderName, Category: category})
	if err != nil {
		t.Fatalf("ApplyForLicence (holder): %v", err)
	}
	return r.GetLicence()
}

var numberSeq atomic.Int64

// approve has unit approve licence l until expire.
func approve(t *testing.T, unit sinergiv1.FirearmsServiceClient, l *sinergiv1.FirearmLicence, effective, expire time.Time) *sinergiv1.FirearmLicence {
	t.Helper()
	req := &sinergiv1.ApproveLicenceRequest{Access: supervisor, Id: l.GetId(), Number: fmt.Sprintf("SI/%d/XII/2026/Intelkam", numberSeq.Add(1)+time.Now().UnixNano()%1_000_000),
		ExpireTime: timestamppb.New(expire), Conditions: "Disimpan di gudang senjata terkunci"}
	if !effective.IsZero() {
		req.EffectiveTime = timestamppb.New(effective)
	}
	r, err := unit.ApproveLicence(context.Background(), req)
	if err != nil {
		t.Fatalf("ApproveLicence: %v", err)
	}
	return r.GetLicence()
}

var nipSeq atomic.Int64

// freshNIP is an NIP no other test uses (birth 1990-01-01, appointed
// 2015-03, a serial of its own).
func freshNIP() string {
	n := nipSeq.Add(1)
	return fmt.Sprintf("1990%02d%02d201503%d%03d", 1+n/28%12, 1+n%28, 1+n/336%2, n%1000)
}

// licensed registers a weapon at facility and has unit license it, and a
// fresh officer to carry its category, both for a year: ready to issue.
func licensed(t *testing.T, env *servertest.Env, facility, unit string, category sinergiv1.WeaponCategory, now time.Time) (*sinergiv1.Weapon, string) {
	t.Helper()
	f, u := as(t, env, facility), as(t, env, unit)
	w := register(t, f, category)
	approve(t, u, applyOwnership(t, f, w), time.Time{}, now.AddDate(1, 0, 0))
	nip := freshNIP()
	approve(t, u, applyHolder(t, f, nip, category), time.Time{}, now.AddDate(1, 0, 0))
	return w, nip
}

func receive(t *testing.T, c sinergiv1.FirearmsServiceClient, facility, calibre string, rounds int64) {
	t.Helper()
	if _, err := c.RecordAmmunition(context.Background(), &sinergiv1.RecordAmmunitionRequest{Access: keeper, Calibre: calibre,
		Change: sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_RECEIVED, Rounds: rounds, Note: "BAST/7/2026"}); err != nil {
		t.Fatalf("RecordAmmunition: %v", err)
	}
}

// wantCode fails unless err has code want and, for INVALID_ARGUMENT, names fields.
func wantCode(t *testing.T, what string, err error, want codes.Code, fields ...string) {
	t.Helper()
	if codeOf(err) != want {
		t.Fatalf("%s: %v, want %s", what, err, want)
	}
	if want == codes.InvalidArgument && len(fields) > 0 {
		got := validate.FieldsOf(err)
		for _, f := range fields {
			found := false
			for _, g := range got {
				found = found || g == f
			}
			if !found {
				t.Fatalf("%s: fields %v, want %s among them", what, got, f)
			}
		}
	}
}

// wantRefused fails unless err is FAILED_PRECONDITION saying each of words.
func wantRefused(t *testing.T, what string, err error, words ...string) {
	t.Helper()
	if codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("%s: %v, want FailedPrecondition", what, err)
	}
	for _, w := range words {
		if !strings.Contains(status.Convert(err).Message(), w) {
			t.Fatalf("%s: %q does not say %q", what, status.Convert(err).Message(), w)
		}
	}
}

// watch is an open WatchFirearms stream.
type watch struct {
	t      *testing.T
	stream grpc.ServerStreamingClient[sinergiv1.WatchFirearmsResponse]
	cursor string
}

func openWatch(t *testing.T, c sinergiv1.FirearmsServiceClient, access *sinergiv1.AccessContext, cursor string) *watch {
	t.Helper()
	// The deadline keeps a broken test from hanging: every Recv waits for
	// an event the test knows is coming.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	stream, err := c.WatchFirearms(ctx, &sinergiv1.WatchFirearmsRequest{Access: access, Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("opening the watch: %v", err)
	}
	if first.GetEvent() != nil || first.GetCursor() == "" {
		t.Fatalf("first message %v, want a cursor alone", first)
	}
	return &watch{t: t, stream: stream, cursor: first.GetCursor()}
}

// until receives events until one of kind about licence, weapon or
// inspection id arrives, and returns it and the events received before it.
func (w *watch) until(kind sinergiv1.FirearmEventKind, id string) (*sinergiv1.FirearmEvent, []*sinergiv1.FirearmEvent) {
	w.t.Helper()
	var before []*sinergiv1.FirearmEvent
	for {
		msg, err := w.stream.Recv()
		if err != nil {
			w.t.Fatalf("waiting for %s of %s: %v", kind, id, err)
		}
		w.cursor = msg.GetCursor()
		ev := msg.GetEvent()
		if ev.GetKind() == kind && (ev.GetLicenceId() == id || ev.GetWeaponId() == id || ev.GetInspectionId() == id) {
			return ev, before
		}
		before = append(before, ev)
	}
}

// expirer is a pass of the expiry worker at env's clock, run by the test.
func expirer(env *servertest.Env) *firearms.Expirer {
	return &firearms.Expirer{Store: env.Server.Store, Audit: env.Server.Writer.Sealer(), Now: env.Clock.Now, Log: env.Server.Config().Log}
}

func tick(t *testing.T, env *servertest.Env) int {
	t.Helper()
	n, err := expirer(env).Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// events lists weapon or licence id's events, oldest first, as kinds.
func events(t *testing.T, c sinergiv1.FirearmsServiceClient, access *sinergiv1.AccessContext, weapon, licence string) []sinergiv1.FirearmEventKind {
	t.Helper()
	r, err := c.ListFirearmEvents(context.Background(), &sinergiv1.ListFirearmEventsRequest{Access: access, WeaponId: weapon, LicenceId: licence, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []sinergiv1.FirearmEventKind
	for i := len(r.GetEvents()) - 1; i >= 0; i-- {
		out = append(out, r.GetEvents()[i].GetKind())
	}
	return out
}

// timestamppbIn is the moment d from now.
func timestamppbIn(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(time.Now().Add(d)) }

// pgtestFresh gives a test its own database (see pgtest.Fresh).
func pgtestFresh(t *testing.T) *pgtest.DB { return pgtest.Fresh(t) }
