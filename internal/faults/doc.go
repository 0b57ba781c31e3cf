// Package faults is the fault battery (`make faults`): it starts
// PostgreSQL clusters of its own from the machine's binaries, under a
// temporary directory and on ports of their own (never the machine's own
// server), runs `sinergi serve` processes against them, drives load
// through the generated clients over mutual TLS on 127.0.0.1, injects one
// fault per scenario (a database restart, a killed server, an audit store
// that refuses inserts, stalled consumers, SIGTERM with streams open, a
// failover to a synchronous standby), and checks what must hold through
// it: every acknowledged write is in the database, every successful
// response and every write has its audit record, nothing is applied twice,
// watchers resume with no gap, the service recovers by itself, and the
// audit log verifies. Each scenario gives one line of counts.
//
// Loads are bounded in calls and time and stop by themselves; the
// clusters and servers are stopped and the directory removed at the end,
// on failure and on Ctrl-C (and, should the harness die, by the next run).
// The quick scenarios also run as Go tests in make test.
package faults
