package dane_test

import (
	"bytes"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// tl is a record.
func tl(usage, selector, matching uint8, data []byte) resolver.TLSA {
	return resolver.TLSA{Usage: usage, Selector: selector, MatchingType: matching, Data: data}
}

// Contract section 4: which records are usable, and digest agility.
func TestUsableCount(t *testing.T) {
	c := newChain(t)
	d32, d64 := make([]byte, 32), make([]byte, 64)
	tests := []struct {
		name string
		recs []resolver.TLSA
		want int
	}{
		{"none", nil, 0},
		{"3 1 1", []resolver.TLSA{tl(3, 1, 1, d32)}, 1},
		{"3 1 1 twice (a duplicate)", []resolver.TLSA{tl(3, 1, 1, d32), tl(3, 1, 1, d32)}, 1},
		{"3 1 1 and 3 1 2: only 3 1 2 counts", []resolver.TLSA{tl(3, 1, 1, d32), tl(3, 1, 2, d64)}, 1},
		{"two 3 1 1 and one 3 1 2", []resolver.TLSA{tl(3, 1, 1, d32), tl(3, 1, 1, append([]byte{1}, d32[1:]...)), tl(3, 1, 2, d64)}, 1},
		{"3 1 1 and 3 0 2: different selectors", []resolver.TLSA{tl(3, 1, 1, d32), tl(3, 0, 2, d64)}, 2},
		{"3 1 1 and 2 1 2: different usages", []resolver.TLSA{tl(3, 1, 1, d32), tl(2, 1, 2, d64)}, 2},
		{"3 1 1, 3 1 2 and 3 1 0: Full always counts", []resolver.TLSA{tl(3, 1, 1, d32), tl(3, 1, 2, d64), rec(3, 1, 0, c.leaf.cert)}, 2},
		{"3 1 1 and a short 3 1 2", []resolver.TLSA{tl(3, 1, 1, d32), tl(3, 1, 2, d32)}, 1},
		{"2 0 0 and 2 1 0", []resolver.TLSA{rec(2, 0, 0, c.root.cert), rec(2, 1, 0, c.root.cert)}, 2},
		{"PKIX only", []resolver.TLSA{tl(0, 0, 1, d32), tl(1, 1, 1, d32)}, 0},
	}
	for _, tt := range tests {
		if got := dane.NewRRset(tt.recs).Usable(); got != tt.want {
			t.Errorf("%s: Usable() = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// Contract section 8: the policy-string.
func TestPolicyStrings(t *testing.T) {
	recs := []resolver.TLSA{
		tl(3, 1, 1, []byte{0xab, 0xcd, 0xef, 0x01}),
		tl(2, 0, 1, []byte{0x0a}),
		tl(1, 1, 1, []byte{0xff}),                   // unusable, still listed
		tl(3, 1, 1, nil),                            // empty data, left out
		tl(10, 0, 0, []byte{0x00}),                  // sorts as a string: "10" before "2"
		tl(3, 1, 1, []byte{0xab, 0xcd, 0xef, 0x01}), // a duplicate
	}
	want := []string{"1 1 1 FF", "10 0 0 00", "2 0 1 0A", "3 1 1 ABCDEF01"}
	set := dane.NewRRset(recs)
	if got := set.PolicyStrings(); !slices.Equal(got, want) {
		t.Errorf("PolicyStrings = %q, want %q", got, want)
	}
	slices.Reverse(recs)
	if got := dane.NewRRset(recs).PolicyStrings(); !slices.Equal(got, want) {
		t.Errorf("reversed: PolicyStrings = %q, want %q", got, want)
	}
	if n := len(set.Records()); n != 5 {
		t.Errorf("Records() holds %d records, want 5 (the duplicate kept once)", n)
	}
	// The RRset owns its data: changing the caller's records changes
	// nothing.
	recs[0].Data[0] = 0x11
	if got := set.PolicyStrings(); !slices.Equal(got, want) {
		t.Errorf("after the caller's change: PolicyStrings = %q", got)
	}
	var nilSet *dane.RRset
	if nilSet.PolicyStrings() != nil || nilSet.Records() != nil || nilSet.Usable() != 0 {
		t.Error("a nil RRset is not empty")
	}
}

// Hostile RRsets: thousands of records and huge data are cut to the
// bounds, whatever the order, in bounded time.
func TestNewRRsetBounds(t *testing.T) {
	c := newChain(t)
	start := time.Now()

	// 5000 distinct 3 1 1 records and the leaf's own among them.
	var recs []resolver.TLSA
	for i := range 5000 {
		d := make([]byte, 32)
		d[0], d[1] = byte(i>>8), byte(i)
		recs = append(recs, resolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: d})
	}
	set := dane.NewRRset(recs)
	if n := len(set.Records()); n != dane.MaxRecords {
		t.Errorf("%d records kept, want %d", n, dane.MaxRecords)
	}
	if n := len(set.PolicyStrings()); n != dane.MaxRecords {
		t.Errorf("%d policy strings, want %d", n, dane.MaxRecords)
	}
	if set.Usable() != dane.MaxRecords {
		t.Errorf("Usable() = %d", set.Usable())
	}
	slices.Reverse(recs)
	if !slices.Equal(dane.NewRRset(recs).PolicyStrings(), set.PolicyStrings()) {
		t.Error("the records kept depend on the order given")
	}

	// Huge Full(0) data: 100 records of 1 MiB, then a real 3 0 0 record.
	huge := bytes.Repeat([]byte{0x30}, 1<<20)
	var big []resolver.TLSA
	for i := range 100 {
		d := bytes.Clone(huge)
		d[len(d)-1] = byte(i)
		big = append(big, resolver.TLSA{Usage: 3, Selector: 0, MatchingType: 0, Data: d})
	}
	big = append(big, rec(3, 0, 0, c.leaf.cert))
	set = dane.NewRRset(big)
	total := 0
	for _, r := range set.Records() {
		total += len(r.Data)
	}
	if total > dane.MaxData {
		t.Errorf("%d bytes of data kept, over MaxData", total)
	}
	if set.Usable() != 1 {
		t.Errorf("Usable() = %d, want 1 (the real 3 0 0)", set.Usable())
	}
	if err := set.Verify([]*x509.Certificate{c.leaf.cert}, nil, now); err != nil {
		t.Errorf("the real 3 0 0 beside huge records: %v", err)
	}
	for _, p := range set.PolicyStrings() {
		if len(p) > 2*dane.MaxData+12 {
			t.Errorf("a policy string of %d bytes", len(p))
		}
		if strings.ContainsAny(p, "abcdef") {
			t.Errorf("lower-case hex in %.20q", p)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}
