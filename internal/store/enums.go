package store

import "strings"

// Enums are stored as their proto names without the type prefix
// (INSTITUTION_KIND_LAPAS is stored as LAPAS), so that the tables read well
// in psql and survive renumbering.

func enumText(name, prefix string) string { return strings.TrimPrefix(name, prefix) }

func enumValue(values map[string]int32, prefix, text string) int32 {
	return values[prefix+text]
}
