package server

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/validate"
)

// A request message that does not decode (truncated wire data, a string
// that is not UTF-8) fails inside gRPC's receive, which answers INTERNAL
// before any interceptor runs: the caller is told the server failed, and
// nothing records the call. lenientCodec instead lets the receive succeed
// with an empty message and remembers why it did not decode; the
// undecodable interceptors, inside audit, find that out and refuse the
// call with INVALID_ARGUMENT, so it is recorded as any refusal is.
type lenientCodec struct{}

var protoCodec = encoding.GetCodecV2(proto.Name)

// undecoded maps a message gRPC received into (a pointer) to why it did
// not decode. Every message the codec fills reaches one of the
// interceptors, which takes its entry out.
var undecoded sync.Map

// failure is why a message did not decode, and its bytes (at most a
// request's maximum size, kept until the interceptor takes it).
type failure struct {
	err  error
	data []byte
	json bool // the HTTP/JSON listener's JSON did not decode (err says why)
}

func (lenientCodec) Name() string { return proto.Name }

func (lenientCodec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }

func (lenientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := protoCodec.Unmarshal(data, v); err != nil {
		undecoded.Store(v, failure{err: err, data: data.Materialize()})
		return nil
	}
	if m, ok := v.(protoreflect.ProtoMessage); ok {
		if why, bad := jsonRefusal(m.ProtoReflect().GetUnknown()); bad {
			undecoded.Store(v, failure{err: errors.New(why), json: true})
		}
	}
	return nil
}

// jsonMarker is the field number of the unknown field the HTTP/JSON
// listener's codec puts in an empty request whose JSON did not decode
// (http.go): the call then reaches the interceptors, which refuse it and
// record the refusal, as a gRPC request that does not decode is. A gRPC
// caller who sends the field refuses only its own call.
const jsonMarker protowire.Number = protowire.MaxValidNumber

// markJSONRefusal is the unknown-field bytes saying why a request's JSON
// did not decode.
func markJSONRefusal(why string) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, jsonMarker, protowire.BytesType), []byte(why))
}

// jsonRefusal finds the marker in a message's unknown fields.
func jsonRefusal(unknown []byte) (string, bool) {
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			return "", false
		}
		unknown = unknown[n:]
		if num == jsonMarker && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(unknown)
			if n < 0 {
				return "", false
			}
			return string(v), true
		}
		if n = protowire.ConsumeFieldValue(num, typ, unknown); n < 0 {
			return "", false
		}
		unknown = unknown[n:]
	}
	return "", false
}

// decodeFailure takes out and returns why m did not decode; ok is false
// when it did.
func decodeFailure(m any) (failure, bool) {
	if f, ok := undecoded.LoadAndDelete(m); ok {
		return f.(failure), true
	}
	return failure{}, false
}

// refuseUndecodable refuses the call of m, which did not decode (its
// bytes are in the failure): with the string field that is not UTF-8
// named when that is why, else as the message.
func refuseUndecodable(ctx context.Context, m any, f failure) error {
	if f.json {
		audit.FromContext(ctx).Refuse("request JSON does not decode: " + f.err.Error())
		return validate.Error("", "%v", f.err)
	}
	audit.FromContext(ctx).Refuse("request message does not decode: " + f.err.Error())
	if pm, ok := m.(protoreflect.ProtoMessage); ok {
		if field := notUTF8(pm.ProtoReflect().Descriptor(), f.data, "", 0); field != "" {
			return validate.Error(field, "must be valid UTF-8")
		}
	}
	return validate.Error("", "the request message does not decode (truncated or malformed protobuf): %v", f.err)
}

// notUTF8 returns the path of the first string field in b, a message of
// d on the wire, that is not valid UTF-8; "" when there is none, or b
// does not parse far enough to tell.
func notUTF8(d protoreflect.MessageDescriptor, b []byte, prefix string, depth int) string {
	if depth > 32 {
		return ""
	}
	seen := map[protowire.Number]int{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		fd := d.Fields().ByNumber(num)
		if typ != protowire.BytesType || fd == nil || (fd.Kind() != protoreflect.StringKind && fd.Message() == nil) || fd.IsMap() {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return ""
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		name := string(fd.Name())
		if prefix != "" {
			name = prefix + "." + name
		}
		if fd.IsList() {
			name += "[" + strconv.Itoa(seen[num]) + "]"
			seen[num]++
		}
		if fd.Kind() == protoreflect.StringKind {
			if !utf8.Valid(v) {
				return name
			}
			continue
		}
		if p := notUTF8(fd.Message(), v, name, depth+1); p != "" {
			return p
		}
	}
	return ""
}

// undecodableUnary refuses a unary call whose request did not decode.
func undecodableUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if f, bad := decodeFailure(req); bad {
		return nil, refuseUndecodable(ctx, req, f)
	}
	return handler(ctx, req)
}

// undecodableStream refuses a stream at its first message that did not
// decode, or that gRPC could not receive (too large).
func undecodableStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, decodingStream{ss})
}

type decodingStream struct{ grpc.ServerStream }

func (s decodingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	switch {
	case err == nil:
		if f, bad := decodeFailure(m); bad {
			return refuseUndecodable(s.Context(), m, f)
		}
	case errors.Is(err, io.EOF):
	default:
		if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted {
			audit.FromContext(s.Context()).Refuse("request message refused: " + st.Message())
		}
	}
	return err
}

// unknownMethod answers a method the server does not serve, after the
// interceptors have recorded it.
func unknownMethod(any, grpc.ServerStream) error {
	return status.Error(codes.Unimplemented, "unknown method")
}
