// Package names owns how Indonesian names are compared across spellings.
// Names recorded before the 1972 spelling reform (Ejaan yang
// Disempurnakan), and many still written so, use the old letters: oe for
// u, dj for j, tj for c, j for y, sj for sy, nj for ny ("Joesoef" is
// "Yusuf", "Soedjono" is "Sudjono", "Tjahjono" is "Cahyono"). Modern gives
// a name's modern spelling, so that a search in either finds the other.
package names

import "strings"

// oldLetters are the digraphs only the old spellings use: a word with one
// is written in them, and its j is the old j (today's y). A word without
// one is taken as modern: its j is today's j.
var oldLetters = []string{"oe", "dj", "tj", "sj", "nj"}

// old turns the old digraphs into today's letters; dj becomes a mark that
// survives the j-to-y step and then becomes j.
var old = strings.NewReplacer("dj", "\x01", "tj", "c", "sj", "sy", "nj", "ny", "oe", "u")

// ModernWord is one lower-case word in today's spelling.
func ModernWord(w string) string {
	isOld := false
	for _, d := range oldLetters {
		if strings.Contains(w, d) {
			isOld = true
			break
		}
	}
	if !isOld {
		return w
	}
	w = strings.ReplaceAll(old.Replace(w), "j", "y")
	return strings.ReplaceAll(w, "\x01", "j")
}

// Modern is a lower-case name in today's spelling, word by word.
func Modern(name string) string {
	words := strings.Fields(name)
	for i, w := range words {
		words[i] = ModernWord(w)
	}
	return strings.Join(words, " ")
}
