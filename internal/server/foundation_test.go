package server_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func wib(date string) time.Time {
	t, err := time.ParseInLocation("2006-01-02", date, directory.WIB)
	if err != nil {
		panic(err)
	}
	return t
}

func codeOf(err error) codes.Code { return status.Code(err) }

// Administrators of each side, on whose behalf administrative acts are made.
var (
	ministryAdmin = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
	policeAdmin   = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
)

// TestEveryMethodHasPolicyAndValidator walks every method the server
// registers: each must have a policy entry, and each sinergi request type
// a validator. A method added without them fails here, and at run time
// is refused (fail closed).
func TestEveryMethodHasPolicyAndValidator(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	n := 0
	for svc, info := range env.Server.GRPC.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			n++
			if _, ok := authz.Lookup(full); !ok {
				t.Errorf("%s has no policy entry", full)
			}
			if !strings.HasPrefix(svc, "sinergi.") {
				continue
			}
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
			if err != nil {
				t.Fatal(err)
			}
			md := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(m.Name))
			if !validate.Registered(md.Input().FullName()) {
				t.Errorf("%s: request %s has no validator", full, md.Input().FullName())
			}
		}
	}
	if n < 15 {
		t.Fatalf("walked only %d methods", n)
	}
	// And the table has no entry for a method nobody serves.
	served := map[string]bool{}
	for svc, info := range env.Server.GRPC.GetServiceInfo() {
		for _, m := range info.Methods {
			served["/"+svc+"/"+m.Name] = true
		}
	}
	for m := range authz.Policy {
		if !served[m] && !strings.Contains(m, "v1alpha") && !strings.HasSuffix(m, "Health/List") {
			t.Errorf("policy entry %s names no served method", m)
		}
	}
}

func TestInstitutionService(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	c := env.As(t, "polres-metro")
	ctx := context.Background()

	got, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "polres-cilacap"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetInstitution().GetRegionCode() != "33.01" || got.GetInstitution().GetParentCode() != "polda-jawa-tengah" ||
		got.GetInstitution().GetKind() != sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES {
		t.Errorf("GetInstitution(polres-cilacap) = %v", got.GetInstitution())
	}
	if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "polres-atlantis"}); codeOf(err) != codes.NotFound {
		t.Errorf("unknown code: %v, want NotFound", err)
	}
	if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{}); codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"code"}) {
		t.Errorf("empty code: %v (fields %v), want InvalidArgument naming code", err, validate.FieldsOf(err))
	}

	list := func(req *sinergiv1.ListInstitutionsRequest) []string {
		t.Helper()
		var codes []string
		for {
			resp, err := c.Institutions.ListInstitutions(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range resp.GetInstitutions() {
				codes = append(codes, in.GetCode())
			}
			if resp.GetNextPageToken() == "" {
				return codes
			}
			req.PageToken = resp.GetNextPageToken()
		}
	}
	for _, tc := range []struct {
		name string
		req  *sinergiv1.ListInstitutionsRequest
		want []string
	}{
		{"region 33, paged by 1", &sinergiv1.ListInstitutionsRequest{RegionPrefix: "33", PageSize: 1},
			[]string{"lapas-permisan", "polda-jawa-tengah", "polres-cilacap", "polsek-nusakambangan"}},
		{"kind LPKA", &sinergiv1.ListInstitutionsRequest{Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA}, []string{"lpka-tenggarong"}},
		{"children of mabes", &sinergiv1.ListInstitutionsRequest{ParentCode: "mabes-polri"},
			[]string{"polda-jawa-tengah", "polda-kalimantan-timur", "polda-lampung", "polda-metro-jaya"}},
		{"region 64.02 facilities and police", &sinergiv1.ListInstitutionsRequest{RegionPrefix: "64.02", PageSize: 2},
			[]string{"lapas-tenggarong", "lpka-tenggarong", "lpp-tenggarong", "polres-kutai-kartanegara"}},
		{"region 3 is not a prefix of 33", &sinergiv1.ListInstitutionsRequest{RegionPrefix: "3"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "region 3 is not a prefix of 33" {
				_, err := c.Institutions.ListInstitutions(ctx, tc.req)
				if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"region_prefix"}) {
					t.Fatalf("region prefix 3: %v, want InvalidArgument naming region_prefix", err)
				}
				return
			}
			if diff := cmp.Diff(tc.want, list(tc.req)); diff != "" {
				t.Errorf("codes (-want +got):\n%s", diff)
			}
		})
	}
	all := list(&sinergiv1.ListInstitutionsRequest{PageSize: 5})
	if len(all) != 17 {
		t.Errorf("listed %d institutions, want the 17 of the demo directory", len(all))
	}

	first, err := c.Institutions.ListInstitutions(ctx, &sinergiv1.ListInstitutionsRequest{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	tok := []byte(first.GetNextPageToken())
	tok[len(tok)/2] ^= 0x01
	if _, err := c.Institutions.ListInstitutions(ctx, &sinergiv1.ListInstitutionsRequest{PageSize: 2, PageToken: string(tok)}); codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"page_token"}) {
		t.Errorf("tampered token: %v, want InvalidArgument naming page_token", err)
	}
	if _, err := c.Institutions.ListInstitutions(ctx, &sinergiv1.ListInstitutionsRequest{PageSize: 2, Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_POLDA, PageToken: first.GetNextPageToken()}); codeOf(err) != codes.InvalidArgument {
		t.Errorf("token of another query: %v, want InvalidArgument", err)
	}
	if _, err := c.Institutions.ListInstitutions(ctx, &sinergiv1.ListInstitutionsRequest{PageSize: -1}); codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"page_size"}) {
		t.Errorf("negative page size: %v", err)
	}
}

