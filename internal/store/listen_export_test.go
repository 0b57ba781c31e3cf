package store

import "time"

// SetListenProbe shortens WaitForNotification's liveness check for a test;
// the returned function restores it.
func SetListenProbe(every, timeout time.Duration) (restore func()) {
	e, t := listenProbe, listenProbeTimeout
	listenProbe, listenProbeTimeout = every, timeout
	return func() { listenProbe, listenProbeTimeout = e, t }
}
