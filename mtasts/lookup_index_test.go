package mtasts

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"
)

func indexState(d string) stateRef {
	return stateRef{newState(&Result{Domain: d}, int64(time.Hour), 0)}
}

// checkIndex checks the index's invariants: the LRU holds at most size
// hashes; the state under each is in its shard's table, in the bucket and
// with the tag its hash gives, and the tables hold nothing else.
func checkIndex(t *testing.T, x *index[stateRef], size int) {
	t.Helper()
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.lru.Len()
	if n > size {
		t.Fatalf("index holds %d states; its size is %d", n, size)
	}
	for _, h := range x.lru.Keys() {
		if st := x.slot(h); st.state == nil {
			t.Fatalf("hash %#x in the LRU, in no table", h)
		}
	}
	inTables := 0
	for i := range x.shards {
		tb := x.shards[i].Load()
		if tb == nil {
			continue
		}
		nb := tb.buckets()
		if len(tb.states) == 0 || len(tb.meta) != nb+1+(len(tb.states)+3)/4 || tb.meta[0] != 0 || int(tb.meta[nb]) != len(tb.states) {
			t.Fatalf("shard %d: table of %d states, meta %v", i, len(tb.states), tb.meta)
		}
		for j, st := range tb.states {
			h := x.hash(st.result.Domain)
			lo, hi, tags := tb.span(h)
			if h%indexShards != uint64(i) || tb.tag(tags, uint32(j)) != tagOf(h) || uint32(j) < lo || uint32(j) >= hi {
				t.Fatalf("shard %d: %s at %d, tag %#x, not where its hash puts it", i, st.result.Domain, j, tb.tag(tags, uint32(j)))
			}
			if !x.lru.Contains(h) {
				t.Fatalf("%s in a table but not in the LRU", st.result.Domain)
			}
		}
		inTables += len(tb.states)
	}
	if inTables != n {
		t.Fatalf("LRU %d, tables %d", n, inTables)
	}
}

// The index never holds more than its size, and a state evicted from the
// recency list, replaced or removed is gone from the shards at once.
func TestIndexBoundedAndExact(t *testing.T) {
	const size = 16
	x := newIndex[stateRef](size)
	rng := rand.New(rand.NewPCG(1, 2))
	held := map[string]stateRef{} // what the index should map, per the LRU rule
	var order []string            // least recently used first
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
			now += int64(1) << promoteShift
			if st := x.get(d); st.state != nil {
				x.touch(st, now)
				use(d)
			}
		default:
			x.remove(d, stateRef{})
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
				t.Fatalf("step %d: %s maps to %p, want %p", i, dd, got.state, st.state)
			}
		}
		if n := x.held(); n != len(held) {
			t.Fatalf("step %d: index holds %d, want %d", i, n, len(held))
		}
	}
}

// touch moves a state at most once a second: the least recently used is
// evicted, to within that.
func TestIndexEvictsLeastRecentlyUsed(t *testing.T) {
	x := newIndex[stateRef](3)
	a, b, c := indexState("a.example"), indexState("b.example"), indexState("c.example")
	x.add(a)
	x.add(b)
	x.add(c)
	x.touch(a, int64(1)<<promoteShift) // a is now the most recently used
	x.touch(b, int64(1)<<promoteShift-1)
	x.add(indexState("d.example"))
	if x.get("b.example").state != nil || x.get("a.example") != a || x.get("c.example") != c {
		t.Fatalf("after touching a: b should be evicted; a %p c %p b %p", x.get("a.example").state, x.get("c.example").state, x.get("b.example").state)
	}
	checkIndex(t, x, 3)
	x.remove("a.example", b) // not a's state: left alone
	if x.get("a.example") != a {
		t.Fatal("remove with another state removed a")
	}
	x.remove("a.example", a)
	if x.get("a.example").state != nil {
		t.Fatal("a still held after its removal")
	}
	checkIndex(t, x, 3)
}

