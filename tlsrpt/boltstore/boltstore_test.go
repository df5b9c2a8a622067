package boltstore_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/testclock"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/boltstore"
	"github.com/strictmx/strictmx/tlsrpt/internal/counters"
	"github.com/strictmx/strictmx/tlsrpt/internal/sample"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
	bolt "go.etcd.io/bbolt"
)

func TestBoltStore(t *testing.T) {
	tlsrpttest.RunStore(t, func(t *testing.T) (tlsrpt.Store, func(time.Duration)) {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "tlsrpt.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c := testclock.New(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
		s.Now = c.Now
		return s, c.Advance
	})
}

const crashChildEnv = "STRICTMX_TLSRPT_CRASH_CHILD"

// TestBoltCrashChild is the child of TestBoltCrash; it does nothing in a
// normal run. It records 100 sessions per flush and announces each flush
// before it starts, until it is killed.
func TestBoltCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("child process of TestBoltCrash")
	}
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &tlsrpt.Collector{}
	f := &tlsrpt.Flusher{Collector: c, Store: s}
	for n := 1; n <= 100000; n++ {
		for i := range 100 {
			c.Record(sample.Result(i))
		}
		fmt.Printf("flushing %d\n", n)
		if err := f.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("not killed")
}

// TestBoltCrash kills a child with SIGKILL in the middle of a flush,
// reopens the file and checks that every committed flush is there, whole,
// and nothing is counted twice.
func TestBoltCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(1, 2))
	var committed int64 // sessions known to be stored
	for round := range 4 {
		killAt := 1 + rng.IntN(8)
		cmd := exec.Command(os.Args[0], "-test.run=^TestBoltCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		seen := 0
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "flushing "); ok {
				seen, _ = strconv.Atoi(n)
				if seen == killAt {
					break
				}
			}
		}
		// The child is now inside flush number killAt.
		cmd.Process.Signal(syscall.SIGKILL)
		err = cmd.Wait()
		if seen != killAt {
			t.Fatalf("round %d: child ended before flush %d (%v)", round, killAt, err)
		}
		s, err := boltstore.Open(path)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		var total, failures int64
		for i := range 50 {
			a, err := s.Load(context.Background(), tlsrpt.Key{Domain: fmt.Sprintf("d%02d.example", i), Day: sample.Day})
			if err != nil {
				t.Fatal(err)
			}
			if a != nil {
				total += a.Sessions()
				failures += a.Policies[0].Summary.TotalFailureSessionCount
			}
		}
		s.Close()
		// Flushes 1..killAt-1 committed; flush killAt may or may not have.
		low, high := committed+int64(killAt-1)*100, committed+int64(killAt)*100
		if total != low && total != high {
			t.Fatalf("round %d: %d sessions stored, want %d or %d (a torn or repeated flush)", round, total, low, high)
		}
		if failures != total/100*34 {
			t.Fatalf("round %d: %d failures for %d sessions, want %d", round, failures, total, total/100*34)
		}
		t.Logf("round %d: killed in flush %d, %d sessions stored", round, killAt, total)
		committed = total
	}
}

// TestBoltLegacyCounters: a file written when counters were keyed by
// their name is read, and added to, without migration.
func TestBoltLegacyCounters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	var c tlsrpt.Collector
	for i := range 6 {
		c.Record(sample.Result(i * 50)) // all for d00.example
	}
	old := c.Snapshot()[0]
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucket([]byte("counts"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("states")); err != nil {
			return err
		}
		b, err := root.CreateBucket([]byte(counters.KeyName(old.Key)))
		if err != nil {
			return err
		}
		for _, c := range counters.Encode(old) {
			if err := b.Put([]byte(c.Name), binary.BigEndian.AppendUint64(nil, uint64(c.N))); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Load(ctx, old.Key); err != nil || !reflect.DeepEqual(got, old) {
		t.Fatalf("Load of an old file = %+v, %v; want %+v", got, err, old)
	}
	if err := s.Add(ctx, tlsrpt.NewBatchID(), []*tlsrpt.Aggregate{old}); err != nil {
		t.Fatal(err)
	}
	want, _ := tlsrpt.Merge(old, old)
	if got, err := s.Load(ctx, old.Key); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load after an Add to an old file = %+v, %v; want %+v", got, err, want)
	}
}

// TestBoltForgetsBatches: applied batch ids are remembered for
// tlsrpt.BatchIDRetention, then pruned.
func TestBoltForgetsBatches(t *testing.T) {
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "tlsrpt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clk := testclock.New(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	s.Now = clk.Now
	var c tlsrpt.Collector
	c.Record(sample.Result(1))
	batch := c.Snapshot()
	k := batch[0].Key
	add := func(id tlsrpt.BatchID, want int64) {
		t.Helper()
		if err := s.Add(ctx, id, batch); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Load(ctx, k); a.Sessions() != want {
			t.Fatalf("%d sessions, want %d", a.Sessions(), want)
		}
	}
	id := tlsrpt.NewBatchID()
	add(id, 1)
	clk.Advance(tlsrpt.BatchIDRetention)
	add(id, 1) // still remembered
	clk.Advance(time.Second)
	add(id, 2) // forgotten
	add(id, 2) // and remembered again
}
