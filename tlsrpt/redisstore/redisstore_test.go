package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/strictmx/strictmx/internal/redistest"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/internal/sample"
	"github.com/strictmx/strictmx/tlsrpt/redisstore"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

func TestRedisStore(t *testing.T) {
	addr := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	n := 0
	tlsrpttest.RunStore(t, func(t *testing.T) (tlsrpt.Store, func(time.Duration)) {
		n++
		return &redisstore.Store{Client: client, Prefix: "test" + string(rune('a'+n)) + ":"}, nil
	})
}

// TestRedisFleet: several senders add into one set of counters, and
// exactly one of them gets to send each report.
func TestRedisFleet(t *testing.T) {
	addr := redistest.Start(t)
	ctx := context.Background()
	const senders = 4
	stores := make([]*redisstore.Store, senders)
	for i := range stores {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		stores[i] = &redisstore.Store{Client: c}
	}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			c := &tlsrpt.Collector{}
			f := &tlsrpt.Flusher{Collector: c, Store: s}
			for j := range 300 {
				c.Record(sample.Result(j))
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
	k := tlsrpt.Key{Domain: "d07.example", Day: sample.Day}
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
	pttl, err := stores[0].Client.PTTL(ctx, redisstore.DefaultPrefix+"l:"+k.Day.String()+"/"+k.Domain).Result()
	if err != nil || pttl <= 0 || pttl > time.Minute {
		t.Errorf("lock PTTL = %v, %v", pttl, err)
	}
}

// TestConfig: a Store without a client, or on Redis Cluster without a
// hash tag in its prefix, is a configuration error, not a panic or a
// CROSSSLOT failure at every flush.
func TestConfig(t *testing.T) {
	ctx := context.Background()
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer cluster.Close()
	var c tlsrpt.Collector
	c.Record(sample.Result(1))
	for name, s := range map[string]*redisstore.Store{
		"no client":          {},
		"cluster, no tag":    {Client: cluster},
		"cluster, empty tag": {Client: cluster, Prefix: "{}tlsrpt:"},
	} {
		if err := s.Add(ctx, tlsrpt.NewBatchID(), c.Snapshot()); !errors.Is(err, tlsrpt.ErrConfig) {
			t.Errorf("%s: Add = %v, want ErrConfig", name, err)
		}
		var keysErr error
		for _, err := range s.Keys(ctx) {
			keysErr = err
		}
		if !errors.Is(keysErr, tlsrpt.ErrConfig) {
			t.Errorf("%s: Keys = %v, want ErrConfig", name, keysErr)
		}
	}
}
