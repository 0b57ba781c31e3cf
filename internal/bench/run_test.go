package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestRunKeepsTheFirstErrorOfAnyType: calls failing with errors of
// different concrete types are counted, and the load reports one of them,
// without a panic.
func TestRunKeepsTheFirstErrorOfAnyType(t *testing.T) {
	base := errors.New("refused")
	l := Run(context.Background(), 4, 50*time.Millisecond, func(ctx context.Context, w int, i int64) error {
		if i%2 == 0 {
			return base
		}
		return fmt.Errorf("call %d: %w", i, base)
	})
	if l.FirstErr == nil || !errors.Is(l.FirstErr, base) || l.Errors == 0 || l.Calls != 0 {
		t.Fatalf("first error %v, %d errors, %d calls; want one of the errors, some errors and no successful calls", l.FirstErr, l.Errors, l.Calls)
	}
}
