// Package ctl owns sinergictl, the command-line client: it discovers every
// service and method of package sinergi.v1 at run time from the protobuf
// registry, turns command-line flags (or protojson) into the method's request
// message, calls the server over mutual TLS, and prints the answer as a table,
// as key: value lines or as protojson. Nothing in it names an RPC, so a method
// added to the .proto files works here as soon as its generated code is
// compiled in.
//
// Run is the whole program; cmd/sinergictl only hands it the process's
// arguments, environment and standard streams, so tests call it directly.
package ctl
