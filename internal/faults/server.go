package faults

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sinergi-id/sinergi/internal/pki"
)

// Server is one `sinergi serve` process of the run, on 127.0.0.1.
type Server struct {
	Name string
	Addr string
	// App and Integrator are the database URLs it was started with.
	App, Integrator string
	LogPath         string

	h      *Harness
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
}

// StartServer runs `sinergi serve` against the database URLs (integrator
// empty: this process does not integrate the audit log) and waits until
// its health check answers SERVING.
func (h *Harness) StartServer(ctx context.Context, name, app, integrator string, extra ...string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Name: name, Addr: fmt.Sprintf("127.0.0.1:%d", port), App: app, Integrator: integrator, h: h,
		LogPath: filepath.Join(h.Root, "server-"+name+".log"), conns: map[string]*grpc.ClientConn{}}
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", s.Addr, "--metrics-addr", "", "--http-addr", "", "--database-url", app, "--integrator-database-url", integrator,
		"--cert", pki.ServerCertPath(h.PKIDir), "--key", pki.ServerKeyPath(h.PKIDir), "--ca", pki.CACertPath(h.PKIDir),
		"--audit-key", h.AuditKey, "--db-max-conns", "12"}
	s.cmd = exec.Command(h.Binary, append(args, extra...)...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// Its own process group (a Ctrl-C at the terminal reaches the harness,
	// which stops it), killed if the harness dies.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); logf.Close(); close(s.exited) }()
	h.mu.Lock()
	h.servers = append(h.servers, s)
	h.mu.Unlock()
	if err := s.WaitServing(ctx, time.Minute); err != nil {
		s.Kill()
		return nil, err
	}
	return s, nil
}

// WaitServing waits until the health check answers SERVING.
func (s *Server) WaitServing(ctx context.Context, within time.Duration) error {
	hc := healthpb.NewHealthClient(s.Conn("mabes-polri"))
	deadline := time.Now().Add(within)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		r, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("server %s exited: %s", s.Name, s.LogTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %s not serving after %s (%v): %s", s.Name, within, err, s.LogTail())
		}
	}
}

// Dial is a new client connection to the server as institution code,
// for the caller to close: a client of its own, with its own flow control.
func (s *Server) Dial(code string, opts ...grpc.DialOption) *grpc.ClientConn {
	cfg, err := pki.ClientTLS(pki.Files{Cert: pki.ClientCertPath(s.h.PKIDir, code), Key: pki.ClientKeyPath(s.h.PKIDir, code), CA: pki.CACertPath(s.h.PKIDir)}, "127.0.0.1")
	if err != nil {
		panic(fmt.Sprintf("client certificate of %s: %v", code, err))
	}
	c, err := grpc.NewClient(s.Addr, append([]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, opts...)...)
	if err != nil {
		panic(err)
	}
	return c
}

// Health is what the server's health check answers now ("" when it does not).
func (s *Server) Health(ctx context.Context) string {
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	r, err := healthpb.NewHealthClient(s.Conn("mabes-polri")).Check(cctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return ""
	}
	return r.GetStatus().String()
}

// healthSampler records what servers' health checks answer, every 100 ms
// until stopped.
type healthSampler struct {
	mu   sync.Mutex
	seen map[string]int
	stop context.CancelFunc
	done chan struct{}
}

func sampleHealth(ctx context.Context, servers ...*Server) *healthSampler {
	hs := &healthSampler{seen: map[string]int{}, done: make(chan struct{})}
	sctx, cancel := context.WithCancel(ctx)
	hs.stop = cancel
	go func() {
		defer close(hs.done)
		for sctx.Err() == nil {
			for _, s := range servers {
				st := s.Health(sctx)
				if st == "" {
					st = "no answer"
				}
				hs.mu.Lock()
				hs.seen[st]++
				hs.mu.Unlock()
			}
			select {
			case <-sctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return hs
}

// Stop ends the sampling and says what was seen: "SERVING 3, NOT_SERVING 12".
func (hs *healthSampler) Stop() string {
	hs.stop()
	<-hs.done
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var parts []string
	for k, n := range hs.seen {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// Conn is a client connection to the server as institution code over
// mutual TLS (one per code, kept until the server stops).
func (s *Server) Conn(code string) *grpc.ClientConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[code]; ok {
		return c
	}
	c := s.Dial(code)
	s.conns[code] = c
	return c
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.conns {
		c.Close()
		delete(s.conns, k)
	}
}

// Kill kills the process (SIGKILL) and waits for it.
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.exited
	s.closeConns()
}

// Terminate sends SIGTERM and waits for the process to exit, killing it
// after within; it returns how long it took to exit, and whether it did
// by itself.
func (s *Server) Terminate(within time.Duration) (time.Duration, bool) {
	start := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		s.closeConns()
		return time.Since(start), true
	case <-time.After(within):
		s.Kill()
		return time.Since(start), false
	}
}

// Stop ends the server: SIGTERM, killed if still running after 30 s.
func (s *Server) Stop() { s.Terminate(30 * time.Second) }

// RSS is the process's resident memory now and its peak, in MiB.
func (s *Server) RSS() (now, peak float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1, -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for key, dst := range map[string]*float64{"VmRSS:": &now, "VmHWM:": &peak} {
			if v, ok := strings.CutPrefix(sc.Text(), key); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				*dst = kb / 1024
			}
		}
	}
	return now, peak
}

// LogTail is the end of the server's log.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(s.LogPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return strings.TrimSpace(string(b))
}
