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
// when the call returns, and no longer vouched for
// (cache.Entry.SetFreshUntil); the entries it holds are.
func TestTierBoundedAndExact(t *testing.T) {
	const size = 8
	tr := newTier(size)
	rng := rand.New(rand.NewPCG(3, 4))
	var made []*held
	for range 5000 {
		d := "d" + strconv.Itoa(rng.IntN(40)) + ".example"
		switch rng.IntN(5) {
		case 0, 1:
			h := &held{e: &cache.Entry{Domain: d}}
			made = append(made, h)
			tr.Add(d, h, 1)
		case 2:
			tr.Get(d)
		case 3:
			if h, ok := tr.Peek(d); ok {
				tr.Promote(d, h, 2)
			}
		default:
			tr.Remove(d)
		}
		checkTier(t, tr, size)
		for _, h := range made {
			cur, ok := tr.Peek(h.e.Domain)
			if held := ok && cur == h; h.e.FreshAt(0) != held {
				t.Fatalf("%s: vouched for %v, held %v", h.e.Domain, h.e.FreshAt(0), held)
			}
		}
	}
}

// Promote vouches only for the entry the tier holds, so that a hit that
// peeked an entry just before a Put replaced it cannot vouch for it again.
func TestTierPromoteReplaced(t *testing.T) {
	tr := newTier(4)
	old := &held{e: &cache.Entry{Domain: "a.example"}}
	tr.Add("a.example", old, 10)
	tr.Add("a.example", &held{e: &cache.Entry{Domain: "a.example"}}, 10)
	tr.Promote("a.example", old, 20) // a hit that peeked old before the Add
	if old.e.FreshAt(0) {
		t.Fatal("a replaced entry is vouched for again")
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
			tr.Add(d, &held{e: &cache.Entry{Domain: d}}, 1)
		}
	}
	close(stop)
	wg.Wait()
	checkTier(t, tr, 16)
}
