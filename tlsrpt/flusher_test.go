package tlsrpt_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

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
