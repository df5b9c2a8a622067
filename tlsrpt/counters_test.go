package tlsrpt

import (
	"reflect"
	"testing"
)

// TestCountersRoundTrip: an aggregate survives its counter encoding.
func TestCountersRoundTrip(t *testing.T) {
	for name, r := range goldenReports() {
		a, err := Merge(&Aggregate{Key: Key{Domain: "example.net", Day: testDay}, Policies: r.Policies})
		if err != nil {
			t.Fatal(err)
		}
		var cs []counter
		cs = append(cs, a.counters()...)
		back, err := aggregateFromCounters(a.Key, cs)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, a) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, back, a)
		}
	}
}

func FuzzStoredCounters(f *testing.F) {
	// Names as the stores write them.
	a, _ := Merge(&Aggregate{Key: Key{Domain: "example.net", Day: testDay}, Policies: goldenReports()["ipv6-and-unknown-ip"].Policies})
	for _, c := range a.counters() {
		f.Add(c.name, c.n)
	}
	// Damaged.
	f.Add(`s["sts"`, int64(1))
	f.Add("f[\"sts\",\"a.example\",[],[]]\n[1]", int64(-3))
	f.Add("", int64(0))
	f.Fuzz(func(t *testing.T, name string, n int64) {
		// Stored data from a damaged or foreign store: decoding must
		// fail cleanly or give an aggregate that encodes again.
		a, err := aggregateFromCounters(Key{Domain: "example.net", Day: testDay}, []counter{{name, n}})
		if err != nil || a == nil {
			return
		}
		if _, err := aggregateFromCounters(a.Key, a.counters()); err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
	})
}
