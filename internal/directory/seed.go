package directory

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"

	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

//go:embed demo.yaml
var demoYAML []byte

// DemoSeed is the demo directory of ../shared/domain.md, embedded in the binary.
func DemoSeed() []byte { return demoYAML }

// WIB is Western Indonesian Time, in which seed dates are read.
var WIB = time.FixedZone("WIB", 7*3600)

// SeedFile is the YAML or JSON file `sinergi seed` reads.
type SeedFile struct {
	Institutions []SeedInstitution `json:"institutions"`
	Agreements   []SeedAgreement   `json:"agreements"`
}

// SeedInstitution is one institution in a seed file. Enums are written
// without their prefix: kind LAPAS, status SUSPENDED.
type SeedInstitution struct {
	Code       string `json:"code"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	RegionCode string `json:"region_code"`
	ParentCode string `json:"parent_code"`
	Status     string `json:"status"`
}

// SeedParty is one party: institution_code, or side with an optional region_prefix.
type SeedParty struct {
	InstitutionCode string `json:"institution_code"`
	Side            string `json:"side"`
	RegionPrefix    string `json:"region_prefix"`
}

// SeedAgreement is one agreement in a seed file. Dates are "2006-01-02"
// (midnight WIB) or RFC 3339.
type SeedAgreement struct {
	ID          string      `json:"id"`
	Number      string      `json:"number"`
	Kind        string      `json:"kind"`
	Title       string      `json:"title"`
	Parties     []SeedParty `json:"parties"`
	Scopes      []string    `json:"scopes"`
	Effective   string      `json:"effective"`
	Expires     string      `json:"expires"`
	Signed      string      `json:"signed"`
	Revoked     string      `json:"revoked"`
	Signatories []string    `json:"signatories"`
	ParentID    string      `json:"parent_id"`
	// ProposedBy, when set (CORRECTIONS or POLRI), registers the agreement as
	// proposed by that side: it is pending until the other side's
	// administrator confirms it. Unset: registered for both sides at once.
	ProposedBy string `json:"proposed_by"`
}

// ParseSeed reads a seed file (YAML or JSON), refusing unknown fields.
func ParseSeed(data []byte) (*SeedFile, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("seed file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var f SeedFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("seed file: %w", err)
	}
	return &f, nil
}

// Resolve validates the whole seed file against itself and the existing
// directory (which may be nil) and, when nothing is wrong, returns it as
// messages ready to write. Each violation names the entry and the field,
// e.g. "agreements[3] (pks-x).parties[1].institution_code".
//
// A seed only adds: an entry already in the directory must say what the
// directory says (the state kept since, a suspension or a revocation, is
// not compared and never overwritten); one that differs is refused, naming
// each difference. A seed never revokes: revocations take effect when they
// are made (RevokeAgreement).
func (f *SeedFile) Resolve(existing *Snapshot) ([]*sinergiv1.Institution, []*sinergiv1.Agreement, error) {
	var v validate.Violations
	insts := make([]*sinergiv1.Institution, len(f.Institutions))
	known := map[string]*sinergiv1.Institution{}
	if existing != nil {
		for _, in := range existing.Institutions() {
			known[in.GetCode()] = in
		}
	}
	for i, si := range f.Institutions {
		entry := fmt.Sprintf("institutions[%d] (%s)", i, si.Code)
		in := &sinergiv1.Institution{Code: si.Code, Name: si.Name, RegionCode: si.RegionCode, ParentCode: si.ParentCode}
		var ev validate.Violations
		in.Kind = sinergiv1.InstitutionKind(parseEnum(&ev, "kind", si.Kind, sinergiv1.InstitutionKind_value, "INSTITUTION_KIND_"))
		in.Status = sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE
		if si.Status != "" {
			in.Status = sinergiv1.InstitutionStatus(parseEnum(&ev, "status", si.Status, sinergiv1.InstitutionStatus_value, "INSTITUTION_STATUS_"))
		}
		v.Merge(entry, &ev)
		insts[i] = in
		if seenBefore(f.Institutions[:i], si.Code) {
			v.Add(entry+".code", "%q appears twice", si.Code)
		}
		if existing != nil {
			if old := existing.Institution(in.GetCode()); old != nil {
				for _, d := range institutionDiff(old, in) {
					v.Add(entry, "differs from the registered institution: %s", d)
				}
				continue // the registered one stands
			}
		}
		known[in.Code] = in
	}
	for i, in := range insts {
		var ev validate.Violations
		CheckInstitution(in, func(code string) *sinergiv1.Institution { return known[code] }, &ev)
		if IsHeadquarters(in.GetKind()) {
			for _, other := range known {
				if other.GetCode() != in.GetCode() && other.GetKind() == in.GetKind() {
					ev.Add("kind", "%s already has its headquarters, %s", SideName(SideOf(in.GetKind())), other.GetCode())
					break
				}
			}
		}
		v.Merge(fmt.Sprintf("institutions[%d] (%s)", i, in.GetCode()), &ev)
	}

	parents := map[string]*sinergiv1.Agreement{}
	if existing != nil {
		for _, a := range existing.Agreements() {
			parents[a.GetId()] = a
		}
	}
	for _, sa := range f.Agreements {
		if _, ok := parents[sa.ID]; !ok {
			parents[sa.ID] = &sinergiv1.Agreement{Id: sa.ID}
		}
	}
	agrs := make([]*sinergiv1.Agreement, len(f.Agreements))
	for i, sa := range f.Agreements {
		entry := fmt.Sprintf("agreements[%d] (%s)", i, sa.ID)
		var ev validate.Violations
		a := &sinergiv1.Agreement{Id: sa.ID, Number: sa.Number, Title: sa.Title, Signatories: sa.Signatories, ParentId: sa.ParentID}
		a.Kind = sinergiv1.AgreementKind(parseEnum(&ev, "kind", sa.Kind, sinergiv1.AgreementKind_value, "AGREEMENT_KIND_"))
		for j, sp := range sa.Parties {
			p := &sinergiv1.Party{RegionPrefix: sp.RegionPrefix}
			switch {
			case sp.InstitutionCode != "" && sp.Side != "":
				ev.Add(fmt.Sprintf("parties[%d]", j), "give institution_code or side, not both")
			case sp.InstitutionCode != "":
				p.Party = &sinergiv1.Party_InstitutionCode{InstitutionCode: sp.InstitutionCode}
			default:
				p.Party = &sinergiv1.Party_Side{Side: sinergiv1.Side(parseEnum(&ev, fmt.Sprintf("parties[%d].side", j), sp.Side, sinergiv1.Side_value, "SIDE_"))}
			}
			a.Parties = append(a.Parties, p)
		}
		for j, sc := range sa.Scopes {
			a.Scopes = append(a.Scopes, sinergiv1.Scope(parseEnum(&ev, fmt.Sprintf("scopes[%d]", j), sc, sinergiv1.Scope_value, "SCOPE_")))
		}
		a.EffectiveTime = parseDate(&ev, "effective", sa.Effective, true)
		a.ExpireTime = parseDate(&ev, "expires", sa.Expires, false)
		a.SignTime = parseDate(&ev, "signed", sa.Signed, false)
		if sa.Revoked != "" {
			ev.Add("revoked", "a seed cannot revoke: revoke with RevokeAgreement, which takes effect from then on")
		}
		if sa.ProposedBy != "" {
			a.ProposedBy = sinergiv1.Side(parseEnum(&ev, "proposed_by", sa.ProposedBy, sinergiv1.Side_value, "SIDE_"))
		}
		if ev.Empty() {
			CheckAgreement(a, func(code string) *sinergiv1.Institution { return known[code] }, func(id string) *sinergiv1.Agreement { return parents[id] }, &ev)
		}
		if seenAgreementBefore(f.Agreements[:i], sa.ID) {
			ev.Add("id", "%q appears twice", sa.ID)
		}
		v.Merge(entry, &ev)
		if existing != nil && ev.Empty() {
			if old := existing.Agreement(a.GetId()); old != nil {
				for _, d := range AgreementDiff(old, a) {
					v.Add(entry, "differs from the registered agreement: %s", d)
				}
			}
		}
		agrs[i] = a
	}
	if err := v.Err(); err != nil {
		return nil, nil, fmt.Errorf("seed file rejected, nothing written: %s", v.String())
	}
	return insts, agrs, nil
}

func seenBefore(prev []SeedInstitution, code string) bool {
	return slices.ContainsFunc(prev, func(p SeedInstitution) bool { return p.Code == code })
}

func seenAgreementBefore(prev []SeedAgreement, id string) bool {
	return slices.ContainsFunc(prev, func(p SeedAgreement) bool { return p.ID == id })
}

func parseEnum(v *validate.Violations, field, text string, values map[string]int32, prefix string) int32 {
	n, ok := values[prefix+strings.ToUpper(strings.TrimPrefix(text, prefix))]
	if !ok || n == 0 {
		v.Add(field, "unknown value %q", text)
		return 0
	}
	return n
}

func parseDate(v *validate.Violations, field, text string, required bool) *timestamppb.Timestamp {
	if text == "" {
		if required {
			v.Add(field, "required")
		}
		return nil
	}
	if t, err := time.ParseInLocation("2006-01-02", text, WIB); err == nil {
		return timestamppb.New(t)
	}
	if t, err := time.Parse(time.RFC3339, text); err == nil {
		return timestamppb.New(t)
	}
	v.Add(field, "%q is not a date (2006-01-02) or an RFC 3339 time", text)
	return nil
}

// CheckInstitution validates an institution; lookup finds other institutions
// by code (its parent).
func CheckInstitution(in *sinergiv1.Institution, lookup func(string) *sinergiv1.Institution, v *validate.Violations) {
	v.Check(validate.Code.MatchString(in.GetCode()), "code", "must be 2-63 lower-case letters, digits or hyphens, starting with a letter or digit")
	v.Check(strings.TrimSpace(in.GetName()) != "", "name", "required")
	v.Check(in.GetKind() != sinergiv1.InstitutionKind_INSTITUTION_KIND_UNSPECIFIED && sinergiv1.InstitutionKind_name[int32(in.GetKind())] != "", "kind", "required")
	national := in.GetKind() == sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY || in.GetKind() == sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES
	switch {
	case in.GetRegionCode() == "" && !national:
		v.Add("region_code", "required for a %s", strings.TrimPrefix(in.GetKind().String(), "INSTITUTION_KIND_"))
	case in.GetRegionCode() != "" && !validate.RegionCode.MatchString(in.GetRegionCode()):
		v.Add("region_code", "%q is not a Kemendagri region code such as 33 or 33.01", in.GetRegionCode())
	}
	if pc := in.GetParentCode(); pc != "" {
		p := lookup(pc)
		switch {
		case pc == in.GetCode():
			v.Add("parent_code", "an institution cannot be its own parent")
		case p == nil:
			v.Add("parent_code", "unknown institution %q", pc)
		case SideOf(p.GetKind()) != SideOf(in.GetKind()):
			v.Add("parent_code", "%q is on the other side", pc)
		}
	}
	if st := in.GetStatus(); st != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_UNSPECIFIED && sinergiv1.InstitutionStatus_name[int32(st)] == "" {
		v.Add("status", "unknown value %d", st)
	}
}

// CheckAgreement validates an agreement's terms; lookup finds institutions
// by code, parent finds an agreement by id (a PKS's MoU). An agreement joins
// a corrections party and a police party, exactly two.
func CheckAgreement(a *sinergiv1.Agreement, lookup func(string) *sinergiv1.Institution, parent func(string) *sinergiv1.Agreement, v *validate.Violations) {
	v.Check(validate.Code.MatchString(a.GetId()), "id", "must be 2-63 lower-case letters, digits or hyphens")
	v.Check(strings.TrimSpace(a.GetNumber()) != "", "number", "required")
	v.Check(a.GetKind() != sinergiv1.AgreementKind_AGREEMENT_KIND_UNSPECIFIED && sinergiv1.AgreementKind_name[int32(a.GetKind())] != "", "kind", "required")
	if len(a.GetParties()) != 2 {
		v.Add("parties", "an agreement has exactly two parties, got %d", len(a.GetParties()))
	}
	var sides []sinergiv1.Side
	for i, p := range a.GetParties() {
		f := fmt.Sprintf("parties[%d]", i)
		switch x := p.GetParty().(type) {
		case *sinergiv1.Party_InstitutionCode:
			if lookup(x.InstitutionCode) == nil {
				v.Add(f+".institution_code", "unknown institution %q", x.InstitutionCode)
			}
			if p.GetRegionPrefix() != "" {
				v.Add(f+".region_prefix", "only a side can be limited to a region")
			}
		case *sinergiv1.Party_Side:
			if x.Side == sinergiv1.Side_SIDE_UNSPECIFIED || sinergiv1.Side_name[int32(x.Side)] == "" {
				v.Add(f+".side", "required")
			}
			if rp := p.GetRegionPrefix(); rp != "" && !validate.RegionCode.MatchString(rp) {
				v.Add(f+".region_prefix", "%q is not a region code", rp)
			}
		default:
			v.Add(f, "give institution_code or side")
		}
		if s := PartySide(p, lookup); s != sinergiv1.Side_SIDE_UNSPECIFIED {
			sides = append(sides, s)
		}
	}
	if len(a.GetParties()) == 2 && len(sides) == 2 && sides[0] == sides[1] {
		v.Add("parties", "both parties are on %s: an agreement joins a corrections party and a police party", SideName(sides[0]))
	}
	if len(a.GetScopes()) == 0 {
		v.Add("scopes", "at least one scope")
	}
	seen := map[sinergiv1.Scope]bool{}
	for i, sc := range a.GetScopes() {
		if sc == sinergiv1.Scope_SCOPE_UNSPECIFIED || sinergiv1.Scope_name[int32(sc)] == "" {
			v.Add(fmt.Sprintf("scopes[%d]", i), "unknown scope %d", sc)
		} else if seen[sc] {
			v.Add(fmt.Sprintf("scopes[%d]", i), "%s twice", sc)
		}
		seen[sc] = true
	}
	if a.GetEffectiveTime() == nil {
		v.Add("effective_time", "required")
	} else if a.GetExpireTime() != nil && !a.GetExpireTime().AsTime().After(a.GetEffectiveTime().AsTime()) {
		v.Add("expire_time", "must be after effective_time")
	}
	if pid := a.GetParentId(); pid != "" {
		p := parent(pid)
		switch {
		case pid == a.GetId() || p == nil:
			v.Add("parent_id", "unknown agreement %q", pid)
		case p.GetRevokeTime() != nil:
			v.Add("parent_id", "agreement %q is revoked: nothing can be made under it", pid)
		}
	}
	if a.GetRevokeTime() != nil {
		v.Add("revoke_time", "output only: revoke an agreement with RevokeAgreement, from then on")
	}
	if ps := a.GetProposedBy(); ps != sinergiv1.Side_SIDE_UNSPECIFIED && sinergiv1.Side_name[int32(ps)] == "" {
		v.Add("proposed_by", "unknown side %d", ps)
	}
}

// AgreementDiff lists how the terms of b differ from those of a registered
// agreement a, one "field: registered X, now Y" each; its state (status,
// revocation, confirmation) is not compared.
func AgreementDiff(a, b *sinergiv1.Agreement) []string {
	var out []string
	cmp := func(field string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			out = append(out, fmt.Sprintf("%s: registered %v, here %v", field, x, y))
		}
	}
	ts := func(t *timestamppb.Timestamp) string {
		if t == nil {
			return "none"
		}
		return t.AsTime().In(WIB).Format(time.RFC3339)
	}
	parties := func(ps []*sinergiv1.Party) string {
		var s []string
		for _, p := range ps {
			if c := p.GetInstitutionCode(); c != "" {
				s = append(s, c)
			} else {
				s = append(s, strings.TrimSpace(strings.TrimPrefix(p.GetSide().String(), "SIDE_")+" "+p.GetRegionPrefix()))
			}
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	scopes := func(ss []sinergiv1.Scope) string {
		var s []string
		for _, x := range ss {
			s = append(s, strings.TrimPrefix(x.String(), "SCOPE_"))
		}
		slices.Sort(s)
		return "[" + strings.Join(s, ", ") + "]"
	}
	cmp("number", fmt.Sprintf("%q", a.GetNumber()), fmt.Sprintf("%q", b.GetNumber()))
	cmp("kind", a.GetKind(), b.GetKind())
	cmp("title", fmt.Sprintf("%q", a.GetTitle()), fmt.Sprintf("%q", b.GetTitle()))
	cmp("parties", parties(a.GetParties()), parties(b.GetParties()))
	cmp("scopes", scopes(a.GetScopes()), scopes(b.GetScopes()))
	cmp("effective", ts(a.GetEffectiveTime()), ts(b.GetEffectiveTime()))
	cmp("expires", ts(a.GetExpireTime()), ts(b.GetExpireTime()))
	cmp("signed", ts(a.GetSignTime()), ts(b.GetSignTime()))
	cmp("signatories", fmt.Sprintf("%q", a.GetSignatories()), fmt.Sprintf("%q", b.GetSignatories()))
	cmp("parent_id", fmt.Sprintf("%q", a.GetParentId()), fmt.Sprintf("%q", b.GetParentId()))
	cmp("proposed_by", a.GetProposedBy(), b.GetProposedBy())
	return out
}

// institutionDiff lists how b differs from registered institution a; its
// status (kept by the service since) is not compared.
func institutionDiff(a, b *sinergiv1.Institution) []string {
	var out []string
	for _, d := range []struct {
		field string
		x, y  string
	}{
		{"name", a.GetName(), b.GetName()},
		{"kind", a.GetKind().String(), b.GetKind().String()},
		{"region_code", a.GetRegionCode(), b.GetRegionCode()},
		{"parent_code", a.GetParentCode(), b.GetParentCode()},
	} {
		if d.x != d.y {
			out = append(out, fmt.Sprintf("%s: registered %q, here %q", d.field, d.x, d.y))
		}
	}
	return out
}
