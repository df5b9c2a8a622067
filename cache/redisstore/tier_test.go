package redisstore

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/strictmx/strictmx/cache"
)

// checkTier checks that the read index holds exactly the LRU's entries,
// at most size.
func checkTier(t *testing.T, tr *tier, size int) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	keys := tr.lru.Keys()
	if len(keys) > size {
		t.Fatalf("LRU holds %d entries; its size is %d", len(keys), size)
	}
	for _, k := range keys {
		want, _ := tr.lru.Peek(k)
		if got, ok := tr.Peek(k); !ok || got != want {
			t.Fatalf("%s: LRU has %p, index %p (%v)", k, want, got, ok)
		}
	}
	n := 0
	for i := range tr.shards {
		if m := tr.shards[i].Load(); m != nil {
			n += len(*m)
		}
	}
	if n != len(keys) {
		t.Fatalf("index holds %d entries, LRU %d", n, len(keys))
	}
}

// The memory tier never holds more than its size, and an entry the LRU
// evicts (or that is removed or replaced) is gone from the read index
// when the call returns.
func TestTierBoundedAndExact(t *testing.T) {
	const size = 8
	tr := newTier(size)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		d := "d" + strconv.Itoa(rng.IntN(40)) + ".example"
		switch rng.IntN(4) {
		case 0, 1:
			tr.Add(d, &held{e: &cache.Entry{Domain: d}})
		case 2:
			tr.Get(d)
		default:
			tr.Remove(d)
		}
		checkTier(t, tr, size)
	}
}

// Peeks beside writes that evict (run with -race).
func TestTierConcurrent(t *testing.T) {
	tr := newTier(16)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := "d" + strconv.Itoa(i%50) + ".example"
				if _, ok := tr.Peek(d); ok && i%5 == 0 {
					tr.Get(d)
				}
			}
		})
	}
	for i := range 3000 {
		d := "d" + strconv.Itoa(i%50) + ".example"
		if i%9 == 0 {
			tr.Remove(d)
		} else {
			tr.Add(d, &held{e: &cache.Entry{Domain: d}})
		}
	}
	close(stop)
	wg.Wait()
	checkTier(t, tr, 16)
}
