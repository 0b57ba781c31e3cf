package authz

import (
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sinergi-id/sinergi/internal/audit"
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
)

// RegisterSubject declares that messages of type name in responses are data
// subjects: each is recorded in the audit record as "kind/<idField>", with
// the agreements that granted access to its owner (ownerField, a facility code).
func RegisterSubject(name protoreflect.FullName, kind string, idField, ownerField protoreflect.Name) {
	subjectMu.Lock()
	defer subjectMu.Unlock()
	subjectTypes[name] = subjectType{kind: kind, idField: idField, ownerField: ownerField}
}

// attribute walks a response and records every subject it holds, with the
// agreements that granted access to its owner under any of the call's scopes.
func attribute(e *audit.Entry, rs reaches, m proto.Message) {
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

func walk(e *audit.Entry, rs reaches, m protoreflect.Message) {
	if st, ok := subjectTypes[m.Descriptor().FullName()]; ok {
		fields := m.Descriptor().Fields()
		if f := fields.ByName(st.idField); f != nil {
			if id := m.Get(f).String(); id != "" {
				e.AddSubjects(st.kind + "/" + id)
			}
		}
		if f := fields.ByName(st.ownerField); f != nil {
			owner := m.Get(f).String()
			for _, r := range rs {
				if g, ok := r.Grant(owner); ok {
					e.AddAgreements(g.Agreements...)
				}
			}
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(e, rs, l.Get(i).Message())
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					walk(e, rs, mv.Message())
				}
				return true
			})
		default:
			walk(e, rs, v.Message())
		}
		return true
	})
}

// Attribute records the subjects of a message sent outside the unary path
// (each message of a server stream), with the agreements of reach.
func Attribute(e *audit.Entry, reach *Reach, m proto.Message) {
	rs := reaches{}
	if reach != nil {
		rs[reach.Scope] = reach
	}
	attribute(e, rs, m)
}
