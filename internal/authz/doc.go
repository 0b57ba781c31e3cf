// Package authz decides what a caller may do and see, in one place for
// every method:
//
//   - Policy, one table keyed by full method name, says which institution
//     kinds may call a method, which agreement scopes its data needs, which
//     purposes each kind of caller may give for it (access.go; the README
//     shows the table) and which kinds of audit subject its calls name. A
//     method missing from the table is refused (fail closed).
//   - Every request is validated by its registered validator before any
//     handler runs; a request that carries an AccessContext must carry a
//     valid one: the officer, a purpose the table gives the caller, and the
//     case reference that purpose needs, in its form.
//   - For data methods it computes the caller's Reach: the facilities whose
//     data the caller may see now, each with the agreements that grant it,
//     the data classes they cover (classes.go: identity, placement, legal
//     status, risk flags, custody events, report content) and whether
//     children's identities may be shown.
//   - It turns the reach into the one restriction every custody and report
//     query takes (package restrict), whose SQL and in-memory forms come
//     from one definition: a record or report outside it is never read, and
//     is indistinguishable from one that does not exist.
//   - Records and reports in a response are attributed to the audit record
//     as subjects, with the agreements that granted each, by walking the
//     response: a handler cannot forget to.
//   - Every streaming call runs under one recheck (recheck.go), declared per
//     method in the table: it ends the stream, with one status per cause,
//     when the caller's certificate is revoked or expires, its institution
//     is suspended, or an agreement that granted the stream's data ends.
package authz
