package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/testproc"
)

// EnvVar is the environment variable that enables tests against a real
// redis-server.
const EnvVar = "STRICTMX_TEST_REDIS"

// Binary is the program Start runs, looked up in PATH.
const Binary = "redis-server"

// Limits on starting a server.
const (
	// startAttempts bounds the retries when the chosen port was taken
	// between picking it and the server binding it.
	startAttempts = 5
	// readyTimeout bounds the wait for the server to answer, per attempt.
	readyTimeout = 10 * time.Second
)

// Start runs a redis-server on a free 127.0.0.1 port for the rest of the
// test and returns its address ("127.0.0.1:port"). It skips the test unless
// STRICTMX_TEST_REDIS=1, and fails it when redis-server is missing or does
// not answer in time. It is NewServer(t, nil).Addr.
func Start(t testing.TB) (addr string) {
	t.Helper()
	return NewServer(t, nil).Addr
}

// Config is how NewServer runs a server. The zero value (or nil) is what
// Start runs: no persistence.
type Config struct {
	// Persist makes the server log every write to an append-only file
	// and fsync it before it replies (appendfsync always), so that
	// Restart with keepData finds every write the server acknowledged.
	Persist bool
}

// Server is a redis-server process that a test controls, to inject the
// faults a production server has: a stall (Pause), a crash (Kill) and a
// restart with or without its data (Restart). Its methods must be called
// from the test's goroutine; they fail the test on error.
type Server struct {
	// Addr is the server's address, "127.0.0.1:port". It does not
	// change across restarts.
	Addr string

	bin  string
	port int
	dir  string // working directory, where a persistent server's data is
	cfg  Config

	mu   sync.Mutex
	proc *testproc.Process // nil after Kill
}

// NewServer runs a redis-server as cfg says (nil means the zero Config)
// on a free 127.0.0.1 port for the rest of the test. Like Start, it skips
// the test unless STRICTMX_TEST_REDIS=1 and fails it when the server does
// not come up. The server is killed when the test ends, whatever state
// the test left it in.
func NewServer(t testing.TB, cfg *Config) *Server {
	t.Helper()
	if os.Getenv(EnvVar) != "1" {
		t.Skip("set " + EnvVar + "=1 to run tests against a real redis-server")
	}
	bin, err := exec.LookPath(Binary)
	if err != nil {
		t.Fatalf("redistest: %s=1 but %s is not installed (Debian package redis-server): %v", EnvVar, Binary, err)
	}
	s := &Server{bin: bin}
	if cfg != nil {
		s.cfg = *cfg
	}
	var errs []error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.port, s.dir = port, t.TempDir()
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p, err := s.run()
		if err == nil {
			s.proc = p
			t.Cleanup(s.cleanup)
			return s
		}
		errs = append(errs, err)
	}
	t.Fatalf("redistest: could not start %s in %d attempts: %v", bin, startAttempts, errors.Join(errs...))
	return nil
}

func (s *Server) cleanup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
}

// signal sends sig to the running server.
func (s *Server) signal(t testing.TB, sig syscall.Signal, what string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		t.Fatalf("redistest: %s: the server at %s is not running", what, s.Addr)
	}
	if err := s.proc.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("redistest: %s %s: %v", what, s.Addr, err)
	}
}

// Pause stops the server with SIGSTOP: it keeps its connections open and
// the kernel keeps accepting what clients send, but nothing is executed or
// answered until Resume. This is what a stall (a long fork, a swapped-out
// server, a network partition) looks like to a client.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGSTOP, "pause")
}

// Resume continues a paused server with SIGCONT; it then executes what
// clients sent meanwhile, including commands whose clients gave up.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGCONT, "resume")
}

// Kill ends the server with SIGKILL (it may be paused) and waits for it
// to exit. Connections are reset; what a persistent server acknowledged
// is on disk.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
}

// Restart kills the server if it is running and starts a new one on the
// same address. With keepData, the new server loads what the old one
// persisted (see Config.Persist; a server without persistence comes back
// empty either way); without, its data directory is emptied first, as a
// server that lost its disk, or a cache without persistence, comes back.
func (s *Server) Restart(t testing.TB, keepData bool) {
	t.Helper()
	s.Kill(t)
	if !keepData {
		entries, err := os.ReadDir(s.dir)
		if err != nil {
			t.Fatalf("redistest: restart: %v", err)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
				t.Fatalf("redistest: restart: %v", err)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The port was ours a moment ago; redis-server binds with
	// SO_REUSEADDR, so only another process taking it in between makes
	// this fail, and a retry would not help.
	p, err := s.run()
	if err != nil {
		t.Fatalf("redistest: restart on %s: %v", s.Addr, err)
	}
	s.proc = p
}

// run starts one process on s.port and waits for it to answer. On failure
// it has already stopped the process.
func (s *Server) run() (*testproc.Process, error) {
	args := []string{
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(s.port),
		"--save", "",
		"--dir", s.dir,
		"--protected-mode", "yes",
		"--loglevel", "warning",
	}
	if s.cfg.Persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	p, err := testproc.Start(exec.Command(s.bin, args...))
	if err != nil {
		return nil, fmt.Errorf("redistest: start %s: %w", s.bin, err)
	}
	cmd, out := p.Cmd, p.Out

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if pid, err := serverPID(ctx, s.Addr); err == nil {
			if pid == cmd.Process.Pid {
				return p, nil
			}
			p.Kill()
			return nil, fmt.Errorf("redistest: another server (pid %d) holds %s", pid, s.Addr)
		}
		select {
		case <-p.Exited():
			return nil, fmt.Errorf("redistest: %s on port %d exited: %v: %s", s.bin, s.port, p.Err(), out.String())
		case <-ctx.Done():
			p.Kill()
			return nil, fmt.Errorf("redistest: %s on %s did not answer within %v: %s", s.bin, s.Addr, readyTimeout, out.String())
		case <-tick.C:
		}
	}
}

// serverPID asks the server at addr for its process id with an inline
// INFO command, without a Redis client library. Start compares it with the
// process it ran, so that a server someone else started on the same port in
// the meantime is never mistaken for ours.
func serverPID(ctx context.Context, addr string) (int, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	if err := c.SetDeadline(deadline); err != nil {
		return 0, err
	}
	if _, err := c.Write([]byte("INFO server\r\n")); err != nil {
		return 0, err
	}
	const maxReply = 64 << 10
	r := bufio.NewReader(io.LimitReader(c, maxReply))
	head, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(head, "$") {
		return 0, fmt.Errorf("redistest: INFO answered %q", head)
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil || n < 0 || n > maxReply {
		return 0, fmt.Errorf("redistest: INFO answered %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("redistest: INFO reply has no process_id")
}

// freePort is testproc.FreePort with this package's error prefix.
func freePort() (int, error) {
	port, err := testproc.FreePort()
	if err != nil {
		return 0, fmt.Errorf("redistest: find a free port: %w", err)
	}
	return port, nil
}
