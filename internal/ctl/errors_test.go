package ctl

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

func statusWith(t *testing.T, c codes.Code, msg string, details ...protoadapt.MessageV1) error {
	t.Helper()
	st, err := status.New(c, msg).WithDetails(details...)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestWriteError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		want     string
		wantExit int
	}{
		{
			name: "bad request names every field",
			err: statusWith(t, codes.InvalidArgument, "invalid request: page_size: at most 500; access.purpose: required",
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
					{Field: "page_size", Description: "at most 500"},
					{Field: "access.purpose", Description: "required for personal data"},
				}}),
			want: "" +
				"error: INVALID_ARGUMENT: invalid request: page_size: at most 500; access.purpose: required\n" +
				"  page_size: at most 500\n" +
				"  access.purpose: required for personal data\n",
			wantExit: exitFailure,
		},
		{
			name:     "status without details",
			err:      status.Error(codes.PermissionDenied, "no agreement covers this exchange"),
			want:     "error: PERMISSION_DENIED: no agreement covers this exchange\n",
			wantExit: exitFailure,
		},
		{
			name: "other details are shown, not hidden",
			err: statusWith(t, codes.FailedPrecondition, "agreement revoked",
				&errdetails.ErrorInfo{Reason: "AGREEMENT_REVOKED", Domain: "sinergi.go.id"}),
			want: "" +
				"error: FAILED_PRECONDITION: agreement revoked\n" +
				`  ErrorInfo: {"reason":"AGREEMENT_REVOKED","domain":"sinergi.go.id"}` + "\n",
			wantExit: exitFailure,
		},
		{
			name:     "wrapped status",
			err:      fmt.Errorf("list: %w", status.Error(codes.NotFound, "institution lapas-x not found")),
			want:     "error: NOT_FOUND: institution lapas-x not found\n",
			wantExit: exitFailure,
		},
		{
			name:     "not a status",
			err:      errors.New("load CA: no certificate in ca.crt"),
			want:     "error: load CA: no certificate in ca.crt\n",
			wantExit: exitFailure,
		},
		{
			name:     "usage",
			err:      usagef(helpHint, "unknown service %q", "lapas"),
			want:     "error: unknown service \"lapas\"\nRun 'sinergictl help' for usage.\n",
			wantExit: exitUsage,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if got := writeError(&b, tc.err); got != tc.wantExit {
				t.Errorf("exit status %d, want %d", got, tc.wantExit)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
