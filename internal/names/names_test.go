package names

import "testing"

func TestModern(t *testing.T) {
	for old, want := range map[string]string{
		"joesoef":           "yusuf",
		"soekarno":          "sukarno",
		"soedjono":          "sujono",
		"tjahjono":          "cahyono",
		"djojohadikoesoemo": "joyohadikusumo",
		"sjahrir":           "syahrir",
		"njoman":            "nyoman",
		"moehammad joesoef": "muhammad yusuf",
		// Modern words keep their j: Joko, Jaya are not Yoko, Yaya.
		"joko jaya":    "joko jaya",
		"budi santoso": "budi santoso",
		"":             "",
	} {
		if got := Modern(old); got != want {
			t.Errorf("Modern(%q) = %q, want %q", old, got, want)
		}
	}
}
