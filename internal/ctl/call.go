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
			err = writeResponse(a.stdout, resp, opts.output)
		}
	}
	if err != nil && parent.Err() != nil {
		return errInterrupted
	}
	return err
}

func writeResponse(w io.Writer, m proto.Message, format string) error {
	if format == outputJSON {
		return writeJSON(w, m)
	}
	return writeTable(w, m.ProtoReflect())
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
	err = a.receive(stream, m, opts.output)
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

func (a *app) receive(stream grpc.ClientStream, m *method, format string) error {
	if !m.desc.IsStreamingServer() {
		resp := m.response.New().Interface()
		if err := stream.RecvMsg(resp); err != nil {
			return err
		}
		return writeResponse(a.stdout, resp, format)
	}
	p := &streamPrinter{w: a.stdout, format: format}
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
		msg := m.request.New().Interface()
		if err := protojson.Unmarshal([]byte(line), msg); err != nil {
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
