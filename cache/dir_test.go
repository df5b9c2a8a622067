package cache_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/cache/cachetest"
)

func TestDirConformance(t *testing.T) {
	cachetest.RunStoreOptions(t,
		func(t *testing.T) cache.Store {
			d, err := cache.NewDir(filepath.Join(t.TempDir(), "sts"))
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		cachetest.Options{
			SamePointer: true,
			Reopen: func(t *testing.T, s cache.Store) cache.Store {
				d, err := cache.NewDir(s.(*cache.Dir).Path)
				if err != nil {
					t.Fatal(err)
				}
				return d
			},
		})
}

func TestDirZeroValueConformance(t *testing.T) {
	cachetest.RunStoreOptions(t,
		func(t *testing.T) cache.Store { return &cache.Dir{Path: t.TempDir(), MemorySize: 2} },
		cachetest.Options{
			// A memory tier of two entries: most Gets in the suite read files.
			Reopen: func(t *testing.T, s cache.Store) cache.Store {
				return &cache.Dir{Path: s.(*cache.Dir).Path}
			},
		})
}

func TestDirNoPath(t *testing.T) {
	var d cache.Dir
	ctx := t.Context()
	if err := d.Put(ctx, &cache.Entry{Domain: "example.com"}); err == nil {
		t.Error("Put on a Dir without Path succeeded")
	}
	if _, err := d.Get(ctx, "example.com"); err == nil || errors.Is(err, cache.ErrCacheMiss) {
		t.Errorf("Get on a Dir without Path: %v, want a non-miss error", err)
	}
	if _, err := cache.NewDir(""); err == nil {
		t.Error(`NewDir("") succeeded`)
	}
}

func TestDirReadsOnce(t *testing.T) {
	path := t.TempDir()
	ctx := t.Context()
	w, _ := cache.NewDir(path)
	if err := w.Put(ctx, &cache.Entry{Domain: "example.com", ID: "1", Policy: gmailPolicy}); err != nil {
		t.Fatal(err)
	}
	r, _ := cache.NewDir(path)
	e1, err := r.Get(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	// Remove the file behind the Dir's back: the memory tier still answers,
	// with the same pointer, which is what keeps mtasts' memo.
	if err := os.Remove(filepath.Join(path, "example.com")); err != nil {
		t.Fatal(err)
	}
	e2, err := r.Get(ctx, "example.com")
	if err != nil || e2 != e1 {
		t.Fatalf("second Get = %p, %v; want %p from memory", e2, err, e1)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = r.Get(ctx, "example.com") }); n != 0 {
		t.Errorf("memory-tier hit: %v allocs, want 0", n)
	}
}

func TestDirCorruptFiles(t *testing.T) {
	path := t.TempDir()
	ctx := t.Context()
	if _, err := cache.NewDir(path); err != nil { // the directory is the store's
		t.Fatal(err)
	}
	good, err := cache.MarshalEntry(&cache.Entry{Domain: "other.example", ID: "1", Policy: "x"})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"garbage.example":   []byte("not an entry at all"),
		"empty.example":     nil,
		"truncated.example": good[:len(good)-3],
		"misplaced.example": good, // a valid entry, for another domain
		"huge.example":      bytes.Repeat([]byte{1}, cache.MaxEncodedSize+10),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(path, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	d := &cache.Dir{Path: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	for name := range files {
		if e, err := d.Get(ctx, name); !errors.Is(err, cache.ErrCacheMiss) {
			t.Errorf("Get(%s) of a corrupt file = %v, %v; want a miss", name, e, err)
		}
		if _, err := os.Stat(filepath.Join(path, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("corrupt file %s not removed: %v", name, err)
		}
		if !strings.Contains(logs.String(), "domain="+name) {
			t.Errorf("corrupt file %s not logged; log:\n%s", name, logs.String())
		}
	}
	// The store is still usable for those domains.
	e := &cache.Entry{Domain: "garbage.example", ID: "2"}
	if err := d.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Get(ctx, e.Domain); got != e || err != nil {
		t.Fatalf("Get after Put = %v, %v", got, err)
	}
}

func TestNewDirRemovesTempFiles(t *testing.T) {
	path := t.TempDir()
	if _, err := cache.NewDir(path); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(path, ".tmp-example.com-123")
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.NewDir(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temporary file still there: %v", err)
	}
}

func TestDirPrune(t *testing.T) {
	path := t.TempDir()
	ctx := t.Context()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d, _ := cache.NewDir(path)
	for i, exp := range []time.Duration{-time.Hour, -time.Second, 0, time.Hour} {
		dom := "d" + strconv.Itoa(i) + ".example"
		if err := d.Put(ctx, &cache.Entry{Domain: dom, ID: "1", Expires: now.Add(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(path, "bad.example"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	// d decides from its memory tier; the reopened Dirs below read files.
	n, err := d.Prune(ctx, now)
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want 2 removed", n, err)
	}
	for i, want := range []bool{false, false, true, true} {
		dom := "d" + strconv.Itoa(i) + ".example"
		_, err := d.Get(ctx, dom)
		if (err == nil) != want {
			t.Errorf("after Prune, Get(%s): %v, want present=%v", dom, err, want)
		}
		r := &cache.Dir{Path: path}
		if _, err := r.Get(ctx, dom); (err == nil) != want {
			t.Errorf("after Prune, reopened Get(%s): %v, want present=%v", dom, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(path, "bad.example")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Prune left a corrupt file: %v", err)
	}
	// A Dir that has not read the file decides from the file.
	if err := d.Put(ctx, &cache.Entry{Domain: "d4.example", ID: "1", Expires: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if n, err := (&cache.Dir{Path: path}).Prune(ctx, now); err != nil || n != 1 {
		t.Fatalf("Prune by a fresh Dir = %d, %v; want 1 removed", n, err)
	}
	if _, err := os.Stat(filepath.Join(path, "d4.example")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Prune by a fresh Dir left the file: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (&cache.Dir{Path: path}).Prune(cctx, now.Add(time.Hour*2)); !errors.Is(err, context.Canceled) {
		t.Errorf("Prune with a cancelled context: %v", err)
	}
}

const crashChildEnv = "STRICTMX_CACHE_CRASH_CHILD_DIR"

// crashDomains is how many domains the crash child cycles through.
const crashDomains = 40

// TestDirCrashChild is the child half of TestDirSurvivesKill: it runs only
// when re-executed with crashChildEnv set, Puts entries and prints the
// number of each Put that has returned.
func TestDirCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("child process of TestDirSurvivesKill")
	}
	d, err := cache.NewDir(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100_000 { // bounded; the parent kills us long before
		if err := d.Put(context.Background(), crashEntry(i)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(os.Stdout, i)
	}
}

func crashEntry(i int) *cache.Entry {
	id := strconv.Itoa(i)
	return &cache.Entry{
		Domain:  "d" + strconv.Itoa(i%crashDomains) + ".example",
		ID:      id,
		Policy:  strings.Repeat("mx: mx"+id+".example.net\n", 200), // several pages
		Fetched: time.Unix(int64(i), 0),
		Expires: time.Unix(int64(i)+86400, 0),
	}
}

func TestDirSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDirCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 300
	last := make(map[string]int) // domain -> number of its last completed Put
	maxDone := -1
	sc := bufio.NewScanner(out)
	for lines := 0; sc.Scan(); lines++ {
		if lines == killAfter {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
		}
		i, err := strconv.Atoi(sc.Text())
		if err != nil {
			continue // "PASS" or other test output
		}
		last[crashEntry(i).Domain] = i
		maxDone = i
	}
	err = cmd.Wait()
	if maxDone < killAfter || err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v after %d Puts; want killed after at least %d", err, maxDone+1, killAfter)
	}

	// Every entry file on disk is complete, whatever NewDir does later.
	names, err := os.ReadDir(path)
	if err != nil {
		t.Fatal(err)
	}
	temps := 0
	for _, de := range names {
		if de.Name() == cache.DirMarker {
			continue
		}
		if strings.HasPrefix(de.Name(), ".") {
			temps++
			continue
		}
		data, err := os.ReadFile(filepath.Join(path, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cache.UnmarshalEntry(data); err != nil {
			t.Errorf("file %s is not a complete entry: %v", de.Name(), err)
		}
	}
	t.Logf("killed after %d completed Puts; %d temporary file(s) left behind", maxDone+1, temps)

	d, err := cache.NewDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := os.ReadDir(path); len(names) != crashDomains+1 {
		t.Errorf("after NewDir, %d files, want %d entries and the marker (temporary files removed)", len(names), crashDomains)
	}
	inFlight := crashEntry(maxDone + 1) // the Put the kill may have interrupted
	for dom, i := range last {
		got, err := d.Get(ctx, dom)
		if err != nil {
			t.Errorf("Get(%s) after kill: %v", dom, err)
			continue
		}
		want := crashEntry(i)
		if dom == inFlight.Domain && got.ID == inFlight.ID {
			want = inFlight // it completed but was not reported
		}
		if got.ID != want.ID || got.Policy != want.Policy || !got.Expires.Equal(want.Expires) {
			t.Errorf("Get(%s) after kill: id %s, want %s (last completed Put)", dom, got.ID, want.ID)
		}
	}
}

// maddyFiles are what another MTA's MTA-STS cache keeps (maddy's go-mtasts
// names its files by bare domain too), and a file of the operator's.
var maddyFiles = map[string]string{
	"example.com": `{"ID":"20240101","FetchTime":"2026-03-01T12:00:00Z","Policy":{"Mode":"enforce","MX":["mx.example.com"],"MaxAge":86400}}` + "\n",
	"example.org": `{"ID":"1","FetchTime":"2026-03-01T12:00:00Z","Policy":{"Mode":"testing","MX":["*.example.org"],"MaxAge":604800}}` + "\n",
	"README":      "keep me\n",
}

func writeFiles(t *testing.T, path string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(path, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// checkFiles fails unless path holds exactly files.
func checkFiles(t *testing.T, path string, files map[string]string) {
	t.Helper()
	des, err := os.ReadDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != len(files) {
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		t.Errorf("directory holds %q; want only the %d files it had", names, len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(path, name))
		if err != nil || string(got) != want {
			t.Errorf("file %s: %q, %v; want it untouched", name, got, err)
		}
	}
}

// A Dir never deletes, replaces or adds a file in a directory it did not
// make its own: NewDir refuses it, and a Dir made without NewDir fails every
// call that would touch a file, with ErrForeignDir and not a miss.
func TestDirForeignDirUntouched(t *testing.T) {
	path := t.TempDir()
	ctx := t.Context()
	writeFiles(t, path, maddyFiles)

	d, err := cache.NewDir(path)
	if !errors.Is(err, cache.ErrForeignDir) || d != nil {
		t.Errorf("NewDir on another program's directory = %v, %v; want ErrForeignDir", d, err)
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the directory", err)
	}
	checkFiles(t, path, maddyFiles)

	var logs bytes.Buffer
	z := &cache.Dir{Path: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	for _, name := range []string{"example.com", "example.org", "example.net"} {
		if e, err := z.Get(ctx, name); !errors.Is(err, cache.ErrForeignDir) {
			t.Errorf("Get(%s) = %v, %v; want ErrForeignDir", name, e, err)
		}
	}
	if err := z.Put(ctx, &cache.Entry{Domain: "example.com", ID: "2"}); !errors.Is(err, cache.ErrForeignDir) {
		t.Errorf("Put: %v; want ErrForeignDir", err)
	}
	if err := z.Delete(ctx, "example.org"); !errors.Is(err, cache.ErrForeignDir) {
		t.Errorf("Delete: %v; want ErrForeignDir", err)
	}
	if n, err := z.Prune(ctx, time.Now().Add(1000*time.Hour)); n != 0 || !errors.Is(err, cache.ErrForeignDir) {
		t.Errorf("Prune = %d, %v; want ErrForeignDir", n, err)
	}
	checkFiles(t, path, maddyFiles)
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("refusing the directory was not logged; log:\n%s", logs.String())
	}
}

// NewDir marks a new or empty directory as its own; a Dir made without
// NewDir does so at first use.
func TestDirMarksItsDirectory(t *testing.T) {
	ctx := t.Context()
	for name, path := range map[string]string{
		"new":   filepath.Join(t.TempDir(), "a", "b"),
		"empty": t.TempDir(),
	} {
		if _, err := cache.NewDir(path); err != nil {
			t.Fatalf("NewDir on a %s directory: %v", name, err)
		}
		if fi, err := os.Stat(filepath.Join(path, cache.DirMarker)); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("NewDir on a %s directory wrote no marker: %v", name, err)
		}
	}
	path := t.TempDir()
	d := &cache.Dir{Path: path}
	if err := d.Put(ctx, &cache.Entry{Domain: "example.com", ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(path, cache.DirMarker)); err != nil {
		t.Fatalf("first Put of a zero Dir wrote no marker: %v", err)
	}
	// Files added later are the store's: a corrupt one is dropped.
	writeFiles(t, path, map[string]string{"example.net": "junk"})
	if _, err := (&cache.Dir{Path: path}).Get(ctx, "example.net"); !errors.Is(err, cache.ErrCacheMiss) {
		t.Fatalf("Get of a corrupt file in the store's directory: %v; want a miss", err)
	}
}

// A directory without the marker that holds only entries and temporary
// files of this package (a cache of an earlier strictmx) is adopted; one
// foreign file is enough to refuse it all.
func TestNewDirAdoptsUnmarkedCache(t *testing.T) {
	ctx := t.Context()
	path := t.TempDir()
	e := &cache.Entry{Domain: "example.com", ID: "1", Policy: gmailPolicy, Expires: time.Now().Add(time.Hour)}
	data, err := cache.MarshalEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"example.com": string(data), ".tmp-123456": "half"}
	writeFiles(t, path, files)
	writeFiles(t, path, map[string]string{"example.org": maddyFiles["example.org"]})
	if _, err := cache.NewDir(path); !errors.Is(err, cache.ErrForeignDir) || !strings.Contains(err.Error(), "example.org") {
		t.Fatalf("NewDir with one foreign file: %v; want ErrForeignDir naming it", err)
	}
	files["example.org"] = maddyFiles["example.org"]
	checkFiles(t, path, files)

	os.Remove(filepath.Join(path, "example.org"))
	d, err := cache.NewDir(path)
	if err != nil {
		t.Fatalf("NewDir on an earlier cache: %v", err)
	}
	if got, err := d.Get(ctx, "example.com"); err != nil || got.Policy != e.Policy {
		t.Fatalf("Get after adoption = %v, %v", got, err)
	}
	checkFiles(t, path, map[string]string{"example.com": string(data), cache.DirMarker: readFile(t, filepath.Join(path, cache.DirMarker))})
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func BenchmarkDirGetMemoryTier(b *testing.B) {
	d, err := cache.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	cachetest.BenchStore(b, d)
}
