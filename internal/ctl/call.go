package ctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxLine is the longest request line a client stream reads.
const maxLine = 16 << 20

// call invokes m and prints what it answers.
func (a *app) call(ctx context.Context, conn grpc.ClientConnInterface, m *method, req proto.Message, rf *requestFlags, opts *options) error {
	parent := ctx
	if opts.requestID != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", opts.requestID)
	}
	streaming := m.desc.IsStreamingClient() || m.desc.IsStreamingServer()
	timeout := opts.timeout.d
	if !opts.timeout.set && !streaming {
		timeout = defaultTimeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var err error
	if streaming {
		err = a.stream(ctx, conn, m, req, rf, opts)
	} else {
		resp := m.response.New().Interface()
		if err = conn.Invoke(ctx, m.fullMethod, req, resp); err == nil {
			err = opts.view().writeResponse(a.stdout, resp, opts.output)
		}
	}
	if err != nil && parent.Err() != nil {
		return errInterrupted
	}
	return err
}

func (v *view) writeResponse(w io.Writer, m proto.Message, format string) error {
	if format == outputJSON {
		return v.writeJSON(w, m)
	}
	return v.writeTable(w, m.ProtoReflect())
}

func (a *app) stream(ctx context.Context, conn grpc.ClientConnInterface, m *method, req proto.Message, rf *requestFlags, opts *options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := conn.NewStream(ctx, m.streamDesc(), m.fullMethod)
	if err != nil {
		return err
	}
	sent := make(chan error, 1)
	if m.desc.IsStreamingClient() {
		go func() {
			err := a.sendLines(stream, m, rf.file)
			sent <- err // before cancel, so whoever sees the cancel finds the cause
			if err != nil {
				cancel()
			}
		}()
	} else {
		if err := stream.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err := stream.CloseSend(); err != nil {
			return err
		}
	}
	err = a.receive(stream, m, opts.view(), opts.output)
	select {
	case sendErr := <-sent:
		if sendErr != nil {
			return sendErr
		}
	default:
		// A server may answer before reading every request; the rest is
		// not needed then.
	}
	return err
}

func (a *app) receive(stream grpc.ClientStream, m *method, v *view, format string) error {
	if !m.desc.IsStreamingServer() {
		resp := m.response.New().Interface()
		if err := stream.RecvMsg(resp); err != nil {
			return err
		}
		return v.writeResponse(a.stdout, resp, format)
	}
	p := &streamPrinter{view: v, w: a.stdout, format: format}
	for {
		resp := m.response.New().Interface()
		if err := stream.RecvMsg(resp); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := p.write(resp.ProtoReflect()); err != nil {
			return err
		}
	}
}

// requestLine reads one line of a client stream: the request as protojson
// ({"record": {...}}), or, when the request is one oneof of messages
// (SyncRosterRequest's header or record), one of those messages bare
// ({"register_number": ...}): the first member whose type reads the line.
func requestLine(rt protoreflect.MessageType, line []byte) (proto.Message, error) {
	msg := rt.New()
	err := protojson.Unmarshal(line, msg.Interface())
	if err == nil {
		return msg.Interface(), nil
	}
	members := wrapperOneof(rt.Descriptor())
	for _, fd := range members {
		inner := msg.NewField(fd).Message()
		if protojson.Unmarshal(line, inner.Interface()) == nil {
			msg = rt.New()
			msg.Set(fd, protoreflect.ValueOfMessage(inner))
			return msg.Interface(), nil
		}
	}
	if len(members) > 0 {
		names := make([]string, len(members))
		for i, fd := range members {
			names[i] = string(fd.Message().Name())
		}
		return nil, fmt.Errorf("neither a %s nor a bare %s: %v", rt.Descriptor().Name(), strings.Join(names, " or "), err)
	}
	return nil, err
}

// wrapperOneof is the members of md's one oneof when md has no other
// field and every member is a message, else nil.
func wrapperOneof(md protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	if md.Oneofs().Len() != 1 || md.Oneofs().Get(0).IsSynthetic() {
		return nil
	}
	o := md.Oneofs().Get(0)
	if o.Fields().Len() != md.Fields().Len() {
		return nil
	}
	var out []protoreflect.FieldDescriptor
	for i := range o.Fields().Len() {
		fd := o.Fields().Get(i)
		if fd.Message() == nil {
			return nil
		}
		out = append(out, fd)
	}
	return out
}

// sendLines sends a request for each non-blank line of protojson from path,
// or from standard input when path is empty, then closes the sending side.
func (a *app) sendLines(stream grpc.ClientStream, m *method, path string) error {
	src, name := a.stdin, "standard input"
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return usagef("", "--file: %v", err)
		}
		defer f.Close()
		src, name = f, path
	} else if f, ok := a.stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintf(a.stderr, "reading %s requests from the terminal, one JSON object per line; end with Ctrl-D\n", m.request.Descriptor().Name())
		}
	}
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		msg, err := requestLine(m.request, []byte(line))
		if err != nil {
			return usagef("", "%s line %d: %v", name, n, err)
		}
		if err := stream.SendMsg(msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the server ended the call; receiving tells why
			}
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return stream.CloseSend()
}
