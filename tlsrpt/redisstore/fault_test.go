package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/strictmx/strictmx/internal/redistest"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/internal/sample"
	"github.com/strictmx/strictmx/tlsrpt/redisstore"
)

// faultWorld is a sender recording sessions and flushing them to a Redis
// that the test stalls, kills and restarts. The client's timeouts are
// short, so that a stall makes the outcome of a flush ambiguous: the
// client gives up, Redis executes the flush later.
type faultWorld struct {
	srv      *redistest.Server
	client   *redis.Client
	store    *redisstore.Store
	c        *tlsrpt.Collector
	f        *tlsrpt.Flusher
	next     int          // index of the next session to record
	recorded atomic.Int64 // sessions recorded so far
	failed   atomic.Int64 // flushes that failed
	opts     *redis.Options
}

func newFaultWorld(t *testing.T, persist bool, maxRetries int) *faultWorld {
	t.Helper()
	w := &faultWorld{srv: redistest.NewServer(t, &redistest.Config{Persist: persist})}
	w.opts = &redis.Options{Addr: w.srv.Addr,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 50 * time.Millisecond,
		WriteTimeout: 50 * time.Millisecond, PoolTimeout: 100 * time.Millisecond,
		MaxRetries: maxRetries, MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond}
	w.startSender(t)
	return w
}

// startSender starts the sender process: a client, a Collector and a
// Flusher. Called again, it is the sender's restart: what the old one had
// not stored is lost with it.
func (w *faultWorld) startSender(t *testing.T) {
	if w.client != nil {
		w.client.Close()
	}
	w.client = redis.NewClient(w.opts)
	c := w.client
	t.Cleanup(func() { c.Close() })
	w.store = &redisstore.Store{Client: w.client}
	w.c = &tlsrpt.Collector{}
	w.f = &tlsrpt.Flusher{Collector: w.c, Store: w.store, Interval: 5 * time.Millisecond}
}

// traffic records sessions (10 a millisecond) and flushes them (every
// 5 ms, as Flusher.Run would) for d, running during alongside; it returns
// when both have stopped.
func (w *faultWorld) traffic(t *testing.T, d time.Duration, during func()) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the sender
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for range 100000 { // bounded: 10 s of traffic
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range 10 {
				// i%1440: every session on sample.Day.
				if err := w.c.Record(sample.Result(w.next % 1440)); err != nil {
					t.Error(err)
				}
				w.next++
				w.recorded.Add(1)
			}
		}
	})
	wg.Go(func() { // the flusher
		tick := time.NewTicker(w.f.Interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if err := w.f.Flush(ctx); err != nil { // expected while Redis is down
				w.failed.Add(1)
			}
			cancel()
		}
	})
	done := make(chan struct{})
	go func() { during(); close(done) }()
	timer := time.NewTimer(d)
	<-timer.C
	<-done
	close(stop)
	wg.Wait()
}

// settle flushes until everything recorded is stored.
func (w *faultWorld) settle(t *testing.T) {
	t.Helper()
	var err error
	for range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = w.f.Flush(ctx)
		cancel()
		if err == nil && len(w.c.Snapshot()) == 0 {
			return
		}
	}
	t.Fatalf("flushes still fail after Redis recovered: %v", err)
}

// stored sums the sessions Redis holds for the 50 domains of crashResults.
func (w *faultWorld) stored(t *testing.T) int64 {
	t.Helper()
	var n int64
	for i := range 50 {
		a, err := w.store.Load(t.Context(), tlsrpt.Key{Domain: fmt.Sprintf("d%02d.example", i), Day: sample.Day})
		if err != nil {
			t.Fatal(err)
		}
		if a != nil {
			n += a.Sessions()
		}
	}
	return n
}

// wait blocks for d; the faults are scheduled, never timing assertions.
func wait(d time.Duration) { <-time.After(d) }

