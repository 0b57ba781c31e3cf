package store

import "testing"

func TestIsCustodyRecordID(t *testing.T) {
	for id, want := range map[string]bool{
		"0b6f3c1e-9a2d-4f5b-8c7e-1d2a3b4c5d6e":  true,
		"00000000-0000-0000-0000-000000000000":  true,
		"0B6F3C1E-9A2D-4F5B-8C7E-1D2A3B4C5D6E":  false, // the store gives out lower case
		"0b6f3c1e9a2d4f5b8c7e1d2a3b4c5d6e":      false,
		"0b6f3c1e-9a2d-4f5b-8c7e-1d2a3b4c5d6":   false,
		"0b6f3c1e-9a2d-4f5b-8c7e-1d2a3b4c5d6e0": false,
		"0b6f3c1e-9a2d-4f5b-8c7e_1d2a3b4c5d6e":  false,
		"0b6f3c1e-9a2d-4f5b-8c7g-1d2a3b4c5d6e":  false,
		"0b6f3c1e--9a2d-4f5b-8c7e-1d2a3b4c5d6":  false,
		"":                                      false,
	} {
		if got := IsCustodyRecordID(id); got != want {
			t.Errorf("IsCustodyRecordID(%q) = %v, want %v", id, got, want)
		}
	}
}
