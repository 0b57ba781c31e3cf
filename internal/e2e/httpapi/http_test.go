package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestJSONCalls calls as curl does: a POST of JSON to
// https://<http-addr>/<service>/<method> with the institution's client
// certificate, for ListInstitutions, CheckPresence and GetCustodyRecord
// as a police unit, and the health check.
func TestJSONCalls(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	rec := admitted(t, env)
	hc := env.HTTPClientAs(t, "polres-metro")
	addr := env.HTTPAddr()

	t.Run("ListInstitutions", func(t *testing.T) {
		code, body := postJSON(t, hc, addr, sinergiv1.InstitutionService_ListInstitutions_FullMethodName, "", `{"pageSize": 500}`)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var resp sinergiv1.ListInstitutionsResponse
		decode(t, body, &resp)
		found := false
		for _, in := range resp.GetInstitutions() {
			found = found || in.GetCode() == "lapas-metro"
		}
		if !found {
			t.Errorf("lapas-metro not among %d institutions", len(resp.GetInstitutions()))
		}
		// The JSON names are the proto3 JSON mapping's, camelCase; enums by name.
		if !strings.Contains(string(body), `"regionCode"`) || !strings.Contains(string(body), `"INSTITUTION_KIND_LAPAS"`) {
			t.Errorf("body is not proto3 JSON: %.300s", body)
		}
	})

	t.Run("CheckPresence", func(t *testing.T) {
		req := jsonOf(t, &sinergiv1.CheckPresenceRequest{Access: investigator, Nik: rec.GetIdentity().GetNik()})
		code, body := postJSON(t, hc, addr, sinergiv1.CustodyService_CheckPresence_FullMethodName, "", req)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var resp sinergiv1.CheckPresenceResponse
		decode(t, body, &resp)
		if !resp.GetHeld() || len(resp.GetPlacements()) != 1 || resp.GetPlacements()[0].GetFacilityCode() != "lapas-metro" {
			t.Errorf("presence %s, want held at lapas-metro", body)
		}
		// A person not held: the answer still says so, in JSON a script can test.
		other := rec.GetIdentity().GetNik()[:12] + "9999"
		code, body = postJSON(t, hc, addr, sinergiv1.CustodyService_CheckPresence_FullMethodName, "",
			`{"access": {"operatorId": "85051234", "purpose": "PURPOSE_CRIMINAL_INVESTIGATION", "caseReference": "LP/B/123/VIII/2025/SPKT"}, "nik": "`+other+`"}`)
		var answer map[string]any
		if err := json.Unmarshal(body, &answer); err != nil || code != http.StatusOK || answer["held"] != false {
			t.Errorf("not held: status %d %s, want held false written out", code, body)
		}
	})

	t.Run("GetCustodyRecord", func(t *testing.T) {
		id := requestID("http-get")
		req := jsonOf(t, &sinergiv1.GetCustodyRecordRequest{Access: investigator, Id: rec.GetId()})
		code, body := postJSON(t, hc, addr, sinergiv1.CustodyService_GetCustodyRecord_FullMethodName, id, req)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var resp sinergiv1.GetCustodyRecordResponse
		decode(t, body, &resp)
		if resp.GetRecord().GetId() != rec.GetId() || resp.GetRecord().GetIdentity().GetNik() != rec.GetIdentity().GetNik() {
			t.Errorf("record %s, want %s", body, rec.GetId())
		}
		// Audited as over gRPC: the caller, the officer, the case, the subject.
		a := auditOf(t, env, id)
		if len(a) != 1 || a[0].Caller != "polres-metro" || a[0].Decision != "ALLOWED" || a[0].Status != "OK" ||
			a[0].Operator != investigator.GetOperatorId() || a[0].Case != investigator.GetCaseReference() || len(a[0].Subjects) != 1 {
			t.Errorf("audit %+v", a)
		}
	})

	t.Run("health", func(t *testing.T) {
		code, body := postJSON(t, hc, addr, "/grpc.health.v1.Health/Check", "", `{}`)
		var resp healthpb.HealthCheckResponse
		if code == http.StatusOK {
			decode(t, body, &resp)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health: %d %s", code, body)
		}
	})

	t.Run("not found as over gRPC", func(t *testing.T) {
		missing := &sinergiv1.GetCustodyRecordRequest{Access: investigator, Id: "00000000-0000-4000-8000-000000000000"}
		code, body := postJSON(t, hc, addr, sinergiv1.CustodyService_GetCustodyRecord_FullMethodName, "", jsonOf(t, missing))
		_, grpcErr := sinergiv1.NewCustodyServiceClient(env.ConnAs(t, "polres-metro")).GetCustodyRecord(context.Background(), missing)
		e := decodeError(t, body)
		if status.Code(grpcErr) != codes.NotFound || code != http.StatusNotFound || connectCode(e.Code) != codes.NotFound || e.Message != status.Convert(grpcErr).Message() {
			t.Errorf("over HTTP %d %s; over gRPC %v; want NOT_FOUND alike", code, body, grpcErr)
		}
	})

	t.Run("malformed JSON is the caller's mistake, refused and recorded", func(t *testing.T) {
		for name, bad := range map[string]string{
			"truncated":    `{"nik": 12`,
			"a wrong type": `{"nik": {"secret": "Budi Santoso 1872011204890001"}}`,
			"not JSON":     `Budi Santoso`,
		} {
			rid := fmt.Sprintf("http-bad-json-%d-%s", time.Now().UnixNano(), strings.ReplaceAll(name, " ", "-"))
			code, body := postJSON(t, hc, addr, sinergiv1.CustodyService_CheckPresence_FullMethodName, rid, bad)
			if e := decodeError(t, body); code != http.StatusBadRequest || e.Code != "invalid_argument" || !strings.Contains(e.Message, "sinergi.v1.CheckPresenceRequest") {
				t.Errorf("%s: status %d %s, want 400 invalid_argument naming the request message", name, code, body)
			}
			var recs []auditRow
			eventually(t, "the refusal's record", func() bool { recs = auditOf(t, env, rid); return len(recs) > 0 })
			r := recs[0]
			if len(recs) != 1 || r.Caller != "polres-metro" || r.Method != sinergiv1.CustodyService_CheckPresence_FullMethodName ||
				r.Decision != "REFUSED" || r.Status != "InvalidArgument" || !strings.HasPrefix(r.Reason, "request JSON does not decode") {
				t.Errorf("%s: audit %+v, want one REFUSED InvalidArgument record of polres-metro's CheckPresence", name, recs)
			}
			// What the caller sent stays out of the trail and the answer.
			for _, v := range []string{"Budi", "1872011204890001", "nama_lengkap"} {
				if strings.Contains(r.Reason, v) || strings.Contains(string(body), v) {
					t.Errorf("%s: %q reached the trail or the answer: %q / %s", name, v, r.Reason, body)
				}
			}
		}
	})
}

