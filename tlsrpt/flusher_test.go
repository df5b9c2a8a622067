package tlsrpt_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/internal/sample"
)

func TestFlusher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &tlsrpt.Collector{}
		s := &failingStore{}
		f := &tlsrpt.Flusher{Collector: c, Store: s, Interval: time.Minute}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- f.Run(ctx) }()

		c.Record(sample.Result(1))
		s.setFail(true)
		time.Sleep(time.Minute) // fake time: one tick, the Add fails
		synctest.Wait()
		if a, _ := s.Load(ctx, tlsrpt.Key{Domain: "d01.example", Day: sample.Day}); a != nil {
			t.Fatal("stored despite failure")
		}
		s.setFail(false)
		c.Record(sample.Result(1))
		time.Sleep(time.Minute)
		synctest.Wait()
		a, _ := s.Load(ctx, tlsrpt.Key{Domain: "d01.example", Day: sample.Day})
		if a == nil || a.Sessions() != 2 {
			t.Fatalf("after a failed and a good flush: %+v", a)
		}
		// Cancel: a final flush.
		c.Record(sample.Result(1))
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Load(context.Background(), tlsrpt.Key{Domain: "d01.example", Day: sample.Day}); a.Sessions() != 3 {
			t.Errorf("final flush missing: %d", a.Sessions())
		}
	})
}

type failingStore struct {
	tlsrpt.MemoryStore
	mu   sync.Mutex
	fail bool
	ids  []tlsrpt.BatchID // of every Add
}

func (s *failingStore) setFail(v bool) { s.mu.Lock(); s.fail = v; s.mu.Unlock() }

func (s *failingStore) Add(ctx context.Context, id tlsrpt.BatchID, aggs []*tlsrpt.Aggregate) error {
	s.mu.Lock()
	fail := s.fail
	s.ids = append(s.ids, id)
	s.mu.Unlock()
	if fail {
		return errors.New("store down")
	}
	return s.MemoryStore.Add(ctx, id, aggs)
}

func (s *failingStore) batchIDs() []tlsrpt.BatchID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// TestFlusherConfig: a Flusher without a Collector or a Store is a
// configuration error, from Flush and from Run, not a panic.
func TestFlusherConfig(t *testing.T) {
	for name, f := range map[string]*tlsrpt.Flusher{
		"no Collector": {Store: &tlsrpt.MemoryStore{}},
		"no Store":     {Collector: &tlsrpt.Collector{}},
		"zero":         {},
	} {
		if err := f.Flush(context.Background()); !errors.Is(err, tlsrpt.ErrConfig) {
			t.Errorf("%s: Flush = %v, want ErrConfig", name, err)
		}
		if err := f.Run(context.Background()); !errors.Is(err, tlsrpt.ErrConfig) {
			t.Errorf("%s: Run = %v, want ErrConfig", name, err)
		}
	}
}

// ambiguousStore applies every Add and then reports a failure, as a
// store does whose reply is lost (a client timeout after Redis applied
// the batch).
type ambiguousStore struct {
	tlsrpt.MemoryStore
	mu    sync.Mutex
	fails int // how many more Adds report failure after applying
}

