package mtaststest_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// TestCloseRightAfterMXHost: Close returns, bounded, even when an MX host
// is closed before its serving goroutines have started (one P makes that
// the usual order).
func TestCloseRightAfterMXHost(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for i := range 30 {
		s := mtaststest.NewServer(t)
		s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{})
		s.MXHost("example.test", 20, "mx2.example.test", mtaststest.MXConfig{NoSTARTTLS: true})
		done := make(chan struct{})
		go func() { s.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Server.Close still blocked after 10 s", i)
		}
	}
}
