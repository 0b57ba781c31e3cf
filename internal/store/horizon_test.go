package store

import "testing"

func TestWidenXID(t *testing.T) {
	const epoch = int64(3) << 32
	for _, tc := range []struct{ x32, ref, want int64 }{
		{100, epoch + 500, epoch + 100},                         // same epoch
		{0xFFFFFFF0, epoch + 5, epoch - (1 << 32) + 0xFFFFFFF0}, // assigned just before the wrap
		{499, epoch + 500, epoch + 499},
	} {
		if got := widenXID(tc.x32, tc.ref); got != tc.want {
			t.Errorf("widenXID(%d, %d) = %d, want %d", tc.x32, tc.ref, got, tc.want)
		}
	}
}
