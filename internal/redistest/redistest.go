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
	"strconv"
	"strings"
	"testing"
	"time"
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
// not answer in time.
func Start(t testing.TB) (addr string) {
	t.Helper()
	if os.Getenv(EnvVar) != "1" {
		t.Skip("set " + EnvVar + "=1 to run tests against a real redis-server")
	}
	bin, err := exec.LookPath(Binary)
	if err != nil {
		t.Fatalf("redistest: %s=1 but %s is not installed (Debian package redis-server): %v", EnvVar, Binary, err)
	}
	var errs []error
	for range startAttempts {
		addr, err := start(t, bin)
		if err == nil {
			return addr
		}
		errs = append(errs, err)
	}
	t.Fatalf("redistest: could not start %s in %d attempts: %v", bin, startAttempts, errors.Join(errs...))
	return ""
}

// start makes one attempt: it picks a port, runs the server and waits for
// PONG. On failure it has already stopped the process.
func start(t testing.TB, bin string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--save", "",
		"--appendonly", "no",
		"--dir", t.TempDir(),
		"--protected-mode", "yes",
		"--loglevel", "warning",
	)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("redistest: start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if pid, err := serverPID(ctx, addr); err == nil {
			if pid == cmd.Process.Pid {
				break
			}
			stop()
			return "", fmt.Errorf("redistest: another server (pid %d) holds %s", pid, addr)
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("redistest: %s on port %d exited: %v: %s", bin, port, err, out.String())
		case <-ctx.Done():
			stop()
			return "", fmt.Errorf("redistest: %s on %s did not answer within %v: %s", bin, addr, readyTimeout, out.String())
		case <-tick.C:
		}
	}
	t.Cleanup(stop)
	return addr, nil
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before the server binds it; Start then retries.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
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