// Lock-free reads beside writes that evict (run with -race).
func TestIndexConcurrent(t *testing.T) {
	x := newIndex[stateRef](32)
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
				if st := x.get(d); st.state != nil {
					if st.result.Domain != d {
						t.Errorf("reader %d: %s maps to the state of %s", r, d, st.result.Domain)
						return
					}
					x.touch(st, i<<promoteShift)
				}
			}
		})
	}
	for i := range 3000 {
		d := "d" + strconv.Itoa(i%100) + ".example"
		if i%7 == 0 {
			x.remove(d, stateRef{})
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
	x := newIndex[stateRef](4)
	x.add(indexState("example.test"))
	n := testing.AllocsPerRun(100, func() {
		if st := x.get("example.test"); st.state != nil {
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
	x := newIndex[stateRef](4)
	x.mask = 0 // every hash is 0
	a, b := indexState("a.example"), indexState("b.example")
	x.add(a)
	x.add(b)
	if got := x.get("a.example"); got.state != nil {
		t.Fatalf("a.example answered with the state of %s", got.result.Domain)
	}
	if x.get("b.example") != b || x.held() != 1 {
		t.Fatalf("after adding b.example: get %p, held %d", x.get("b.example").state, x.held())
	}
	x.remove("a.example", stateRef{}) // b is not a's: left alone
	if x.get("b.example") != b {
		t.Fatal("removing a.example removed the state of b.example")
	}
	a2 := indexState("a.example")
	x.add(a2)
	if x.get("a.example") != a2 || x.get("b.example").state != nil || x.held() != 1 {
		t.Fatalf("after adding a.example again: get %p, held %d", x.get("a.example").state, x.held())
	}
	checkIndex(t, x, 4)
}

// Many states in one shard: each is found in its bucket, and removing
// some leaves the others found.
func TestIndexOneShard(t *testing.T) {
	x := newIndex[stateRef](5000)
	x.mask = ^uint64(indexShards - 1) // every state in shard 0
	names := make([]string, 2000)
	for i := range names {
		names[i] = "d" + strconv.Itoa(i) + ".example"
		x.add(indexState(names[i]))
	}
	checkIndex(t, x, 5000)
	for i, d := range names {
		if i%3 == 0 {
			x.remove(d, stateRef{})
		}
	}
	checkIndex(t, x, 5000)
	for i, d := range names {
		if st := x.get(d).state; (st != nil) != (i%3 != 0) || st != nil && st.result.Domain != d {
			t.Fatalf("%s: got %v", d, st)
		}
	}
	if x.get("absent.example").state != nil {
		t.Fatal("absent.example found")
	}
}

// The clock word keeps the last check and the promotion period apart.
func TestStateClock(t *testing.T) {
	const (
		tick   = int64(1) << tickShift    // about a millisecond
		period = int64(1) << promoteShift // about a second
	)
	p := &Policy{MaxAge: time.Hour}
	exp := 3600 * period
	st := newState(&Result{Domain: "a.example", Policy: p, Expires: time.Unix(0, exp)}, exp, 10*tick+123)
	if got := st.lastCheck(); got != 10*tick {
		t.Fatalf("lastCheck %d, want it rounded down to the tick, %d", got, 10*tick)
	}
	if !st.promote(20*period) || st.promote(20*period+period/2) || !st.promote(21*period) {
		t.Fatal("promote: want once a period")
	}
	if got := st.lastCheck(); got != 10*tick {
		t.Fatalf("promote changed lastCheck to %d", got)
	}
	if st.claimCheck(11*tick-1, time.Duration(tick)) || !st.claimCheck(11*tick, time.Duration(tick)) {
		t.Fatal("claimCheck: want true only an interval after the last check")
	}
	if got := st.lastCheck(); got != 11*tick {
		t.Fatalf("claimCheck set lastCheck to %d, want %d", got, 11*tick)
	}
	if st.promote(21*period + 1) {
		t.Fatal("claimCheck changed the promotion period")
	}
	if !st.live(exp-1) || st.live(exp) {
		t.Fatal("a policy lives until result.Expires")
	}
	neg := newState(&Result{Domain: "b.example"}, 100*tick+tick-1, 0) // "no record"
	if !neg.live(100*tick-1) || neg.live(100*tick) {
		t.Fatal(`"no record" lives until its expiry, rounded down to the tick`)
	}
	before := newState(&Result{Domain: "c.example"}, -1, 0) // before 1970
	if before.live(-1) || !before.live(-tick-1) {
		t.Fatal("a negative time rounds down too")
	}
}
