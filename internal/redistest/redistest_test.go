package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStart(t *testing.T) {
	var first string
	t.Run("run", func(t *testing.T) {
		first = Start(t)
		second := Start(t)
		if first == second {
			t.Fatalf("two Starts share %s", first)
		}
		for _, addr := range []string{first, second} {
			if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
				t.Errorf("address %s is not on 127.0.0.1", addr)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			if _, err := serverPID(ctx, addr); err != nil {
				t.Errorf("server at %s: %v", addr, err)
			}
			cancel()
		}
	})
	if first == "" {
		return // skipped
	}
	// Cleanup of the subtest killed the server.
	if c, err := net.DialTimeout("tcp", first, time.Second); err == nil {
		c.Close()
		t.Errorf("server at %s still accepts connections after cleanup", first)
	}
}

func TestStartSkipsWithoutEnv(t *testing.T) {
	t.Setenv(EnvVar, "")
	ran := false
	t.Run("skip", func(t *testing.T) {
		Start(t)
		ran = true
	})
	if ran {
		t.Fatalf("Start did not skip with %s unset", EnvVar)
	}
}

// inline sends one inline command to addr and returns the first line of
// the reply, within timeout.
func inline(addr, cmd string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestServerFaults(t *testing.T) {
	for _, persist := range []bool{false, true} {
		t.Run(fmt.Sprintf("persist=%v", persist), func(t *testing.T) {
			s := NewServer(t, &Config{Persist: persist})
			must := func(cmd, want string) {
				t.Helper()
				got, err := inline(s.Addr, cmd, 5*time.Second)
				if err != nil || got != want {
					t.Fatalf("%s: %q, %v; want %q", cmd, got, err, want)
				}
			}
			must("SET k v", "+OK")

			// A paused server accepts connections but answers nothing.
			s.Pause(t)
			if got, err := inline(s.Addr, "PING", 200*time.Millisecond); err == nil {
				t.Fatalf("paused server answered %q", got)
			}
			s.Resume(t)
			must("PING", "+PONG")

			s.Kill(t)
			if _, err := inline(s.Addr, "PING", time.Second); err == nil {
				t.Fatal("killed server answered")
			}
			s.Restart(t, true)
			if persist {
				must("GET k", "$1") // the bulk reply's header: "v" survived
			} else {
				must("GET k", "$-1")
			}
			must("SET k2 v", "+OK")
			s.Restart(t, false)
			must("GET k2", "$-1")

			// A paused server is killed at cleanup all the same.
			s.Pause(t)
		})
	}
}
