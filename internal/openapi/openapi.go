// Package openapi writes the OpenAPI 3.1 document of Sinergi's HTTP/JSON
// endpoint from the protos' descriptors, comments included (a buf image:
// `buf build -o image.binpb`, which is a FileDescriptorSet on the wire).
//
// The endpoint speaks the Connect protocol (internal/server/http.go): a
// unary method is a POST of its request message, in the proto3 JSON
// mapping, to /<package>.<Service>/<Method>, answered 200 with the
// response message or with a Connect error. Streaming methods are listed
// too, marked x-streaming: they need a Connect or gRPC-Web client.
package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Options shape the document.
type Options struct {
	// Packages are the proto packages whose services are described
	// (prefix match; default "sinergi.").
	Packages []string
	// Server is the base URL the document names (default the
	// development server's https://127.0.0.1:7444).
	Server string
}

// Generate returns the OpenAPI document, as indented JSON, of the services
// in set.
func Generate(set *descriptorpb.FileDescriptorSet, opts Options) ([]byte, error) {
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("descriptors: %w", err)
	}
	if len(opts.Packages) == 0 {
		opts.Packages = []string{"sinergi."}
	}
	if opts.Server == "" {
		opts.Server = "https://127.0.0.1:7444"
	}
	g := &generator{schemas: map[string]*ordered{}}
	var services []protoreflect.ServiceDescriptor
	files.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		for _, p := range opts.Packages {
			if strings.HasPrefix(string(f.Package()), p) {
				for i := 0; i < f.Services().Len(); i++ {
					services = append(services, f.Services().Get(i))
				}
				break
			}
		}
		return true
	})
	if len(services) == 0 {
		return nil, fmt.Errorf("no services in packages %v", opts.Packages)
	}
	sort.Slice(services, func(i, j int) bool { return services[i].FullName() < services[j].FullName() })

	paths := &ordered{}
	var tags []any
	for _, svc := range services {
		tags = append(tags, obj("name", string(svc.Name()), "description", comment(svc)))
		for i := 0; i < svc.Methods().Len(); i++ {
			m := svc.Methods().Get(i)
			paths.set("/"+string(svc.FullName())+"/"+string(m.Name()), obj("post", g.operation(svc, m)))
		}
	}
	g.schemas["connect.Error"] = connectError()

	var names []string
	for n := range g.schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	schemas := &ordered{}
	for _, n := range names {
		schemas.set(n, g.schemas[n])
	}

	doc := obj(
		"openapi", "3.1.0",
		"info", obj(
			"title", "Sinergi HTTP/JSON API",
			"version", "v1",
			"description", description,
		),
		"servers", []any{obj("url", opts.Server, "description", "make run (the HTTP/JSON listener, --http-addr)")},
		"security", []any{obj("institutionCertificate", []any{})},
		"tags", tags,
		"paths", paths,
		"components", obj(
			"securitySchemes", obj("institutionCertificate", obj("type", "mutualTLS",
				"description", "The institution's X.509-SVID client certificate (spiffe://<trust-domain>/institution/<code>), the same as for gRPC.")),
			"responses", obj("error", obj("description", "The call failed: a Connect error. An INVALID_ARGUMENT carries a "+
				"google.rpc.BadRequest detail naming each bad field (its debug member is the detail in JSON).",
				"content", obj("application/json", obj("schema", ref("connect.Error"))))),
			"schemas", schemas,
		),
	)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

const description = `Every method of Sinergi's gRPC API, callable over HTTP with JSON through the Connect protocol, on the HTTP/JSON listener (127.0.0.1:7444 by default), under the same mutual TLS, with the same certificates, policy and audit trail as gRPC.

A unary call is a POST of the request message in the proto3 JSON mapping (camelCase field names, enums by name, int64 as strings, timestamps in RFC 3339) with Content-Type: application/json; the answer is 200 with the response message, or a Connect error ({"code": "invalid_argument", "message": …, "details": […]}) with the HTTP status of its code. Send x-request-id to name the call in the audit trail.

Methods marked x-streaming (server or client streams) need a Connect or gRPC-Web client, e.g. @connectrpc/connect-node; their request and response bodies are enveloped messages, not plain JSON.`

