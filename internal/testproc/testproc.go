// Package testproc holds what the tests that run a real server as a child
// process (internal/redistest, internal/postfixtest) share: a place for the
// child's output, and a free loopback port for it to listen on.
package testproc

import (
	"net"
	"strings"
	"sync"
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
