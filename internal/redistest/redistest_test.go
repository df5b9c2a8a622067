package redistest

import (
	"context"
	"net"
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
