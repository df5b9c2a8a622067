package lease

import (
	"testing"
	"time"
)

func TestTable(t *testing.T) {
	var tab Table[string]
	now := time.Unix(1000, 0)
	if !tab.Take("k", "a", time.Minute, now) {
		t.Fatal("first take refused")
	}
	if tab.Take("k", "b", time.Minute, now.Add(30*time.Second)) {
		t.Fatal("b took a's unexpired lease")
	}
	if !tab.Take("k", "a", time.Minute, now.Add(30*time.Second)) {
		t.Fatal("a could not extend its own lease")
	}
	if !tab.Take("k", "b", time.Minute, now.Add(91*time.Second)) {
		t.Fatal("b could not take an expired lease")
	}
	tab.Release("k", "a") // not a's any more: stays
	if tab.Take("k", "a", time.Minute, now.Add(92*time.Second)) {
		t.Fatal("release by a non-owner dropped b's lease")
	}
	tab.Release("k", "b")
	if !tab.Take("k", "a", time.Minute, now.Add(93*time.Second)) {
		t.Fatal("released lease still held")
	}
	tab.Take("other", "a", time.Second, now.Add(93*time.Second))
	tab.Take("k", "a", time.Minute, now.Add(200*time.Second))
	if len(tab.m) != 1 {
		t.Fatalf("%d leases kept; expired ones must be dropped", len(tab.m))
	}
}