func (s *ambiguousStore) Add(ctx context.Context, id tlsrpt.BatchID, aggs []*tlsrpt.Aggregate) error {
	err := s.MemoryStore.Add(ctx, id, aggs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.fails > 0 {
		s.fails--
		return errors.New("i/o timeout")
	}
	return err
}

// TestFlusherAmbiguousFailure: a batch that the store applied although
// Add failed is not counted again when the Flusher retries it.
func TestFlusherAmbiguousFailure(t *testing.T) {
	ctx := context.Background()
	s := &ambiguousStore{fails: 3}
	c := &tlsrpt.Collector{}
	f := &tlsrpt.Flusher{Collector: c, Store: s}
	var recorded int64
	for round := range 6 {
		for i := range 10 {
			c.Record(sample.Result(i))
			recorded++
		}
		err := f.Flush(ctx)
		t.Logf("round %d: %v", round, err)
	}
	var stored int64
	for i := range 50 {
		if a, _ := s.Load(ctx, tlsrpt.Key{Domain: fmt.Sprintf("d%02d.example", i), Day: sample.Day}); a != nil {
			stored += a.Sessions()
		}
	}
	if stored != recorded {
		t.Errorf("stored %d sessions, recorded %d", stored, recorded)
	}
}

// TestFlusherRetriesSameBatch: a batch that failed is retried as it was,
// with its id, before anything newer is drained; the next batch has a new
// id.
func TestFlusherRetriesSameBatch(t *testing.T) {
	ctx := context.Background()
	s := &failingStore{}
	c := &tlsrpt.Collector{}
	f := &tlsrpt.Flusher{Collector: c, Store: s}
	c.Record(sample.Result(1))
	s.setFail(true)
	for range 3 {
		if err := f.Flush(ctx); err == nil {
			t.Fatal("Flush succeeded with the store down")
		}
		c.Record(sample.Result(2)) // recorded while the batch is held
	}
	s.setFail(false)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ids := s.batchIDs()
	// Three failed attempts and one good retry of the first batch, then
	// the sessions recorded meanwhile as a second batch.
	if len(ids) != 5 || ids[0] != ids[1] || ids[1] != ids[2] || ids[2] != ids[3] || ids[4] == ids[0] || ids[0].IsZero() {
		t.Fatalf("batch ids of the Adds: %v; want one id four times, then another", ids)
	}
	for d, want := range map[string]int64{"d01.example": 1, "d02.example": 3} {
		if a, _ := s.Load(ctx, tlsrpt.Key{Domain: d, Day: sample.Day}); a == nil || a.Sessions() != want {
			t.Errorf("%s: %+v, want %d sessions", d, a, want)
		}
	}
}

// unstorableStore stores nothing and says so with ErrUnstorable.
type unstorableStore struct {
	failingStore
}

func (s *unstorableStore) Add(ctx context.Context, id tlsrpt.BatchID, aggs []*tlsrpt.Aggregate) error {
	s.failingStore.mu.Lock()
	s.failingStore.ids = append(s.failingStore.ids, id)
	s.failingStore.mu.Unlock()
	return fmt.Errorf("%w: %s: too odd", tlsrpt.ErrUnstorable, aggs[0].Key)
}

// TestFlusherUnstorable: a batch the Store stored except what it cannot
// keep is not retried.
func TestFlusherUnstorable(t *testing.T) {
	ctx := context.Background()
	s := &unstorableStore{}
	c := &tlsrpt.Collector{}
	f := &tlsrpt.Flusher{Collector: c, Store: s}
	c.Record(sample.Result(1))
	if err := f.Flush(ctx); !errors.Is(err, tlsrpt.ErrUnstorable) {
		t.Fatalf("Flush = %v, want ErrUnstorable", err)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatalf("second Flush = %v, want nothing to do", err)
	}
	if ids := s.batchIDs(); len(ids) != 1 {
		t.Fatalf("%d Adds, want 1", len(ids))
	}
}

// TestFlusherGivesUp: a batch the Store refuses for MaxBatchRetry is
// dropped and logged; what was recorded meanwhile is stored once the Store
// works again.
func TestFlusherGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs strings.Builder
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil))
		c := &tlsrpt.Collector{}
		s := &failingStore{}
		f := &tlsrpt.Flusher{Collector: c, Store: s, Interval: time.Hour, Logger: logger}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- f.Run(ctx) }()

		s.setFail(true)
		c.Record(sample.Result(1)) // the batch that is dropped
		time.Sleep(time.Hour)      // fake time: the first attempt
		synctest.Wait()
		c.Record(sample.Result(2)) // waits in the Collector
		time.Sleep(tlsrpt.MaxBatchRetry)
		synctest.Wait()
		s.setFail(false)
		time.Sleep(time.Hour)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Load(context.Background(), tlsrpt.Key{Domain: "d01.example", Day: sample.Day}); a != nil {
			t.Errorf("the dropped batch was stored: %+v", a)
		}
		if a, _ := s.Load(context.Background(), tlsrpt.Key{Domain: "d02.example", Day: sample.Day}); a == nil || a.Sessions() != 1 {
			t.Errorf("what was recorded meanwhile: %+v, want 1 session", a)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(logs.String(), "dropping a batch") || !strings.Contains(logs.String(), "sessions=1") {
			t.Errorf("the drop is not logged with its sessions:\n%s", logs.String())
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
