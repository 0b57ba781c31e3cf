// Package directory owns the meaning of the directory: which side an
// institution is on, which region contains which, when an agreement is in
// force, whether an agreement covers an exchange between two institutions
// (CheckCoverage), the seed file format and its validation, the embedded demo
// directory, and an in-memory snapshot that every server process keeps fresh
// through PostgreSQL notifications.
package directory
