package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/strictmx/strictmx/internal/testfs"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/boltstore"
	"github.com/strictmx/strictmx/tlsrpt/internal/sample"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

// TestBoltLargePolicy: a 64 KiB policy in one aggregate of a batch with
// many small domains; everything is stored (the policy is not a key too
// large for bbolt that fails the whole batch).
func TestBoltLargePolicy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tlsrpt.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &tlsrpt.Collector{}
	big := tlsrpttest.LargePolicy("big.example")
	for i := range 3 {
		r := tlsrpt.Result{Policy: big, Time: sample.Day.Start(), MXHost: fmt.Sprintf("mx%05d.big.example", i)}
		if i > 0 {
			r.ResultType = tlsrpt.ResultCertificateExpired
		}
		if err := c.Record(r); err != nil {
			t.Fatalf("the collector refuses the 64 KiB policy: %v", err)
		}
	}
	for i := range 500 {
		if err := c.Record(sample.Result(i)); err != nil {
			t.Fatal(err)
		}
	}
	want := c.Snapshot()
	f := &tlsrpt.Flusher{Collector: c, Store: s}
	if err := f.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	check := func(s *boltstore.Store) {
		t.Helper()
		for _, w := range want {
			got, err := s.Load(ctx, w.Key)
			if err != nil {
				t.Fatalf("Load(%s): %v", w.Key, err)
			}
			if got == nil || got.Sessions() != w.Sessions() || len(got.Policies) != len(w.Policies) ||
				!got.Policies[0].Policy.Equal(&w.Policies[0].Policy) {
				t.Fatalf("Load(%s) = %+v, want %d sessions under the recorded policy", w.Key, got, w.Sessions())
			}
		}
	}
	check(s)
	s.Close()
	if s, err = boltstore.Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
}

// faultSender records sessions over the 50 crash domains, plus one big
// policy that makes every batch need new pages.
type faultSender struct {
	c        *tlsrpt.Collector
	next     int
	recorded int64
}

func (s *faultSender) record(t *testing.T, n int) {
	t.Helper()
	for range n {
		if err := s.c.Record(sample.Result(s.next % 1440)); err != nil {
			t.Fatal(err)
		}
		s.next++
		s.recorded++
	}
}

// storedSessions sums what s holds for the 50 crash domains.
func storedSessions(t *testing.T, s *boltstore.Store) int64 {
	t.Helper()
	var n int64
	for i := range 50 {
		a, err := s.Load(context.Background(), tlsrpt.Key{Domain: fmt.Sprintf("d%02d.example", i), Day: sample.Day})
		if err != nil {
			t.Fatal(err)
		}
		if a != nil {
			n += a.Sessions()
		}
	}
	return n
}

