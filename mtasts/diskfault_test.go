package mtasts_test

import (
	"os"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/internal/testfs"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// TestDirDiskFaults runs Lookups with a cache.Dir on a real file system
// that is full, then read-only: the policy fetched while the Store cannot
// write is fetched once and kept (no fetch storm, no downgrade when the
// `_mta-sts` lookup then fails), and once the disk recovers the policy is
// written and survives a restart. Needs root for the tmpfs.
func TestDirDiskFaults(t *testing.T) {
	for _, fault := range []string{"full", "read-only"} {
		t.Run(fault, func(t *testing.T) {
			fs := testfs.Mount(t, 1<<20)
			dir, err := cache.NewDir(fs.Dir)
			if err != nil {
				t.Fatal(err)
			}
			var undo func()
			switch fault {
			case "full":
				fill := fs.Fill(t)
				undo = func() { os.Remove(fill) }
			case "read-only":
				fs.ReadOnly(t)
				undo = func() { fs.Writable(t) }
			}
			probe := &cache.Entry{Domain: "probe.example", ID: "1", Policy: "version: STSv1\nmode: none\nmax_age: 86400\n",
				Fetched: time.Now(), Expires: time.Now().Add(time.Hour)}
			if err := dir.Put(t.Context(), probe); err == nil {
				t.Fatalf("a Put on a %s disk succeeded", fault)
			}
			s := mtaststest.NewServer(t)
			d := s.Domain("example.test").Record("1").Policy(mtasts.ModeEnforce, 86400, "mx1.example.test")
			c := s.Client()
			c.Store = dir
			for i := range 200 {
				r, err := c.Lookup(t.Context(), d.Name())
				if err != nil || r.Policy == nil {
					t.Fatalf("lookup %d on a %s disk: %+v, %v", i, fault, r, err)
				}
			}
			s.DNSFault(d.RecordName(), mtaststest.DNSServFail)
			if r, _ := c.Lookup(t.Context(), d.Name()); r == nil || r.Policy == nil {
				t.Fatalf("SERVFAIL on a %s disk dropped the policy: %+v", fault, r)
			}
			if n := d.Fetches(); n != 1 {
				t.Fatalf("%d fetches for 201 Lookups on a %s disk; want 1", n, fault)
			}

			// The disk recovers: a refresh writes the policy, and a new
			// Client (a restart) finds it without fetching.
			undo()
			s.DNSFault(d.RecordName(), mtaststest.DNSNormal)
			if _, err := c.Refresh(t.Context(), d.Name()); err != nil {
				t.Fatal(err)
			}
			dir2, err := cache.NewDir(fs.Dir)
			if err != nil {
				t.Fatal(err)
			}
			c2 := s.Client()
			c2.Store = dir2
			r, err := c2.Lookup(t.Context(), d.Name())
			if err != nil || r.Policy == nil || r.Source != mtasts.SourceCache {
				t.Fatalf("after the restart: %+v, %v; want the policy from the directory", r, err)
			}
		})
	}
}