func TestCheckCoverageDemoCases(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	c := env.As(t, "polres-kutai-kartanegara")
	ctx := context.Background()
	today := time.Now()
	for _, tc := range []struct {
		name       string
		req        *sinergiv1.CheckCoverageRequest
		covered    bool
		agreements []string
		gap        sinergiv1.CoverageGap
		gapTime    time.Time
	}{
		{name: "Kukar-LPKA security and order inside its term",
			req:     &sinergiv1.CheckCoverageRequest{CounterpartCode: "lpka-tenggarong", Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, AtTime: timestamppb.New(wib("2024-06-01"))},
			covered: true, agreements: []string{"pks-2024-lpka-tenggarong-polres-kukar"}},
		{name: "Kukar-LPKA security and order today: expired",
			req: &sinergiv1.CheckCoverageRequest{CounterpartCode: "lpka-tenggarong", Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, AtTime: timestamppb.New(today)},
			gap: sinergiv1.CoverageGap_COVERAGE_GAP_EXPIRED, gapTime: wib("2025-01-25")},
		{name: "Kukar-LPKA before the PKS was signed",
			req: &sinergiv1.CheckCoverageRequest{CounterpartCode: "lpka-tenggarong", Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, AtTime: timestamppb.New(wib("2023-12-01"))},
			gap: sinergiv1.CoverageGap_COVERAGE_GAP_NOT_YET_IN_FORCE, gapTime: wib("2024-01-25")},
		{name: "detainee data under the 2025 PKS today",
			req:     &sinergiv1.CheckCoverageRequest{CounterpartCode: "lpka-tenggarong", Scope: sinergiv1.Scope_SCOPE_DETAINEE_DATA},
			covered: true, agreements: []string{"pks-2025-kemenimipas-polri-data"}},
		{name: "detainee data before 4 August 2025",
			req: &sinergiv1.CheckCoverageRequest{CounterpartCode: "lpka-tenggarong", Scope: sinergiv1.Scope_SCOPE_DETAINEE_DATA, AtTime: timestamppb.New(wib("2025-08-03"))},
			gap: sinergiv1.CoverageGap_COVERAGE_GAP_NOT_YET_IN_FORCE, gapTime: wib("2025-08-04")},
		{name: "Cipinang and Polres Jakarta Timur: registered by the ministry, pending Mabes's confirmation",
			req: &sinergiv1.CheckCoverageRequest{InstitutionCode: "lapas-cipinang", CounterpartCode: "polres-metro-jakarta-timur", Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS},
			gap: sinergiv1.CoverageGap_COVERAGE_GAP_PENDING},
		{name: "two police units: no agreement binds them",
			req: &sinergiv1.CheckCoverageRequest{CounterpartCode: "polres-cilacap", Scope: sinergiv1.Scope_SCOPE_DETAINEE_DATA},
			gap: sinergiv1.CoverageGap_COVERAGE_GAP_NONE_EXISTS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Agreements.CheckCoverage(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, a := range resp.GetAgreements() {
				ids = append(ids, a.GetId())
			}
			if resp.GetCovered() != tc.covered || !cmp.Equal(ids, tc.agreements) || resp.GetGap() != tc.gap {
				t.Fatalf("covered=%v agreements=%v gap=%v, want %v %v %v", resp.GetCovered(), ids, resp.GetGap(), tc.covered, tc.agreements, tc.gap)
			}
			if !tc.gapTime.IsZero() {
				found := false
				for _, m := range resp.GetNearMisses() {
					if m.GetGap() == tc.gap && m.GetGapTime().AsTime().Equal(tc.gapTime) {
						found = true
					}
				}
				if !found {
					t.Errorf("no near miss %v at %v in %v", tc.gap, tc.gapTime, resp.GetNearMisses())
				}
			}
		})
	}
	if _, err := c.Agreements.CheckCoverage(ctx, &sinergiv1.CheckCoverageRequest{CounterpartCode: "lpka-tenggarong"}); codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"scope"}) {
		t.Errorf("missing scope: %v", err)
	}
	if _, err := c.Agreements.CheckCoverage(ctx, &sinergiv1.CheckCoverageRequest{Scope: sinergiv1.Scope_SCOPE_DETAINEE_DATA}); codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"counterpart_code"}) {
		t.Errorf("missing counterpart: %v", err)
	}
}

