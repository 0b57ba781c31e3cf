package authz

import (
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sinergi-id/sinergi/internal/audit"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// subjectType says how to find a subject in a response message.
type subjectType struct {
	kind       string // "custody", "report"
	idField    protoreflect.Name
	ownerField protoreflect.Name // the facility that owns the data
}

var (
	subjectMu    sync.RWMutex
	subjectTypes = map[protoreflect.FullName]subjectType{}
	// plans holds a *walkPlan per message type, made on first use and
	// dropped whenever a subject type is registered.
	plans = new(sync.Map)
)

// RegisterSubject declares that messages of type name in responses are data
// subjects: each is recorded in the audit record as "kind/<idField>", with
// the agreements that granted access to its owner (ownerField, a facility code).
func RegisterSubject(name protoreflect.FullName, kind string, idField, ownerField protoreflect.Name) {
	subjectMu.Lock()
	defer subjectMu.Unlock()
	subjectTypes[name] = subjectType{kind: kind, idField: idField, ownerField: ownerField}
	plans = new(sync.Map)
}

// walkPlan is what walk needs of one message type: whether it is a subject
// type, and which of its fields can lead to a subject. A custody record's
// timestamps cannot, so a response is walked without visiting them; every
// reply goes through here, and visiting each set field of each message
// through reflection was a tenth of the server's allocations.
type walkPlan struct {
	subject   *subjectType
	id, owner protoreflect.FieldDescriptor
	fields    []protoreflect.FieldDescriptor // message-valued fields that may hold a subject
}

// mayHoldSubject reports whether a message of the plan's type is, or can
// lead to, a subject.
func (p *walkPlan) mayHoldSubject() bool { return p.subject != nil || len(p.fields) > 0 }

// planFor returns the plan of d. Called with subjectMu held for reading.
func planFor(d protoreflect.MessageDescriptor) *walkPlan {
	if p, ok := plans.Load(d.FullName()); ok {
		return p.(*walkPlan)
	}
	p := makePlan(d, map[protoreflect.FullName]bool{})
	plans.Store(d.FullName(), p)
	return p
}

// makePlan builds the plan of d. A type met again while its own plan is
// being made (a recursive message) is taken to hold subjects: that costs a
// needless visit at worst, never a missed subject, and so every plan made
// on the way can be kept.
func makePlan(d protoreflect.MessageDescriptor, making map[protoreflect.FullName]bool) *walkPlan {
	p := &walkPlan{}
	fields := d.Fields()
	if st, ok := subjectTypes[d.FullName()]; ok {
		p.subject = &st
		p.id, p.owner = fields.ByName(st.idField), fields.ByName(st.ownerField)
	}
	making[d.FullName()] = true
	defer delete(making, d.FullName())
	for i := range fields.Len() {
		fd := fields.Get(i)
		md := fd.Message()
		if fd.IsMap() {
			md = fd.MapValue().Message()
		}
		if md == nil {
			continue
		}
		holds := making[md.FullName()]
		if !holds {
			if q, ok := plans.Load(md.FullName()); ok {
				holds = q.(*walkPlan).mayHoldSubject()
			} else {
				q := makePlan(md, making)
				holds = q.mayHoldSubject()
				plans.Store(md.FullName(), q)
			}
		}
		if holds {
			p.fields = append(p.fields, fd)
		}
	}
	return p
}

// attribute walks a response and records every subject it holds, with the
// agreements that granted access to its owner under any of the call's scopes.
func attribute(e *audit.Entry, rs Reaches, m proto.Message) {
	if m == nil {
		return
	}
	subjectMu.RLock()
	defer subjectMu.RUnlock()
	if len(subjectTypes) == 0 {
		return
	}
	walk(e, rs, m.ProtoReflect())
}

func walk(e *audit.Entry, rs Reaches, m protoreflect.Message) {
	p := planFor(m.Descriptor())
	if p.subject != nil {
		if p.id != nil {
			if id := m.Get(p.id).String(); id != "" {
				e.AddSubjects(p.subject.kind + "/" + id)
			}
		}
		if p.owner != nil {
			owner := m.Get(p.owner).String()
			for _, sc := range rs.scopes {
				if g, ok := rs.byScope[sc].Grant(owner); ok {
					e.AddAgreements(g.Agreements...)
				}
			}
		}
	}
	for _, fd := range p.fields {
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(e, rs, l.Get(i).Message())
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				walk(e, rs, mv.Message())
				return true
			})
		default:
			walk(e, rs, v.Message())
		}
	}
}

// Attribute records the subjects of a message sent outside the unary path
// (each message of a server stream), with the agreements of reach.
func Attribute(e *audit.Entry, reach *Reach, m proto.Message) {
	var rs Reaches
	if reach != nil {
		rs = Reaches{caller: reach.Caller, byScope: map[sinergiv1.Scope]*Reach{reach.Scope: reach}, scopes: []sinergiv1.Scope{reach.Scope}}
	}
	attribute(e, rs, m)
}

// SubjectKinds lists the kinds of subject registered by RegisterSubject
// that messages of type md can carry (itself or through its fields).
func SubjectKinds(md protoreflect.MessageDescriptor) []string {
	subjectMu.RLock()
	defer subjectMu.RUnlock()
	var out []string
	seen := map[protoreflect.FullName]bool{}
	var visit func(md protoreflect.MessageDescriptor)
	visit = func(md protoreflect.MessageDescriptor) {
		if md == nil || seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		if st, ok := subjectTypes[md.FullName()]; ok && !slices.Contains(out, st.kind) {
			out = append(out, st.kind)
		}
		fs := md.Fields()
		for i := range fs.Len() {
			visit(fieldMessage(fs.Get(i)))
		}
	}
	visit(md)
	slices.Sort(out)
	return out
}

// registeredKind reports whether some message type is registered as a
// subject of kind.
func registeredKind(kind string) bool {
	subjectMu.RLock()
	defer subjectMu.RUnlock()
	for _, st := range subjectTypes {
		if st.kind == kind {
			return true
		}
	}
	return false
}