type generator struct {
	schemas map[string]*ordered
}

// operation describes method m of svc.
func (g *generator) operation(svc protoreflect.ServiceDescriptor, m protoreflect.MethodDescriptor) *ordered {
	in, out := g.message(m.Input()), g.message(m.Output())
	desc := comment(m)
	op := obj(
		"operationId", string(svc.Name())+"_"+string(m.Name()),
		"tags", []any{string(svc.Name())},
		"summary", summary(desc),
		"description", desc,
	)
	contentType := "application/json"
	switch {
	case m.IsStreamingClient() && m.IsStreamingServer():
		op.set("x-streaming", "bidi")
	case m.IsStreamingClient():
		op.set("x-streaming", "client")
	case m.IsStreamingServer():
		op.set("x-streaming", "server")
	}
	if m.IsStreamingClient() || m.IsStreamingServer() {
		contentType = "application/connect+json"
	}
	op.set("requestBody", obj("required", true, "content", obj(contentType, obj("schema", ref(in)))))
	op.set("responses", obj(
		"200", obj("description", "The response message.", "content", obj(contentType, obj("schema", ref(out)))),
		"default", obj("$ref", "#/components/responses/error"),
	))
	return op
}

// message adds the schema of md (and of what it refers to) and returns its name.
func (g *generator) message(md protoreflect.MessageDescriptor) string {
	name := string(md.FullName())
	if _, ok := g.schemas[name]; ok {
		return name
	}
	s := obj("type", "object")
	g.schemas[name] = s // before the fields: messages may refer to themselves
	desc := comment(md)
	var oneofs []string
	for i := 0; i < md.Oneofs().Len(); i++ {
		o := md.Oneofs().Get(i)
		if o.IsSynthetic() {
			continue
		}
		var fs []string
		for j := 0; j < o.Fields().Len(); j++ {
			fs = append(fs, o.Fields().Get(j).JSONName())
		}
		oneofs = append(oneofs, "at most one of "+strings.Join(fs, ", "))
	}
	if len(oneofs) > 0 {
		desc = strings.TrimSpace(desc + "\n\nOf its fields, " + strings.Join(oneofs, "; ") + ".")
	}
	if desc != "" {
		s.set("description", desc)
	}
	props := &ordered{}
	for i := 0; i < md.Fields().Len(); i++ {
		f := md.Fields().Get(i)
		fs := g.field(f)
		if c := comment(f); c != "" {
			fs.set("description", c)
		}
		props.set(f.JSONName(), fs)
	}
	s.set("properties", props)
	return name
}

// field is the schema of f's value.
func (g *generator) field(f protoreflect.FieldDescriptor) *ordered {
	if f.IsMap() {
		return obj("type", "object", "additionalProperties", g.single(f.MapValue()))
	}
	if f.IsList() {
		return obj("type", "array", "items", g.single(f))
	}
	return g.single(f)
}

// single is the schema of one value of f.
func (g *generator) single(f protoreflect.FieldDescriptor) *ordered {
	switch f.Kind() {
	case protoreflect.BoolKind:
		return obj("type", "boolean")
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return obj("type", "integer", "format", "int32")
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return obj("type", "integer", "format", "int64", "minimum", 0)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return obj("type", "string", "format", "int64", "pattern", `^-?[0-9]+$`)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return obj("type", "string", "format", "uint64", "pattern", `^[0-9]+$`)
	case protoreflect.FloatKind:
		return obj("type", "number", "format", "float")
	case protoreflect.DoubleKind:
		return obj("type", "number", "format", "double")
	case protoreflect.StringKind:
		return obj("type", "string")
	case protoreflect.BytesKind:
		return obj("type", "string", "contentEncoding", "base64")
	case protoreflect.EnumKind:
		return ref(g.enum(f.Enum()))
	default: // message, group
		if s := wellKnown(f.Message()); s != nil {
			return s
		}
		return ref(g.message(f.Message()))
	}
}

