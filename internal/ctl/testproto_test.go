package ctl

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	// The well-known types the test file imports.
	_ "google.golang.org/protobuf/types/known/durationpb"
	_ "google.golang.org/protobuf/types/known/emptypb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"
)

// testPackage holds what sinergi.v1 does not have yet but the client must
// handle: every kind of stream, and field shapes (bools, maps, oneofs with an
// Empty member, durations, wrappers, recursion) that a later RPC may use.
//
//	service TestService {
//	  rpc Find(Filter) returns (Summary);
//	  rpc Watch(Filter) returns (stream Item);
//	  rpc Upload(stream Item) returns (Summary);
//	  rpc Chat(stream Item) returns (stream Item);
//	}
const testPackage protoreflect.FullName = "ctltest.v1"

func testRegistry(t *testing.T) (*protoregistry.Files, *protoregistry.Types) {
	t.Helper()
	opt := func(l descriptorpb.FieldDescriptorProto_Label) *descriptorpb.FieldDescriptorProto_Label { return &l }
	field := func(name string, number int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{
			Name: proto.String(name), JsonName: proto.String(name), Number: proto.Int32(number),
			Type: typ.Enum(), Label: opt(descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL),
		}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	repeated := func(f *descriptorpb.FieldDescriptorProto) *descriptorpb.FieldDescriptorProto {
		f.Label = opt(descriptorpb.FieldDescriptorProto_LABEL_REPEATED)
		return f
	}
	inOneof := func(f *descriptorpb.FieldDescriptorProto, index int32) *descriptorpb.FieldDescriptorProto {
		f.OneofIndex = proto.Int32(index)
		return f
	}
	mapEntry := func(name string, value descriptorpb.FieldDescriptorProto_Type) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{
			Name: proto.String(name),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("key", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""),
				field("value", 2, value, ""),
			},
			Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
		}
	}
	const (
		str   = descriptorpb.FieldDescriptorProto_TYPE_STRING
		boolT = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		i32   = descriptorpb.FieldDescriptorProto_TYPE_INT32
		msg   = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		byt   = descriptorpb.FieldDescriptorProto_TYPE_BYTES
	)
	file := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("ctltest/v1/test.proto"),
		Package: proto.String(string(testPackage)),
		Syntax:  proto.String("proto3"),
		Dependency: []string{
			"google/protobuf/duration.proto", "google/protobuf/empty.proto",
			"google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto",
		},
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name: proto.String("Filter"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("code", 1, str, ""),
					field("active", 2, boolT, ""),
					repeated(field("labels", 3, msg, ".ctltest.v1.Filter.LabelsEntry")),
					inOneof(field("name", 4, str, ""), 0),
					inOneof(field("all", 5, msg, ".google.protobuf.Empty"), 0),
					field("wait", 6, msg, ".google.protobuf.Duration"),
					field("limit", 7, msg, ".google.protobuf.Int32Value"),
					field("blob", 8, byt, ""),
					field("parent", 9, msg, ".ctltest.v1.Filter"),
					repeated(field("items", 10, msg, ".ctltest.v1.Item")),
					repeated(field("times", 11, msg, ".google.protobuf.Timestamp")),
					repeated(field("counts", 12, msg, ".ctltest.v1.Filter.CountsEntry")),
				},
				NestedType: []*descriptorpb.DescriptorProto{
					mapEntry("LabelsEntry", str),
					mapEntry("CountsEntry", i32),
				},
				OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("target")}},
			},
			{
				Name: proto.String("Item"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("code", 1, str, ""),
					field("n", 2, i32, ""),
					field("time", 3, msg, ".google.protobuf.Timestamp"),
					repeated(field("tags", 4, str, "")),
				},
			},
			{
				Name: proto.String("Summary"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("count", 1, i32, ""),
					repeated(field("codes", 2, str, "")),
					field("ok", 3, boolT, ""),
				},
			},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("TestService"),
			Method: []*descriptorpb.MethodDescriptorProto{
				{Name: proto.String("Find"), InputType: proto.String(".ctltest.v1.Filter"), OutputType: proto.String(".ctltest.v1.Summary")},
				{Name: proto.String("Watch"), InputType: proto.String(".ctltest.v1.Filter"), OutputType: proto.String(".ctltest.v1.Item"), ServerStreaming: proto.Bool(true)},
				{Name: proto.String("Upload"), InputType: proto.String(".ctltest.v1.Item"), OutputType: proto.String(".ctltest.v1.Summary"), ClientStreaming: proto.Bool(true)},
				{Name: proto.String("Chat"), InputType: proto.String(".ctltest.v1.Item"), OutputType: proto.String(".ctltest.v1.Item"), ClientStreaming: proto.Bool(true), ServerStreaming: proto.Bool(true)},
			},
		}},
	}
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	files, types := new(protoregistry.Files), new(protoregistry.Types)
	if err := files.RegisterFile(fd); err != nil {
		t.Fatal(err)
	}
	for i := range fd.Messages().Len() {
		if err := types.RegisterMessage(dynamicpb.NewMessageType(fd.Messages().Get(i))); err != nil {
			t.Fatal(err)
		}
	}
	return files, types
}

func testCatalog(t *testing.T) *catalog {
	t.Helper()
	files, types := testRegistry(t)
	cat, err := loadCatalog(files, types, testPackage)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// testMessage makes a message of the test package from protojson.
func testMessage(t *testing.T, cat *catalog, name string, json string) proto.Message {
	t.Helper()
	for _, s := range cat.services {
		for _, m := range s.methods {
			for _, mt := range []protoreflect.MessageType{m.request, m.response} {
				if string(mt.Descriptor().Name()) == name {
					msg := mt.New().Interface()
					if err := protojsonUnmarshal(json, msg); err != nil {
						t.Fatalf("%s %s: %v", name, json, err)
					}
					return msg
				}
			}
		}
	}
	t.Fatalf("no message %s", name)
	return nil
}

func protojsonUnmarshal(s string, m proto.Message) error { return protojson.Unmarshal([]byte(s), m) }
