// Command sinergi-openapi writes the OpenAPI document of the HTTP/JSON
// endpoint from a buf image of the protos (make openapi):
//
//	buf build -o image.binpb && sinergi-openapi -image image.binpb -o docs/openapi.json
package main

import (
	"flag"
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/sinergi-id/sinergi/internal/openapi"
)

func main() {
	image := flag.String("image", "", "buf image of the protos (buf build -o FILE.binpb), with source info")
	out := flag.String("o", "docs/openapi.json", "where to write the document, - for stdout")
	flag.Parse()
	if err := run(*image, *out); err != nil {
		fmt.Fprintln(os.Stderr, "sinergi-openapi:", err)
		os.Exit(1)
	}
}

func run(image, out string) error {
	if image == "" {
		return fmt.Errorf("-image is required")
	}
	raw, err := os.ReadFile(image)
	if err != nil {
		return err
	}
	// A buf image is a FileDescriptorSet on the wire (its extra fields are
	// unknown to it and dropped).
	var set descriptorpb.FileDescriptorSet
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("%s: %w", image, err)
	}
	doc, err := openapi.Generate(&set, openapi.Options{})
	if err != nil {
		return err
	}
	if out == "-" {
		_, err = os.Stdout.Write(doc)
		return err
	}
	return os.WriteFile(out, doc, 0o644)
}
