package ctl

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// apiPackage is the protobuf package whose services the client offers.
const apiPackage protoreflect.FullName = "sinergi.v1"

// catalog is every service and method of one protobuf package, named the way
// the command line names them.
type catalog struct {
	services []*service
}

type service struct {
	name    string // command word: InstitutionService -> institution
	desc    protoreflect.ServiceDescriptor
	methods []*method
}

type method struct {
	service    *service
	name       string // command word: ListInstitutions -> list-institutions
	desc       protoreflect.MethodDescriptor
	fullMethod string // /sinergi.v1.InstitutionService/ListInstitutions
	request    protoreflect.MessageType
	response   protoreflect.MessageType
}

// loadCatalog walks the services of pkg in files and resolves their message
// types in types, so requests and responses are the concrete generated types.
func loadCatalog(files *protoregistry.Files, types *protoregistry.Types, pkg protoreflect.FullName) (*catalog, error) {
	c := &catalog{}
	var err error
	files.RangeFilesByPackage(pkg, func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			var s *service
			if s, err = newService(fd.Services().Get(i), types); err != nil {
				return false
			}
			c.services = append(c.services, s)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(c.services) == 0 {
		return nil, fmt.Errorf("no service of package %s is compiled in", pkg)
	}
	slices.SortFunc(c.services, func(a, b *service) int { return strings.Compare(a.name, b.name) })
	seen := map[string]string{}
	for _, s := range c.services {
		if other, dup := seen[matchKey(s.name)]; dup {
			return nil, fmt.Errorf("services %s and %s have the same command name %q", other, s.desc.FullName(), s.name)
		}
		seen[matchKey(s.name)] = string(s.desc.FullName())
	}
	return c, nil
}

func newService(sd protoreflect.ServiceDescriptor, types *protoregistry.Types) (*service, error) {
	s := &service{name: kebab(strings.TrimSuffix(string(sd.Name()), "Service")), desc: sd}
	seen := map[string]protoreflect.Name{}
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		req, err := types.FindMessageByName(md.Input().FullName())
		if err != nil {
			return nil, fmt.Errorf("request type of %s: %w", md.FullName(), err)
		}
		resp, err := types.FindMessageByName(md.Output().FullName())
		if err != nil {
			return nil, fmt.Errorf("response type of %s: %w", md.FullName(), err)
		}
		m := &method{
			service:    s,
			name:       kebab(string(md.Name())),
			desc:       md,
			fullMethod: fmt.Sprintf("/%s/%s", sd.FullName(), md.Name()),
			request:    req,
			response:   resp,
		}
		if other, dup := seen[matchKey(m.name)]; dup {
			return nil, fmt.Errorf("methods %s and %s of %s have the same command name %q", other, md.Name(), sd.FullName(), m.name)
		}
		seen[matchKey(m.name)] = md.Name()
		s.methods = append(s.methods, m)
	}
	return s, nil
}

// service finds a service by its command word, also accepting the word
// without dashes or the protobuf name (institution, InstitutionService).
func (c *catalog) service(word string) *service {
	k := matchKey(strings.TrimSuffix(word, "Service"))
	for _, s := range c.services {
		if matchKey(s.name) == k {
			return s
		}
	}
	return nil
}

// method finds a method by its command word, also accepting the RPC name.
func (s *service) method(word string) *method {
	k := matchKey(word)
	for _, m := range s.methods {
		if matchKey(m.name) == k {
			return m
		}
	}
	return nil
}

func (s *service) methodNames() []string {
	names := make([]string, len(s.methods))
	for i, m := range s.methods {
		names[i] = m.name
	}
	return names
}

func (c *catalog) serviceNames() []string {
	names := make([]string, len(c.services))
	for i, s := range c.services {
		names[i] = s.name
	}
	return names
}

func (m *method) streamDesc() *grpc.StreamDesc {
	return &grpc.StreamDesc{
		StreamName:    string(m.desc.Name()),
		ServerStreams: m.desc.IsStreamingServer(),
		ClientStreams: m.desc.IsStreamingClient(),
	}
}

// shape says how the method exchanges messages, in words for help text.
func (m *method) shape() string {
	switch {
	case m.desc.IsStreamingClient() && m.desc.IsStreamingServer():
		return "bidirectional stream"
	case m.desc.IsStreamingClient():
		return "client stream"
	case m.desc.IsStreamingServer():
		return "server stream"
	}
	return "unary"
}

// comment is a descriptor's leading proto comment, when the descriptors were
// compiled in with their source information (protoc-gen-go drops it today).
func comment(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	lines := strings.Split(strings.TrimSpace(loc.LeadingComments), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.TrimSpace(strings.Join(lines, " "))
}

// kebab turns a CamelCase protobuf name into a command word:
// ListInstitutions -> list-institutions, GetNIKStatus -> get-nik-status.
func kebab(name string) string {
	r := []rune(name)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prev := r[i-1]
			endsAcronym := unicode.IsUpper(prev) && i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || endsAcronym {
				b.WriteByte('-')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// matchKey is how command words compare: case, dashes and underscores do not
// matter, so list-institutions, ListInstitutions and list_institutions match.
func matchKey(word string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' {
			return -1
		}
		return unicode.ToLower(r)
	}, word)
}
