package apidoc

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// The reference names every method with its callers, every message and
// every enum of the package (here from the compiled-in descriptors, which
// carry no comments; make check-docs compares the real one).
func TestEveryMethodMessageAndEnum(t *testing.T) {
	_ = sinergiv1.File_sinergi_v1_common_proto
	set := &descriptorpb.FileDescriptorSet{}
	var want []string
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
		if fd.Package() != Package {
			return true
		}
		for i := range fd.Services().Len() {
			s := fd.Services().Get(i)
			for j := range s.Methods().Len() {
				want = append(want, "### "+string(s.Name())+"."+string(s.Methods().Get(j).Name())+"\n")
			}
		}
		for i := range fd.Messages().Len() {
			want = append(want, "### "+string(fd.Messages().Get(i).Name())+"\n")
		}
		for i := range fd.Enums().Len() {
			want = append(want, "### "+string(fd.Enums().Get(i).Name())+"\n")
		}
		return true
	})
	image, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Write(&b, image); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	if len(want) < 50 {
		t.Fatalf("only %d headings expected", len(want))
	}
	for _, h := range want {
		if !strings.Contains(doc, h) {
			t.Errorf("the reference lacks %q", strings.TrimSpace(h))
		}
	}
	if strings.Contains(doc, "the policy table has no entry") {
		t.Errorf("a method without a policy entry:\n%s", doc)
	}
	if n := strings.Count(doc, "- **Callers**: "); n != strings.Count(strings.Join(want, ""), ".") {
		t.Errorf("%d methods with callers", n)
	}
}