// TestBoltDiskFull: on a full file system Add fails with an error and
// nothing panics; what was stored stays; once there is room again, what
// was recorded in the meantime is stored exactly once.
func TestBoltDiskFull(t *testing.T) {
	ctx := context.Background()
	const fsSize = 16 << 20
	dir := testfs.Mount(t, fsSize).Dir
	path := filepath.Join(dir, "tlsrpt.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	snd := &faultSender{c: &tlsrpt.Collector{}}
	f := &tlsrpt.Flusher{Collector: snd.c, Store: s}
	snd.record(t, 1000)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	before := storedSessions(t, s)
	if before != snd.recorded {
		t.Fatalf("stored %d, want %d", before, snd.recorded)
	}

	// Fill the file system.
	filler := filepath.Join(dir, "filler")
	fd, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for i := 0; ; i++ {
		if i > fsSize/len(chunk)+1 {
			t.Fatal("the tmpfs does not fill up")
		}
		if _, err := fd.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	fd.Close()

	// New domains and a big policy need new pages: every Add fails.
	for round := range 3 {
		snd.record(t, 1000)
		for i := range 4 {
			p := tlsrpttest.LargePolicy(fmt.Sprintf("big%d-%d.example", round, i))
			if err := snd.c.Record(tlsrpt.Result{Policy: p, Time: sample.Day.Start()}); err != nil {
				t.Fatal(err)
			}
		}
		err := f.Flush(ctx)
		if err == nil {
			t.Fatalf("round %d: Flush on a full file system succeeded", round)
		}
		t.Logf("round %d: %v", round, err)
		if n := storedSessions(t, s); n != before {
			t.Fatalf("round %d: stored sessions went from %d to %d on a full disk", round, before, n)
		}
	}

	// The disk recovers.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	snd.record(t, 500)
	if err := f.Flush(ctx); err != nil {
		t.Fatalf("Flush after the disk recovered: %v", err)
	}
	if err := f.Flush(ctx); err != nil { // anything the first left behind
		t.Fatalf("second Flush after the disk recovered: %v", err)
	}
	if n := storedSessions(t, s); n != snd.recorded {
		t.Fatalf("after recovery: stored %d sessions, recorded %d (%+d)", n, snd.recorded, n-snd.recorded)
	}
	for round := range 3 {
		for i := range 4 {
			k := tlsrpt.Key{Domain: fmt.Sprintf("big%d-%d.example", round, i), Day: sample.Day}
			if a, err := s.Load(ctx, k); err != nil || a == nil || a.Sessions() != 1 {
				t.Fatalf("Load(%s) = %v, %v; want 1 session", k, a, err)
			}
		}
	}
	// The file is sound after the failed writes.
	s.Close()
	if s, err = boltstore.Open(path); err != nil {
		t.Fatal(err)
	}
	if n := storedSessions(t, s); n != snd.recorded {
		t.Fatalf("after reopening: stored %d sessions, recorded %d", n, snd.recorded)
	}
}

// TestBoltReadOnly: a store on a read-only file system cannot be opened
// (bbolt writes the file in place, so Linux refuses to make a file system
// read-only while it is open for writing: the fault shows at Open). The
// error is returned, nothing panics, the data is intact when the file
// system is writable again, and counts kept meanwhile are stored once.
func TestBoltReadOnly(t *testing.T) {
	ctx := context.Background()
	var dir string
	var readOnly, writable func()
	if os.Geteuid() == 0 {
		fs := testfs.Mount(t, 4<<20)
		dir = fs.Dir
		readOnly, writable = func() { fs.ReadOnly(t) }, func() { fs.Writable(t) }
	} else {
		dir = t.TempDir()
		readOnly = func() {
			os.Chmod(filepath.Join(dir, "tlsrpt.db"), 0o400)
			os.Chmod(dir, 0o500)
		}
		writable = func() {
			os.Chmod(dir, 0o700)
			os.Chmod(filepath.Join(dir, "tlsrpt.db"), 0o600)
		}
	}
	path := filepath.Join(dir, "tlsrpt.db")
	snd := &faultSender{c: &tlsrpt.Collector{}}
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	snd.record(t, 1000)
	if err := (&tlsrpt.Flusher{Collector: snd.c, Store: s}).Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()

	readOnly()
	snd.record(t, 300) // kept in the Collector while the store is down
	for _, p := range []string{path, filepath.Join(dir, "new.db")} {
		if s, err := boltstore.Open(p); err == nil {
			s.Close()
			writable()
			t.Fatalf("Open(%s) on a read-only file system succeeded", p)
		} else if !strings.Contains(err.Error(), "boltstore: open") {
			t.Errorf("Open(%s): %v", p, err)
		}
	}
	writable()

	if s, err = boltstore.Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := storedSessions(t, s); n != 1000 {
		t.Fatalf("after the file system was read-only: %d sessions, want 1000", n)
	}
	if err := (&tlsrpt.Flusher{Collector: snd.c, Store: s}).Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := storedSessions(t, s); n != snd.recorded {
		t.Fatalf("stored %d, recorded %d", n, snd.recorded)
	}
}
