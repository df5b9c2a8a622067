package cache_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
)

// memEntries is the number of domains the memory measurement stores (issue
// 3 asks for the cost of one cached policy measured over 100,000 domains).
const memEntries = 100_000

// lruBytesPerEntry fills an LRU with memEntries entries, each with its own
// domain, id and Gmail-sized policy string (as a fetch would allocate
// them), and returns the growth of the live heap per entry. Package mtasts
// adds its parsed form (the memo) on top of this.
func lruBytesPerEntry() (perEntry float64, l *cache.LRU) {
	ctx := context.Background()
	now := time.Now()
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	l = cache.NewLRU(memEntries)
	for i := range memEntries {
		dom := "mx" + strconv.Itoa(i) + ".example.com"
		policy := strings.Replace(gmailPolicy, "gmail-smtp-in.l.google.com", "smtp-in-"+strconv.Itoa(i)+".example.com", 2)
		e := &cache.Entry{Domain: dom, ID: "20190429T010101", Policy: strings.Clone(policy),
			Fetched: now, Expires: now.Add(24 * time.Hour)}
		e.ID = strings.Clone(e.ID)
		if err := l.Put(ctx, e); err != nil {
			panic(err)
		}
	}
	after := heap()
	return float64(after-before) / memEntries, l
}

// TestLRUMemoryPerEntry checks the store's share of the 1 KiB budget for
// one cached policy.
func TestLRUMemoryPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 100,000 entries")
	}
	per, l := lruBytesPerEntry()
	if l.Len() != memEntries {
		t.Fatalf("LRU holds %d entries, want %d", l.Len(), memEntries)
	}
	t.Logf("LRU: %.0f bytes per entry over %d entries (policy %d octets)", per, memEntries, len(gmailPolicy))
	if per > 1024 {
		t.Errorf("LRU uses %.0f bytes per entry, more than the 1 KiB budget for a whole cached policy", per)
	}
	runtime.KeepAlive(l)
}

func BenchmarkLRUMemory(b *testing.B) {
	for b.Loop() {
		per, l := lruBytesPerEntry()
		b.ReportMetric(per, "B/entry")
		runtime.KeepAlive(l)
	}
}
