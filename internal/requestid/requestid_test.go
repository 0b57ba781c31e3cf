package requestid

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestAssign(t *testing.T) {
	for _, tc := range []struct {
		sent string
		kept bool
	}{
		{"abc-123", true},
		{"Req.1_2:3-x", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"has space", false},
		{"nik=3174012345678901\n", false},
		{"ünïcode", false},
		{"a/b", false},
	} {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(Header, tc.sent))
		ctx, id := assign(ctx)
		if FromContext(ctx) != id {
			t.Fatalf("context carries %q, assign returned %q", FromContext(ctx), id)
		}
		if tc.kept != (id == tc.sent) {
			t.Errorf("sent %q: got id %q, kept=%v", tc.sent, id, tc.kept)
		}
		if !tc.kept && (len(id) != 24 || !sane(id)) {
			t.Errorf("sent %q: new id %q is not 24 hex digits", tc.sent, id)
		}
	}
	// Without metadata, a new id each time.
	_, a := assign(context.Background())
	_, b := assign(context.Background())
	if a == b || len(a) != 24 {
		t.Errorf("new ids %q and %q", a, b)
	}
}
