package cachetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
)

// benchPolicy has the shape of the policy gmail.com serves, one of the
// larger common policies.
const benchPolicy = "version: STSv1\r\nmode: enforce\r\nmx: gmail-smtp-in.l.google.com\r\nmx: *.gmail-smtp-in.l.google.com\r\nmax_age: 86400\r\n"

// BenchStore measures hits on s: it stores 1,000 entries with a Gmail-sized
// policy, then runs the sub-benchmarks Serial and Parallel (b.RunParallel),
// each Getting the entries in turn. Call it from a benchmark of your own
// store:
//
//	func BenchmarkGet(b *testing.B) { cachetest.BenchStore(b, newStore(b)) }
func BenchStore(b *testing.B, s cache.Store) {
	b.Helper()
	ctx := context.Background()
	doms := make([]string, 1000)
	now := time.Now()
	for i := range doms {
		doms[i] = "mx" + strconv.Itoa(i) + ".example.com"
		e := &cache.Entry{Domain: doms[i], ID: "20260101", Policy: benchPolicy, Fetched: now, Expires: now.Add(24 * time.Hour)}
		if err := s.Put(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Get(ctx, doms[i%len(doms)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.Get(ctx, doms[i%len(doms)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}
