package reporter_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
)

var errProcessDied = errors.New("test: the process died here")

// dyingStore is a Store of a process that dies at its first Delete: the
// Delete takes effect, and then nothing more does.
type dyingStore struct {
	tlsrpt.Store
	mu   sync.Mutex
	dead bool
}

func (s *dyingStore) Delete(ctx context.Context, k tlsrpt.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return errProcessDied
	}
	s.dead = true
	s.Store.Delete(ctx, k)
	return errProcessDied
}

func (s *dyingStore) SetState(ctx context.Context, k tlsrpt.Key, state []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return errProcessDied
	}
	return s.Store.SetState(ctx, k, state)
}

// TestSchedulerCrashInFinish: a Scheduler that dies anywhere in the
// bookkeeping after a delivery, and counts for that day flushed after the
// restart, give one report, not two.
func TestSchedulerCrashInFinish(t *testing.T) {
	w := newWorld(t)
	w.resolver.txt["_smtp._tls.example.net"] = []string{"v=TLSRPTv1; rua=mailto:r@example.net"}
	w.record("example.net", 2, 1)
	w.clock.Set(day.End().Add(2 * time.Hour))

	s1 := w.scheduler()
	s1.Store = &dyingStore{Store: w.store}
	for range 5 {
		s1.RunOnce(context.Background()) // errors once it has died
	}
	if n := len(w.mailer.Messages()); n != 1 {
		t.Fatalf("%d messages before the crash, want 1", n)
	}

	// After the restart, a sender flushes late counts for the same day.
	w.record("example.net", 1, 0)
	s2 := w.scheduler()
	w.seq.Store(1000)
	w.runUntil(s2, 6*time.Hour, func() bool { return false })
	if n := len(w.mailer.Messages()); n != 1 {
		t.Fatalf("%d reports for one (domain, day) across a crash, want 1", n)
	}

	// The day's counts and its marker go once the marker is no longer
	// needed.
	k := tlsrpt.Key{Domain: "example.net", Day: day}
	w.clock.Set(day.End().Add(80 * time.Hour))
	w.pass(s2)
	if a, err := w.store.Load(context.Background(), k); a != nil || err != nil {
		t.Fatalf("counts kept after the marker expired: %v, %v", a, err)
	}
}
