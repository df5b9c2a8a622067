package cachetest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/cache/cachetest"
)

// mapStore is a simple, correct Store: a map under a mutex, with a
// "disk" (a shared map of encoded entries) so it can be reopened.
type mapStore struct {
	mu   sync.Mutex
	mem  map[string]*cache.Entry
	disk *disk
	bug  string // which bug to simulate, for TestSuiteCatchesBugs
}

type disk struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMapStore(bug string) *mapStore {
	return &mapStore{mem: map[string]*cache.Entry{}, disk: &disk{m: map[string][]byte{}}, bug: bug}
}

func (s *mapStore) reopen() *mapStore {
	if s.bug == "forget-on-reopen" {
		return newMapStore(s.bug)
	}
	return &mapStore{mem: map[string]*cache.Entry{}, disk: s.disk, bug: s.bug}
}

func (s *mapStore) Get(ctx context.Context, domain string) (*cache.Entry, error) {
	s.mu.Lock()
	e, ok := s.mem[domain]
	s.mu.Unlock()
	if ok {
		if s.bug == "copy" {
			return &cache.Entry{Domain: e.Domain, ID: e.ID, Policy: e.Policy, Fetched: e.Fetched, Expires: e.Expires}, nil
		}
		return e, nil
	}
	s.disk.mu.Lock()
	data, ok := s.disk.m[domain]
	s.disk.mu.Unlock()
	if !ok {
		if s.bug == "nil-miss" {
			return nil, nil
		}
		return nil, cache.ErrCacheMiss
	}
	e, err := cache.UnmarshalEntry(data)
	if err != nil {
		return nil, cache.ErrCacheMiss
	}
	s.mu.Lock()
	s.mem[domain] = e
	s.mu.Unlock()
	return e, nil
}

func (s *mapStore) Put(ctx context.Context, e *cache.Entry) error {
	if s.bug != "no-validate" {
		if err := e.Validate(); err != nil {
			return err
		}
	} else if e == nil {
		return nil
	}
	if s.bug == "seconds" {
		e = &cache.Entry{Domain: e.Domain, ID: e.ID, Policy: e.Policy,
			Fetched: e.Fetched.Truncate(time.Second), Expires: e.Expires.Truncate(time.Second)}
	}
	data, err := cache.MarshalEntry(e)
	if err != nil && s.bug != "no-validate" {
		return err
	}
	s.disk.mu.Lock()
	s.disk.m[e.Domain] = data
	s.disk.mu.Unlock()
	s.mu.Lock()
	s.mem[e.Domain] = e
	s.mu.Unlock()
	return nil
}

func (s *mapStore) Delete(ctx context.Context, domain string) error {
	if s.bug == "no-delete" {
		return nil
	}
	s.mu.Lock()
	delete(s.mem, domain)
	s.mu.Unlock()
	s.disk.mu.Lock()
	delete(s.disk.m, domain)
	s.disk.mu.Unlock()
	return nil
}

func options() cachetest.Options {
	return cachetest.Options{
		SamePointer: true,
		Reopen:      func(_ *testing.T, s cache.Store) cache.Store { return s.(*mapStore).reopen() },
	}
}

func TestCorrectStorePasses(t *testing.T) {
	cachetest.RunStoreOptions(t, func(*testing.T) cache.Store { return newMapStore("") }, options())
	cachetest.RunStore(t, func(*testing.T) cache.Store { return newMapStore("") })
}

const bugEnv = "STRICTMX_CACHETEST_BUG"

// TestBuggyChild runs the suite against a store with the bug named in
// bugEnv; TestSuiteCatchesBugs runs it in a child process and expects it
// to fail.
func TestBuggyChild(t *testing.T) {
	bug := os.Getenv(bugEnv)
	if bug == "" {
		t.Skip("child process of TestSuiteCatchesBugs")
	}
	cachetest.RunStoreOptions(t, func(*testing.T) cache.Store { return newMapStore(bug) }, options())
}

func TestSuiteCatchesBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for bug, failing := range map[string]string{
		"copy":             "PutGet",
		"nil-miss":         "Miss",
		"no-delete":        "Delete",
		"seconds":          "PutGet",
		"no-validate":      "Invalid",
		"forget-on-reopen": "Reopen",
	} {
		t.Run(bug, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBuggyChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), bugEnv+"="+bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store with bug %q:\n%s", bug, out)
			}
			if want := "--- FAIL: TestBuggyChild/" + failing + " "; !strings.Contains(string(out), want) {
				t.Fatalf("bug %q: output lacks %q:\n%s", bug, want, out)
			}
		})
	}
}
