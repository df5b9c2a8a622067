package mtasts

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"
)

func indexState(d string) *state {
	return newState(&Result{Domain: d}, int64(time.Hour), 0)
}

// checkIndex checks the index's invariants: the LRU holds at most size
// states; every one is what its shard maps its hash to, and the shards
// hold nothing else.
func checkIndex(t *testing.T, x *index, size int) {
	t.Helper()
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.lru.Len()
	if n > size {
		t.Fatalf("index holds %d states; its size is %d", n, size)
	}
	for _, h := range x.lru.Keys() {
		st, _ := x.lru.Peek(h)
		if got := x.slot(h); got != st || x.hash(st.result.Domain) != h {
			t.Fatalf("%s: in the LRU but its shard has %p, not %p", st.result.Domain, got, st)
		}
	}
	inShards := 0
	for i := range x.shards {
		if m := x.shards[i].Load(); m != nil {
			if len(*m) == 0 {
				t.Fatalf("shard %d published empty", i)
			}
			inShards += len(*m)
		}
	}
	if inShards != n {
		t.Fatalf("LRU %d, shards %d", n, inShards)
	}
}

// The index never holds more than its size, and a state evicted from the
// recency list, replaced or removed is gone from the shards at once.
func TestIndexBoundedAndExact(t *testing.T) {
	const size = 16
	x := newIndex(size)
	rng := rand.New(rand.NewPCG(1, 2))
	held := map[string]*state{} // what the index should map, per the LRU rule
	var order []string          // least recently used first
	use := func(d string) {
		for i, o := range order {
			if o == d {
				order = append(order[:i], order[i+1:]...)
				break
			}
		}
		order = append(order, d)
	}
	now := int64(0)
	for i := range 5000 {
		d := "d" + strconv.Itoa(rng.IntN(64)) + ".example"
		switch op := rng.IntN(10); {
		case op < 5:
			st := indexState(d)
			x.add(st)
			held[d] = st
			use(d)
			if len(order) > size {
				delete(held, order[0])
				order = order[1:]
			}
		case op < 8:
			now += promoteEvery
			if st := x.get(d); st != nil {
				x.touch(st, now)
				use(d)
			}
		default:
			x.remove(d, nil)
			delete(held, d)
			for j, o := range order {
				if o == d {
					order = append(order[:j], order[j+1:]...)
					break
				}
			}
		}
		checkIndex(t, x, size)
		for dd, st := range held {
			if got := x.get(dd); got != st {
				t.Fatalf("step %d: %s maps to %p, want %p", i, dd, got, st)
			}
		}
		if n := x.held(); n != len(held) {
			t.Fatalf("step %d: index holds %d, want %d", i, n, len(held))
		}
	}
}

// touch moves a state at most once per promoteEvery: the least recently
// used is evicted, to within that.
func TestIndexEvictsLeastRecentlyUsed(t *testing.T) {
	x := newIndex(3)
	a, b, c := indexState("a.example"), indexState("b.example"), indexState("c.example")
	x.add(a)
	x.add(b)
	x.add(c)
	x.touch(a, promoteEvery) // a is now the most recently used
	x.touch(b, promoteEvery-1)
	x.add(indexState("d.example"))
	if x.get("b.example") != nil || x.get("a.example") != a || x.get("c.example") != c {
		t.Fatalf("after touching a: b should be evicted; a %p c %p b %p", x.get("a.example"), x.get("c.example"), x.get("b.example"))
	}
	checkIndex(t, x, 3)
	x.remove("a.example", b) // not a's state: left alone
	if x.get("a.example") != a {
		t.Fatal("remove with another state removed a")
	}
	x.remove("a.example", a)
	if x.get("a.example") != nil {
		t.Fatal("a still held after its removal")
	}
	checkIndex(t, x, 3)
}

// Lock-free reads beside writes that evict (run with -race).
func TestIndexConcurrent(t *testing.T) {
	x := newIndex(32)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 4 {
		wg.Go(func() {
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := "d" + strconv.Itoa(int(i)%100) + ".example"
				if st := x.get(d); st != nil {
					if st.result.Domain != d {
						t.Errorf("reader %d: %s maps to the state of %s", r, d, st.result.Domain)
						return
					}
					x.touch(st, i*promoteEvery)
				}
			}
		})
	}
	for i := range 3000 {
		d := "d" + strconv.Itoa(i%100) + ".example"
		if i%7 == 0 {
			x.remove(d, nil)
		} else {
			x.add(indexState(d))
		}
	}
	close(stop)
	wg.Wait()
	checkIndex(t, x, 32)
}

// A hit allocates nothing.
func TestIndexHitAllocs(t *testing.T) {
	x := newIndex(4)
	x.add(indexState("example.test"))
	n := testing.AllocsPerRun(100, func() {
		if st := x.get("example.test"); st != nil {
			x.touch(st, 0)
		}
	})
	if n != 0 {
		t.Errorf("hit: %v allocs, want 0", n)
	}
}

// A domain whose hash collides with a held one's is never answered with
// the other's state, and replaces it when added, as an eviction would.
func TestIndexHashCollision(t *testing.T) {
	x := newIndex(4)
	a := indexState("a.example")
	x.add(a)
	// Hold b under a's hash, as if their hashes collided.
	b := indexState("b.example")
	x.mu.Lock()
	x.lru.Add(x.hash("a.example"), b)
	publish(x.shard(x.hash("a.example")), x.hash("a.example"), b)
	x.mu.Unlock()
	if got := x.get("a.example"); got != nil {
		t.Fatalf("a.example answered with the state of %s", got.result.Domain)
	}
	x.remove("a.example", nil) // b is not a's: left alone
	if x.slot(x.hash("a.example")) != b {
		t.Fatal("removing a.example removed the state of b.example")
	}
	a2 := indexState("a.example")
	x.add(a2)
	if x.get("a.example") != a2 || x.held() != 1 {
		t.Fatalf("after adding a.example: get %p, held %d", x.get("a.example"), x.held())
	}
	checkIndex(t, x, 4)
}
