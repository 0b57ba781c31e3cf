package ctl

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1   // the call failed, or the client could not make it
	exitUsage       = 2   // the command line is wrong
	exitInterrupted = 130 // Ctrl-C, as shells report a SIGINT
)

// usageError is a mistake on the command line; hint says where to look.
type usageError struct {
	err  error
	hint string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(hint, format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...), hint: hint}
}

// writeError writes err for a person and returns the exit status: a gRPC
// status as "error: CODE: message" followed by each bad field its
// google.rpc.BadRequest names, so the user sees every field to fix at once.
func writeError(w io.Writer, err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "error: %v\n", ue.err)
		if ue.hint != "" {
			fmt.Fprintln(w, ue.hint)
		}
		return exitUsage
	}
	// The status itself, not status.FromError's: that one puts the text of
	// any wrapping into the message.
	var withStatus interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &withStatus) || withStatus.GRPCStatus() == nil {
		fmt.Fprintf(w, "error: %v\n", err)
		return exitFailure
	}
	st := withStatus.GRPCStatus()
	fmt.Fprintf(w, "error: %s: %s\n", code.Code(st.Code()), st.Message())
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fmt.Fprintf(w, "  %s: %s\n", v.GetField(), oneLine(v.GetDescription()))
			}
		case proto.Message:
			// Other details are shown as they are rather than hidden.
			name := d.ProtoReflect().Descriptor().Name()
			fmt.Fprintf(w, "  %s: %s\n", name, string(populatedJSON(d.ProtoReflect(), wib)))
		case error:
			fmt.Fprintf(w, "  (a detail this client cannot read: %s)\n", strings.TrimSpace(d.Error()))
		}
	}
	return exitFailure
}