// connectCode is the gRPC code of a Connect error code ("permission_denied").
func connectCode(s string) codes.Code {
	var c connect.Code
	if err := c.UnmarshalText([]byte(s)); err != nil {
		return codes.Unknown
	}
	return codes.Code(c)
}

// TestRefusedOverHTTPAsOverGRPC: a call the policy or the validator refuses
// is refused over HTTP with the same code and the same field violations as
// over gRPC, and its audit record is the same in everything but its id.
func TestRefusedOverHTTPAsOverGRPC(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	conn := env.ConnAs(t, "polres-metro")
	hc := env.HTTPClientAs(t, "polres-metro")
	for _, tc := range []struct {
		name   string
		method string
		req    proto.Message
		call   func(ctx context.Context, req proto.Message) error
		code   codes.Code
		fields []string
	}{
		{"a method the police may not call", sinergiv1.AuditService_ListAuditRecords_FullMethodName,
			&sinergiv1.ListAuditRecordsRequest{Access: &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}},
			func(ctx context.Context, req proto.Message) error {
				_, err := sinergiv1.NewAuditServiceClient(conn).ListAuditRecords(ctx, req.(*sinergiv1.ListAuditRecordsRequest))
				return err
			}, codes.PermissionDenied, nil},
		{"no access context", sinergiv1.CustodyService_CheckPresence_FullMethodName,
			&sinergiv1.CheckPresenceRequest{Nik: "1872011204890001"},
			func(ctx context.Context, req proto.Message) error {
				_, err := sinergiv1.NewCustodyServiceClient(conn).CheckPresence(ctx, req.(*sinergiv1.CheckPresenceRequest))
				return err
			}, codes.InvalidArgument, []string{"access"}},
		{"a NIK that is no NIK", sinergiv1.CustodyService_CheckPresence_FullMethodName,
			&sinergiv1.CheckPresenceRequest{Access: investigator, Nik: "12345"},
			func(ctx context.Context, req proto.Message) error {
				_, err := sinergiv1.NewCustodyServiceClient(conn).CheckPresence(ctx, req.(*sinergiv1.CheckPresenceRequest))
				return err
			}, codes.InvalidArgument, []string{"nik"}},
		{"a case reference investigation needs", sinergiv1.CustodyService_SearchCustodyRecords_FullMethodName,
			&sinergiv1.SearchCustodyRecordsRequest{Access: &sinergiv1.AccessContext{OperatorId: "85051234",
				Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION}, FacilityCode: "lapas-metro"},
			func(ctx context.Context, req proto.Message) error {
				_, err := sinergiv1.NewCustodyServiceClient(conn).SearchCustodyRecords(ctx, req.(*sinergiv1.SearchCustodyRecordsRequest))
				return err
			}, codes.InvalidArgument, []string{"access.case_reference"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grpcID, httpID := requestID("refused-grpc"), requestID("refused-http")
			grpcErr := tc.call(withRequestID(ctx, grpcID), tc.req)
			if status.Code(grpcErr) != tc.code || !cmp.Equal(validate.FieldsOf(grpcErr), tc.fields) {
				t.Fatalf("over gRPC: %v (fields %v), want %v naming %v", grpcErr, validate.FieldsOf(grpcErr), tc.code, tc.fields)
			}
			code, body := postJSON(t, hc, env.HTTPAddr(), tc.method, httpID, jsonOf(t, tc.req))
			e := decodeError(t, body)
			if code == http.StatusOK || connectCode(e.Code) != tc.code || e.Message != status.Convert(grpcErr).Message() {
				t.Errorf("over HTTP: %d %s, want %v %q", code, body, tc.code, status.Convert(grpcErr).Message())
			}
			// The field violations come as a google.rpc.BadRequest detail,
			// in protobuf (value) and in JSON (debug) for a human.
			var fields []string
			for _, d := range e.Details {
				if d.Type != "google.rpc.BadRequest" {
					continue
				}
				raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d.Value, "="))
				if err != nil {
					t.Fatalf("detail value %q: %v", d.Value, err)
				}
				var br errdetails.BadRequest
				if err := proto.Unmarshal(raw, &br); err != nil {
					t.Fatal(err)
				}
				for _, f := range br.GetFieldViolations() {
					fields = append(fields, f.GetField())
				}
				var debug struct {
					FieldViolations []struct{ Field string } `json:"fieldViolations"`
				}
				if err := json.Unmarshal(d.Debug, &debug); err != nil || len(debug.FieldViolations) != len(br.GetFieldViolations()) {
					t.Errorf("debug %s: %v", d.Debug, err)
				}
			}
			if !cmp.Equal(fields, tc.fields) {
				t.Errorf("over HTTP the fields are %v, want %v", fields, tc.fields)
			}
			overGRPC, overHTTP := auditOf(t, env, grpcID), auditOf(t, env, httpID)
			if len(overGRPC) != 1 || overGRPC[0].Decision != "REFUSED" {
				t.Fatalf("audit over gRPC: %+v, want one refusal", overGRPC)
			}
			if diff := cmp.Diff(overGRPC, overHTTP); diff != "" {
				t.Errorf("audit over HTTP differs from over gRPC (-gRPC +HTTP):\n%s", diff)
			}
		})
	}

	t.Run("no client certificate: the handshake refused and audited", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: env.NoCertificate(t), ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		_, err := (&http.Client{Transport: tr}).Post("https://"+env.HTTPAddr()+sinergiv1.InstitutionService_ListInstitutions_FullMethodName,
			"application/json", strings.NewReader(`{}`))
		if err == nil {
			t.Fatal("a call without a client certificate went through")
		}
		eventually(t, "the refused handshake's audit record", func() bool {
			var n int
			if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE method = $1 AND reason LIKE 'tls handshake refused: no_certificate;%'`,
				authn.HandshakeMethod).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n > 0
		})
	})
}

// TestStreamsOverConnectAndGRPCWeb: a watch stream opened with the Connect
// protocol (JSON) and one with gRPC-Web (protobuf) on the HTTP listener
// each get the custody event of a person admitted after they opened, and
// each is audited as a stream over gRPC is.
func TestStreamsOverConnectAndGRPCWeb(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hc := env.HTTPClientAs(t, "polres-metro")
	url := "https://" + env.HTTPAddr() + sinergiv1.CustodyService_WatchCustodyEvents_FullMethodName
	type stream = *connect.ServerStreamForClient[sinergiv1.WatchCustodyEventsResponse]
	open := func(name string, opts ...connect.ClientOption) (stream, string) {
		c := connect.NewClient[sinergiv1.WatchCustodyEventsRequest, sinergiv1.WatchCustodyEventsResponse](hc, url, opts...)
		req := connect.NewRequest(&sinergiv1.WatchCustodyEventsRequest{Access: analyst})
		id := requestID("stream-" + name)
		req.Header().Set("x-request-id", id)
		st, err := c.CallServerStream(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !st.Receive() || st.Msg().GetCursor() == "" {
			t.Fatalf("%s: first message %v, %v; want a cursor", name, st.Msg(), st.Err())
		}
		return st, id
	}
	streams := map[string]stream{}
	ids := map[string]string{}
	streams["connect"], ids["connect"] = open("connect", connect.WithProtoJSON())
	streams["grpc-web"], ids["grpc-web"] = open("grpc-web", connect.WithGRPCWeb())

	rec := admitted(t, env)
	for name, st := range streams {
		for {
			if !st.Receive() {
				t.Fatalf("%s ended before the admission arrived: %v", name, st.Err())
			}
			if st.Msg().GetEvent().GetRecordId() == rec.GetId() {
				if st.Msg().GetEvent().GetType() != sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION {
					t.Errorf("%s: %v, want the admission", name, st.Msg())
				}
				break
			}
		}
		if err := st.Close(); err != nil {
			t.Errorf("%s close: %v", name, err)
		}
	}
	for name, id := range ids {
		eventually(t, name+" stream's audit records", func() bool {
			for _, a := range auditOf(t, env, id) {
				if a.Method == sinergiv1.CustodyService_WatchCustodyEvents_FullMethodName && a.Caller == "polres-metro" && a.Decision == "ALLOWED" &&
					len(a.Subjects) > 0 && a.Operator == analyst.GetOperatorId() {
					return true
				}
			}
			return false
		})
	}
}

// TestEveryUnaryMethodOverHTTP posts {} to every unary method the server
// serves: each reaches the gRPC server's interceptors over HTTP (a Connect
// answer, never the transcoder's 404 or 415) and leaves its audit record.
func TestEveryUnaryMethodOverHTTP(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	hc := env.HTTPClientAs(t, "polres-metro")
	n := 0
	for svc, info := range env.Server.GRPC.GetServiceInfo() {
		if !strings.HasPrefix(svc, "sinergi.") {
			continue
		}
		for _, m := range info.Methods {
			if m.IsClientStream || m.IsServerStream {
				continue
			}
			n++
			method := "/" + svc + "/" + m.Name
			id := requestID("every")
			code, body := postJSON(t, hc, env.HTTPAddr(), method, id, `{}`)
			if code != http.StatusOK {
				if e := decodeError(t, body); e.Code == "" || e.Code == "unimplemented" || e.Code == "unknown" || e.Code == "internal" {
					t.Errorf("%s: %d %s", method, code, body)
				}
			}
			if a := auditOf(t, env, id); len(a) != 1 || a[0].Method != method || a[0].Caller != "polres-metro" {
				t.Errorf("%s: audit %+v, want one record of the call", method, a)
			}
		}
	}
	if n < 40 {
		t.Fatalf("walked only %d unary methods", n)
	}
}

// TestRosterUploadOverConnect: the client stream of a roster upload, over
// the Connect protocol in JSON: good records kept, a bad one rejected
// naming its field, as over gRPC.
func TestRosterUploadOverConnect(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := connect.NewClient[sinergiv1.SyncRosterRequest, sinergiv1.SyncRosterResponse](env.HTTPClientAs(t, "lapas-metro"),
		"https://"+env.HTTPAddr()+sinergiv1.CustodyService_SyncRoster_FullMethodName, connect.WithProtoJSON())
	st := c.CallClientStream(ctx)
	bad := person()
	bad.Identity.Nik = "12345"
	for _, r := range []*sinergiv1.CustodyRecord{person(), bad, person()} {
		if err := st.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Record{Record: r}}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := st.CloseAndReceive()
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Msg
	var fields []string
	for _, r := range got.GetRejections() {
		for _, v := range r.GetViolations() {
			fields = append(fields, v.GetField())
		}
	}
	if got.GetReceived() != 3 || got.GetInserted() != 2 || got.GetRejected() != 1 || !cmp.Equal(fields, []string{"identity.nik"}) {
		t.Errorf("roster over Connect: %s", jsonOf(t, got))
	}
}
