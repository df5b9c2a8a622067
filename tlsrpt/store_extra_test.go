package tlsrpt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/strictmx/strictmx/internal/redistest"
	"github.com/strictmx/strictmx/tlsrpt"
)

var crashDay = tlsrpt.DayOf(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))

// crashResults are the 100 sessions the child records per flush, spread
// over 50 domains so that every flush writes many pages.
func crashResults(i int) tlsrpt.Result {
	d := fmt.Sprintf("d%02d.example", i%50)
	r := tlsrpt.Result{
		Policy: tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: d, String: []string{"version: STSv1", "mx: mx." + d}, MXHost: []string{"mx." + d}},
		Time:   crashDay.Start().Add(time.Duration(i) * time.Minute),
	}
	if i%3 == 0 {
		r.ResultType = tlsrpt.ResultSTARTTLSNotSupported
		r.MXHost = "mx." + d
	}
	return r
}

const crashChildEnv = "STRICTMX_TLSRPT_CRASH_CHILD"

// TestBoltCrashChild is the child of TestBoltCrash; it does nothing in a
// normal run. It records 100 sessions per flush and announces each flush
// before it starts, until it is killed.
func TestBoltCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("child process of TestBoltCrash")
	}
	s, err := tlsrpt.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &tlsrpt.Collector{}
	f := &tlsrpt.Flusher{Collector: c, Store: s}
	for n := 1; n <= 100000; n++ {
		for i := range 100 {
			c.Record(crashResults(i))
		}
		fmt.Printf("flushing %d\n", n)
		if err := f.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("not killed")
}

// TestBoltCrash kills a child with SIGKILL in the middle of a flush,
// reopens the file and checks that every committed flush is there, whole,
// and nothing is counted twice.
func TestBoltCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(1, 2))
	var committed int64 // sessions known to be stored
	for round := range 4 {
		killAt := 1 + rng.IntN(8)
		cmd := exec.Command(os.Args[0], "-test.run=^TestBoltCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		seen := 0
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "flushing "); ok {
				seen, _ = strconv.Atoi(n)
				if seen == killAt {
					break
				}
			}
		}
		// The child is now inside flush number killAt.
		cmd.Process.Signal(syscall.SIGKILL)
		err = cmd.Wait()
		if seen != killAt {
			t.Fatalf("round %d: child ended before flush %d (%v)", round, killAt, err)
		}
		s, err := tlsrpt.OpenBolt(path)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		var total, failures int64
		for i := range 50 {
			a, err := s.Load(context.Background(), tlsrpt.Key{Domain: fmt.Sprintf("d%02d.example", i), Day: crashDay})
			if err != nil {
				t.Fatal(err)
			}
			if a != nil {
				total += a.Sessions()
				failures += a.Policies[0].Summary.TotalFailureSessionCount
			}
		}
		s.Close()
		// Flushes 1..killAt-1 committed; flush killAt may or may not have.
		low, high := committed+int64(killAt-1)*100, committed+int64(killAt)*100
		if total != low && total != high {
			t.Fatalf("round %d: %d sessions stored, want %d or %d (a torn or repeated flush)", round, total, low, high)
		}
		if failures != total/100*34 {
			t.Fatalf("round %d: %d failures for %d sessions, want %d", round, failures, total, total/100*34)
		}
		t.Logf("round %d: killed in flush %d, %d sessions stored", round, killAt, total)
		committed = total
	}
}

func TestFlusher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &tlsrpt.Collector{}
		s := &failingStore{}
		f := &tlsrpt.Flusher{Collector: c, Store: s, Interval: time.Minute}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- f.Run(ctx) }()

		c.Record(crashResults(1))
		s.setFail(true)
		time.Sleep(time.Minute) // fake time: one tick, the Add fails
		synctest.Wait()
		if a, _ := s.Load(ctx, tlsrpt.Key{Domain: "d01.example", Day: crashDay}); a != nil {
			t.Fatal("stored despite failure")
		}
		s.setFail(false)
		c.Record(crashResults(1))
		time.Sleep(time.Minute)
		synctest.Wait()
		a, _ := s.Load(ctx, tlsrpt.Key{Domain: "d01.example", Day: crashDay})
		if a == nil || a.Sessions() != 2 {
			t.Fatalf("after a failed and a good flush: %+v", a)
		}
		// Cancel: a final flush.
		c.Record(crashResults(1))
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Load(context.Background(), tlsrpt.Key{Domain: "d01.example", Day: crashDay}); a.Sessions() != 3 {
			t.Errorf("final flush missing: %d", a.Sessions())
		}
	})
}

type failingStore struct {
	tlsrpt.MemoryStore
	mu   sync.Mutex
	fail bool
}

func (s *failingStore) setFail(v bool) { s.mu.Lock(); s.fail = v; s.mu.Unlock() }

func (s *failingStore) Add(ctx context.Context, aggs []*tlsrpt.Aggregate) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return errors.New("store down")
	}
	return s.MemoryStore.Add(ctx, aggs)
}

// TestRedisFleet: several senders add into one set of counters, and
// exactly one of them gets to send each report.
func TestRedisFleet(t *testing.T) {
	addr := redistest.Start(t)
	ctx := context.Background()
	const senders = 4
	stores := make([]*tlsrpt.RedisStore, senders)
	for i := range stores {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		stores[i] = &tlsrpt.RedisStore{Client: c}
	}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			c := &tlsrpt.Collector{}
			f := &tlsrpt.Flusher{Collector: c, Store: s}
			for j := range 300 {
				c.Record(crashResults(j))
				if j%50 == 0 {
					if err := f.Flush(ctx); err != nil {
						t.Error(err)
					}
				}
			}
			if err := f.Flush(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	k := tlsrpt.Key{Domain: "d07.example", Day: crashDay}
	a, err := stores[0].Load(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	// d07 gets j = 7, 57, ..., 257: 6 sessions per sender.
	if a.Sessions() != 6*senders {
		t.Errorf("sessions = %d, want %d", a.Sessions(), 6*senders)
	}
	// Exactly one sender wins the lock.
	var winners sync.Map
	for i, s := range stores {
		wg.Go(func() {
			ok, err := s.Lock(ctx, k, fmt.Sprintf("sender-%d", i), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				winners.Store(i, true)
			}
		})
	}
	wg.Wait()
	n := 0
	winners.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Errorf("%d senders got the lock", n)
	}
	// The lock expires on Redis's clock: PTTL is set and bounded.
	pttl, err := stores[0].Client.PTTL(ctx, tlsrpt.DefaultRedisPrefix+"l:"+k.Day.String()+"/"+k.Domain).Result()
	if err != nil || pttl <= 0 || pttl > time.Minute {
		t.Errorf("lock PTTL = %v, %v", pttl, err)
	}
}
