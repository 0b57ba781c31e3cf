package openapi_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sinergi-id/sinergi/internal/openapi"
	_ "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

type document struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]struct {
		Post struct {
			OperationID string `json:"operationId"`
			Streaming   string `json:"x-streaming"`
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"post"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

// methods is every method of the sinergi services, by path.
func methods(t *testing.T) map[string]protoreflect.MethodDescriptor {
	t.Helper()
	out := map[string]protoreflect.MethodDescriptor{}
	for _, f := range openapi.Registered("sinergi.") {
		for i := 0; i < f.Services().Len(); i++ {
			svc := f.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				m := svc.Methods().Get(j)
				out["/"+string(svc.FullName())+"/"+string(m.Name())] = m
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d methods registered", len(out))
	}
	return out
}

func check(t *testing.T, raw []byte) {
	t.Helper()
	var doc document
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	ms := methods(t)
	for path, m := range ms {
		p, ok := doc.Paths[path]
		if !ok {
			t.Errorf("%s has no path", path)
			continue
		}
		streaming := m.IsStreamingClient() || m.IsStreamingServer()
		if (p.Post.Streaming != "") != streaming {
			t.Errorf("%s: x-streaming %q, streaming %v", path, p.Post.Streaming, streaming)
		}
		for _, c := range p.Post.RequestBody.Content {
			name := strings.TrimPrefix(c.Schema.Ref, "#/components/schemas/")
			if name != string(m.Input().FullName()) {
				t.Errorf("%s: request schema %s, want %s", path, name, m.Input().FullName())
			}
			if _, ok := doc.Components.Schemas[name]; !ok {
				t.Errorf("%s: no schema %s", path, name)
			}
		}
	}
	for path := range doc.Paths {
		if _, ok := ms[path]; !ok {
			t.Errorf("path %s names no method", path)
		}
	}
}

// TestEveryMethodHasAPath generates the document from the compiled-in
// descriptors: every method has its path, with its request's schema.
func TestEveryMethodHasAPath(t *testing.T) {
	raw, err := openapi.Generate(openapi.FileSet(openapi.Registered("sinergi.")...), openapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, raw)
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
				Enum       []string                   `json:"enum"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// The proto3 JSON mapping: camelCase names, enums by name.
	if _, ok := doc.Components.Schemas["sinergi.v1.AccessContext"].Properties["operatorId"]; !ok {
		t.Errorf("AccessContext has no operatorId: %v", doc.Components.Schemas["sinergi.v1.AccessContext"])
	}
	if e := doc.Components.Schemas["sinergi.v1.Purpose"].Enum; len(e) < 3 || e[0] != "PURPOSE_UNSPECIFIED" {
		t.Errorf("Purpose enum %v", e)
	}
}

// TestCommittedDocumentCoversEveryMethod: docs/openapi.json has a path for
// every method compiled in (make check-openapi proves it is exactly what
// the protos give, comments included).
func TestCommittedDocumentCoversEveryMethod(t *testing.T) {
	raw, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	check(t, raw)
}