func TestAgreementServiceAndAdmin(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	polres := env.As(t, "polres-cilacap")
	ministry := env.As(t, "kemenimipas")

	got, err := polres.Agreements.GetAgreement(ctx, &sinergiv1.GetAgreementRequest{Id: "pks-2024-lpka-tenggarong-polres-kukar"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetAgreement().GetStatus() != sinergiv1.AgreementStatus_AGREEMENT_STATUS_EXPIRED {
		t.Errorf("2024 PKS status = %v, want EXPIRED", got.GetAgreement().GetStatus())
	}
	lst, err := polres.Agreements.ListAgreements(ctx, &sinergiv1.ListAgreementsRequest{PartyCode: "lpka-tenggarong", Status: sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range lst.GetAgreements() {
		ids = append(ids, a.GetId())
	}
	if diff := cmp.Diff([]string{"mou-2025-kemenimipas-polri", "pks-2025-kemenimipas-polri-data", "pks-2025-kemenimipas-polri-training",
		"pks-2026-lpka-tenggarong-polda-metro-jaya"}, ids); diff != "" {
		t.Errorf("active agreements of lpka-tenggarong (-want +got):\n%s", diff)
	}
	lst, err = polres.Agreements.ListAgreements(ctx, &sinergiv1.ListAgreementsRequest{Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, ActiveTime: timestamppb.New(wib("2024-06-01")), Status: sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE})
	if err != nil || len(lst.GetAgreements()) != 1 || lst.GetAgreements()[0].GetId() != "pks-2024-lpka-tenggarong-polres-kukar" {
		t.Errorf("incident agreements active on 2024-06-01: %v %v", lst, err)
	}

	newPKS := &sinergiv1.Agreement{
		Id: "pks-2026-permisan-nusakambangan", Number: "PKS/2026/TEST", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
		Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "lapas-permisan"}},
			{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "polsek-nusakambangan"}}},
		Scopes:        []sinergiv1.Scope{sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, sinergiv1.Scope_SCOPE_THREAT_INTELLIGENCE},
		EffectiveTime: timestamppb.New(wib("2026-01-01")),
	}
	if _, err := polres.Agreements.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: policeAdmin, Agreement: newPKS}); codeOf(err) != codes.PermissionDenied {
		t.Errorf("CreateAgreement by a Polres: %v, want PermissionDenied", err)
	}
	if _, err := ministry.Agreements.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Agreement: newPKS}); codeOf(err) != codes.InvalidArgument ||
		!cmp.Equal(validate.FieldsOf(err), []string{"access"}) {
		t.Errorf("CreateAgreement without an officer: %v, want InvalidArgument naming access", err)
	}
	bad := &sinergiv1.Agreement{Id: newPKS.Id, Number: "x", Kind: newPKS.Kind, Scopes: newPKS.Scopes, EffectiveTime: newPKS.EffectiveTime,
		Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "lapas-atlantis"}}, newPKS.Parties[1]}}
	_, err = ministry.Agreements.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: ministryAdmin, Agreement: bad})
	if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"agreement.parties[0].institution_code"}) {
		t.Errorf("agreement naming an unknown institution: %v (fields %v)", err, validate.FieldsOf(err))
	}
	created, err := ministry.Agreements.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: ministryAdmin, Agreement: newPKS})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetAgreement().GetStatus() != sinergiv1.AgreementStatus_AGREEMENT_STATUS_PENDING ||
		created.GetAgreement().GetProposedBy() != sinergiv1.Side_SIDE_CORRECTIONS {
		t.Errorf("created agreement status %v proposed by %v, want PENDING, by the corrections side", created.GetAgreement().GetStatus(), created.GetAgreement().GetProposedBy())
	}
	if _, err := ministry.Agreements.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: ministryAdmin, Agreement: newPKS}); codeOf(err) != codes.AlreadyExists {
		t.Errorf("duplicate agreement: %v", err)
	}
	polsek := env.As(t, "polsek-nusakambangan")
	cov, err := polsek.Agreements.CheckCoverage(ctx, &sinergiv1.CheckCoverageRequest{CounterpartCode: "lapas-permisan", Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS})
	if err != nil || cov.GetCovered() || cov.GetGap() != sinergiv1.CoverageGap_COVERAGE_GAP_PENDING {
		t.Fatalf("pending PKS: %v %v, want not covered, gap PENDING", cov, err)
	}
	if _, err := ministry.Agreements.ConfirmAgreement(ctx, &sinergiv1.ConfirmAgreementRequest{Access: ministryAdmin, Id: newPKS.Id}); codeOf(err) != codes.FailedPrecondition {
		t.Errorf("confirmed by the side that registered it: %v, want FailedPrecondition", err)
	}
	confirmed, err := env.As(t, "mabes-polri").Agreements.ConfirmAgreement(ctx, &sinergiv1.ConfirmAgreementRequest{Access: policeAdmin, Id: newPKS.Id})
	if err != nil || confirmed.GetAgreement().GetStatus() != sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE || confirmed.GetAgreement().GetConfirmTime() == nil {
		t.Fatalf("confirmed by Mabes: %v %v, want ACTIVE", confirmed, err)
	}
	cov, err = polsek.Agreements.CheckCoverage(ctx, &sinergiv1.CheckCoverageRequest{CounterpartCode: "lapas-permisan", Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS})
	if err != nil || !cov.GetCovered() {
		t.Fatalf("new PKS does not cover: %v %v", cov, err)
	}
	if _, err := ministry.Agreements.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: ministryAdmin, Id: newPKS.Id}); err != nil {
		t.Fatal(err)
	}
	cov, err = polsek.Agreements.CheckCoverage(ctx, &sinergiv1.CheckCoverageRequest{CounterpartCode: "lapas-permisan", Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS})
	if err != nil || cov.GetCovered() || cov.GetGap() != sinergiv1.CoverageGap_COVERAGE_GAP_REVOKED {
		t.Fatalf("revoked PKS: %v %v, want gap REVOKED", cov, err)
	}

	// Institutions: create, and suspension locks the institution out.
	in := &sinergiv1.Institution{Code: "rutan-cilacap", Name: "Rutan Kelas IIB Cilacap", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN, RegionCode: "33.01"}
	if _, err := polres.Institutions.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: policeAdmin, Institution: in}); codeOf(err) != codes.PermissionDenied {
		t.Errorf("CreateInstitution by a Polres: %v", err)
	}
	if _, err := ministry.Institutions.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: ministryAdmin, Institution: &sinergiv1.Institution{Code: "X y", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN}}); codeOf(err) != codes.InvalidArgument ||
		!cmp.Equal(validate.FieldsOf(err), []string{"institution.code", "institution.name", "institution.region_code"}) {
		t.Errorf("bad institution: %v (fields %v)", err, validate.FieldsOf(err))
	}
	if _, err := ministry.Institutions.CreateInstitution(ctx, &sinergiv1.CreateInstitutionRequest{Access: ministryAdmin, Institution: in}); err != nil {
		t.Fatal(err)
	}
	if _, err := polsek.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "rutan-cilacap"}); err != nil {
		t.Errorf("new institution not visible: %v", err)
	}
	mabes := env.As(t, "mabes-polri")
	if _, err := mabes.Institutions.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Access: policeAdmin, Code: "polsek-nusakambangan", Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED}); err != nil {
		t.Fatal(err)
	}
	if _, err := polsek.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "polres-cilacap"}); codeOf(err) != codes.Unauthenticated {
		t.Errorf("suspended institution's call: %v, want Unauthenticated", err)
	}
	if _, err := mabes.Institutions.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Access: policeAdmin, Code: "polsek-nusakambangan", Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE}); err != nil {
		t.Fatal(err)
	}
	if _, err := polsek.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "polres-cilacap"}); err != nil {
		t.Errorf("reactivated institution's call: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCertificateRotation: new certificate files are picked up without a restart.
func TestCertificateRotation(t *testing.T) {
	dir := t.TempDir()
	env := servertest.Start(t, db, servertest.Options{})
	for _, f := range []string{"server.crt", "server.key", "ca.crt"} {
		b, err := os.ReadFile(filepath.Join(env.PKIDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env2 := servertest.Start(t, db, servertest.Options{Configure: func(c *server.Config) {
		c.TLS = pki.Files{Cert: filepath.Join(dir, "server.crt"), Key: filepath.Join(dir, "server.key"), CA: filepath.Join(dir, "ca.crt")}
	}})
	serverSerial := func() string {
		conn := env2.ConnAs(t, "mabes-polri")
		var p peer.Peer
		if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.Peer(&p)); err != nil {
			t.Fatal(err)
		}
		return pki.SerialHex(p.AuthInfo.(credentials.TLSInfo).State.PeerCertificates[0])
	}
	before := serverSerial()
	ca, err := pki.LoadCA(pki.CACertPath(env.PKIDir), filepath.Join(env.PKIDir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue(pki.Leaf{CommonName: "rotated", DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKey(filepath.Join(dir, "server.key"), key); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteCert(filepath.Join(dir, "server.crt"), cert); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the reloader looks at most once a second
	after := serverSerial()
	if before == after || after != pki.SerialHex(cert) {
		t.Fatalf("server certificate serial %s -> %s, want the rotated %s", before, after, pki.SerialHex(cert))
	}
}

func TestHealthAndReflection(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	conn := env.ConnAs(t, "polda-lampung")
	ctx := context.Background()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	r, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range r.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"sinergi.v1.InstitutionService", "sinergi.v1.AgreementService", "sinergi.v1.AuditService", "grpc.health.v1.Health"} {
		if !contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestCallsBeyondStreamWorkers: calls run on a fixed set of reused
// goroutines, and a watch stream holds one for as long as it is open. With
// every worker held by a stream, calls must still be answered.
func TestCallsBeyondStreamWorkers(t *testing.T) {
	// One institution holds them all: its cap on open streams is raised.
	env := servertest.Start(t, db, servertest.Options{Configure: func(c *server.Config) { c.StreamsPerInstitution = 1000 }})
	conn := env.ConnAs(t, "polda-lampung")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := server.StreamWorkers + 8
	for i := range open {
		// A reflection stream stays in its handler until the client ends it;
		// its first answer shows the handler is running.
		s, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if err := s.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	got, err := env.As(t, "polres-metro").Institutions.GetInstitution(cctx, &sinergiv1.GetInstitutionRequest{Code: "polres-cilacap"})
	if err != nil || got.GetInstitution().GetCode() != "polres-cilacap" {
		t.Fatalf("GetInstitution with %d streams open: %v %v", open, got, err)
	}
}