// TestRedisFaults stalls, kills and restarts Redis while a sender flushes
// sessions through clients with short timeouts, with and without go-redis
// retries, and checks that every session is counted exactly once.
func TestRedisFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("injects Redis faults for seconds")
	}
	for _, retries := range []int{-1, 3} {
		t.Run(fmt.Sprintf("retries=%d", retries), func(t *testing.T) {
			// SIGSTOP/SIGCONT: flushes time out, Redis executes them
			// when it resumes.
			t.Run("Pause", func(t *testing.T) {
				w := newFaultWorld(t, false, retries)
				w.traffic(t, time.Second, func() {
					for range 3 {
						wait(100 * time.Millisecond)
						w.srv.Pause(t)
						wait(200 * time.Millisecond)
						w.srv.Resume(t)
					}
				})
				w.settle(t)
				w.check(t, w.recorded.Load())
			})
			// SIGKILL just after a stall ends, while Redis executes
			// what piled up, then a restart with the data it
			// acknowledged (appendfsync always).
			t.Run("KillRestart", func(t *testing.T) {
				w := newFaultWorld(t, true, retries)
				w.traffic(t, time.Second, func() {
					for range 2 {
						wait(100 * time.Millisecond)
						w.srv.Pause(t)
						wait(200 * time.Millisecond)
						w.srv.Resume(t)
						wait(2 * time.Millisecond)
						w.srv.Kill(t)
						wait(50 * time.Millisecond)
						w.srv.Restart(t, true)
					}
				})
				w.settle(t)
				w.check(t, w.recorded.Load())
			})
			// A restart without data: what Redis held is gone; what the
			// sender had not stored yet is stored once.
			t.Run("RestartEmpty", func(t *testing.T) {
				w := newFaultWorld(t, false, retries)
				w.traffic(t, 200*time.Millisecond, func() {})
				w.settle(t)
				before := w.recorded.Load()
				w.srv.Pause(t)
				w.traffic(t, 300*time.Millisecond, func() {
					wait(200 * time.Millisecond)
					w.srv.Kill(t) // the flushes queued during the stall never run
					w.srv.Restart(t, false)
				})
				w.settle(t)
				w.check(t, w.recorded.Load()-before)
			})
			// The sender restarts while Redis is stalled with its
			// flushes queued: Redis applies them when it resumes, the
			// new sender knows nothing of them, and nothing is counted
			// twice. What the old sender had not sent is lost.
			t.Run("SenderRestart", func(t *testing.T) {
				w := newFaultWorld(t, false, retries)
				w.traffic(t, 200*time.Millisecond, func() {})
				w.settle(t)
				before := w.recorded.Load()
				w.srv.Pause(t)
				w.traffic(t, 200*time.Millisecond, func() {})
				w.startSender(t)
				lost := w.recorded.Load()
				w.srv.Resume(t)
				w.traffic(t, 200*time.Millisecond, func() {})
				w.settle(t)
				got, recorded := w.stored(t), w.recorded.Load()
				t.Logf("recorded %d (%d by the sender that crashed, unflushed), stored %d", recorded, lost-before, got)
				if got > recorded || got < recorded-(lost-before) {
					t.Errorf("stored %d sessions, want between %d and %d", got, recorded-(lost-before), recorded)
				}
			})
		})
	}
}

func (w *faultWorld) check(t *testing.T, want int64) {
	t.Helper()
	got := w.stored(t)
	t.Logf("recorded %d, stored %d (%+d); %d flushes failed", want, got, got-want, w.failed.Load())
	if w.failed.Load() == 0 {
		t.Error("no flush failed: the fault was not injected")
	}
	if got != want {
		t.Errorf("stored %d sessions, want %d (recorded): %+d", got, want, got-want)
	}
}

// TestRedisCallsBoundedByContext: with Redis stalled and a client that
// ignores contexts (ContextTimeoutEnabled false) and waits long for
// replies, every call returns soon after its ctx ends.
func TestRedisCallsBoundedByContext(t *testing.T) {
	if testing.Short() {
		t.Skip("stalls Redis for seconds")
	}
	srv := redistest.NewServer(t, nil)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	s := &redisstore.Store{Client: client}
	k := tlsrpt.Key{Domain: "d01.example", Day: sample.Day}
	var c tlsrpt.Collector
	c.Record(sample.Result(1))
	batch := c.Snapshot()
	if err := s.Add(t.Context(), tlsrpt.NewBatchID(), batch); err != nil { // warm the connection pool
		t.Fatal(err)
	}
	srv.Pause(t)
	defer srv.Resume(t)
	const timeout, slack = 200 * time.Millisecond, time.Second
	for name, call := range map[string]func(ctx context.Context) error{
		"Add":  func(ctx context.Context) error { return s.Add(ctx, tlsrpt.NewBatchID(), batch) },
		"Load": func(ctx context.Context) error { _, err := s.Load(ctx, k); return err },
		"Keys": func(ctx context.Context) error {
			for _, err := range s.Keys(ctx) {
				if err != nil {
					return err
				}
			}
			return nil
		},
		"State":    func(ctx context.Context) error { _, err := s.State(ctx, k); return err },
		"SetState": func(ctx context.Context) error { return s.SetState(ctx, k, []byte("x")) },
		"Delete":   func(ctx context.Context) error { return s.Delete(ctx, k) },
		"Lock":     func(ctx context.Context) error { _, err := s.Lock(ctx, k, "me", time.Minute); return err },
		"Unlock":   func(ctx context.Context) error { return s.Unlock(ctx, k, "me") },
	} {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		start := time.Now()
		err := call(ctx)
		took := time.Since(start)
		cancel()
		if err == nil {
			t.Errorf("%s with Redis stalled: no error", name)
		}
		if took > timeout+slack {
			t.Errorf("%s returned %v after its %v context ended", name, took-timeout, timeout)
		}
		t.Logf("%s with a %v context: returned after %v: %v", name, timeout, took, err)
	}
}
