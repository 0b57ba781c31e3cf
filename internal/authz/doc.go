// Package authz decides what a caller may do, in one place for every method:
//
//   - Policy, one table keyed by full method name, says which institution
//     kinds may call a method, which agreement scope its data needs and
//     whether it touches personal data. A method missing from the table is
//     refused (fail closed).
//   - Every request is validated by its registered validator before any
//     handler runs; personal-data requests must carry a valid AccessContext.
//   - For data methods it computes the caller's Reach: the facilities whose
//     data the caller may see now, each with the agreements that grant it
//     and whether children's identities may be shown. Storage queries take
//     the Reach as a parameter, so a handler cannot read outside it, and a
//     record outside it is indistinguishable from one that does not exist.
//   - Records and reports in a response are attributed to the audit record
//     as subjects, with the agreements that granted each, by walking the
//     response: a handler cannot forget to.
package authz
