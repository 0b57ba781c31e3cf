// Package audit owns the audit trail: the record each call builds as it goes
// (Entry, carried in the context), the group-commit writer that makes records
// durable before a reply leaves, the sequencer that links committed records
// into a SHA-256 hash chain and signs checkpoints with Ed25519, retention that
// drops whole old months while keeping the chain verifiable, and Verify.
//
// The rule it enforces is fail closed: a call whose audit record cannot be
// committed returns UNAVAILABLE and nothing else (see Interceptor).
package audit