// enum adds the schema of ed and returns its name: its values by name,
// each value's comment in the description.
func (g *generator) enum(ed protoreflect.EnumDescriptor) string {
	name := string(ed.FullName())
	if _, ok := g.schemas[name]; ok {
		return name
	}
	var values []any
	lines := []string{comment(ed)}
	for i := 0; i < ed.Values().Len(); i++ {
		v := ed.Values().Get(i)
		values = append(values, string(v.Name()))
		if c := comment(v); c != "" {
			lines = append(lines, "- "+string(v.Name())+": "+strings.ReplaceAll(c, "\n", " "))
		}
	}
	s := obj("type", "string")
	if d := strings.TrimSpace(strings.Join(lines, "\n")); d != "" {
		s.set("description", d)
	}
	s.set("enum", values)
	g.schemas[name] = s
	return name
}

// wellKnown is the JSON form of a well-known type, nil for other messages.
func wellKnown(md protoreflect.MessageDescriptor) *ordered {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return obj("type", "string", "format", "date-time")
	case "google.protobuf.Duration":
		return obj("type", "string", "pattern", `^-?[0-9]+(\.[0-9]{1,9})?s$`)
	case "google.protobuf.Empty":
		return obj("type", "object")
	case "google.protobuf.FieldMask":
		return obj("type", "string")
	case "google.protobuf.Struct":
		return obj("type", "object")
	case "google.protobuf.Value":
		return obj()
	case "google.protobuf.ListValue":
		return obj("type", "array")
	case "google.protobuf.Any":
		return obj("type", "object", "properties", obj("@type", obj("type", "string")))
	case "google.protobuf.StringValue":
		return obj("type", "string")
	case "google.protobuf.BytesValue":
		return obj("type", "string", "contentEncoding", "base64")
	case "google.protobuf.BoolValue":
		return obj("type", "boolean")
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return obj("type", "integer")
	case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
		return obj("type", "string", "format", "int64")
	case "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return obj("type", "number")
	}
	return nil
}

// connectError is the schema of a Connect error's JSON.
func connectError() *ordered {
	return obj(
		"type", "object",
		"description", "A Connect error: the gRPC status code in snake_case, its message, and its details.",
		"properties", obj(
			"code", obj("type", "string", "enum", []any{"canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
				"already_exists", "permission_denied", "resource_exhausted", "failed_precondition", "aborted", "out_of_range",
				"unimplemented", "internal", "unavailable", "data_loss", "unauthenticated"}),
			"message", obj("type", "string"),
			"details", obj("type", "array", "items", obj(
				"type", "object",
				"properties", obj(
					"type", obj("type", "string", "description", "The detail's message type, e.g. google.rpc.BadRequest."),
					"value", obj("type", "string", "contentEncoding", "base64", "description", "The detail in protobuf, base64 without padding."),
					"debug", obj("type", "object", "description", "The detail in JSON, for a human: e.g. {\"fieldViolations\": [{\"field\": \"nik\", \"description\": …}]}."),
				),
			)),
		),
	)
}

func ref(name string) *ordered { return obj("$ref", "#/components/schemas/"+name) }

// comment is d's leading comment, each line trimmed.
func comment(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	lines := strings.Split(strings.TrimSpace(loc.LeadingComments), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// summary is the first sentence of a method's comment, without its name.
func summary(desc string) string {
	s := strings.ReplaceAll(desc, "\n", " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	return s
}

// ordered is a JSON object that keeps its keys in the order they were set.
type ordered struct {
	keys   []string
	values map[string]any
}

func obj(kv ...any) *ordered {
	o := &ordered{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

func (o *ordered) set(k string, v any) {
	if o.values == nil {
		o.values = map[string]any{}
	}
	if _, ok := o.values[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.values[k] = v
}

func (o *ordered) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(o.values[k]); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// FileSet is the descriptors of files and their imports, as a buf image
// holds them (without comments: for tests that have no image).
func FileSet(files ...protoreflect.FileDescriptor) *descriptorpb.FileDescriptorSet {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(f protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		for i := 0; i < f.Imports().Len(); i++ {
			add(f.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(f))
	}
	for _, f := range files {
		add(f)
	}
	return set
}

// Registered is every file of the global registry in package prefix.
func Registered(prefix string) []protoreflect.FileDescriptor {
	var out []protoreflect.FileDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(string(f.Package()), prefix) {
			out = append(out, f)
		}
		return true
	})
	return out
}
