// Package testproc holds what the tests that run a real server as a child
// process (internal/redistest, internal/postfixtest, internal/unboundtest)
// share: starting, stopping and waiting for the child (Start, Process), a
// place for its output, and a free loopback port for it to listen on.
package testproc

import (
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Output collects a child process's output: exec's copying goroutine
// writes it while a failed start reads it. Its zero value is ready to use.
type Output struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write implements io.Writer.
func (w *Output) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// String returns what was written so far.
func (w *Output) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// FreePort asks the kernel for a free port on 127.0.0.1. Another process
// may take it before the child binds it: callers retry a failed start.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// Process is a child process started by Start: its command, its output,
// and the end of its Wait.
type Process struct {
	Cmd    *exec.Cmd
	Out    *Output
	exited chan struct{} // closed when Wait returns
	err    error         // Wait's result, set before exited is closed
}

// Start starts cmd with its standard output and error collected in the
// returned Process's Out, and waits for it in the background.
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{Cmd: cmd, Out: &Output{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the process's Wait result, once Exited is closed.
func (p *Process) Err() error {
	<-p.exited
	return p.err
}

// Kill kills the process and waits for it to exit. It may be called on a
// stopped process: SIGKILL ends it too.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.exited
}

// Terminate sends SIGTERM and waits up to grace for the process to exit,
// reporting whether it did; the caller kills it otherwise.
func (p *Process) Terminate(grace time.Duration) bool {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.exited:
		return true
	case <-timer.C:
		return false
	}
}
