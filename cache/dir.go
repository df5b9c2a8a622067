package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tempPrefix starts the name of every temporary file a Dir writes. A policy
// domain never begins with '.', so temporary files and entry files cannot
// collide.
const tempPrefix = ".tmp-"

// DirMarker is the name of the file by which a Dir knows a directory as its
// own. NewDir, or the first use of a Dir made without NewDir, writes it into
// a new or empty directory, and into a directory that holds only entries
// and temporary files of this package (a cache of a strictmx version that
// wrote no marker). Any other directory without it is refused with
// ErrForeignDir. The name starts with '.', so it is never a domain's file.
const DirMarker = ".strictmx-cache"

// markerText is what the DirMarker file says to a person who opens it.
const markerText = "This directory is an MTA-STS policy cache kept by strictmx\n" +
	"(github.com/strictmx/strictmx/cache.Dir). It writes, replaces and deletes\n" +
	"the files in it; keep other files elsewhere.\n"

// Dir is a Store that keeps one file per domain in a directory, so cached
// policies survive a restart, and a crash at any point (kill -9 included)
// leaves every entry either as it was before a Put or as that Put wrote it.
//
// A Put writes the encoding from MarshalEntry to a temporary file in the
// same directory, fsyncs it, renames it over the domain's file and fsyncs
// the directory; Put returns only after that. The file name is the domain
// itself (Validate refuses any name with '/' or a leading '.').
//
// A memory tier (an LRU of *Entry) sits in front of the files: Get returns
// the very *Entry given to Put or read earlier, without touching the disk
// and without allocating. Corrupt or unreadable-format files are logged,
// removed and reported as a miss.
//
// A Dir leaves expiry to its consumer, like LRU; files of domains that are
// never looked up again stay until Delete or Prune removes them.
//
// A Dir deletes and replaces files only in a directory that is its own,
// marked by a DirMarker file. It marks a new or empty directory (and an
// unmarked cache of an earlier strictmx) at first use; in any other
// directory, such as another MTA's cache that also names its files after
// domains, every call that would touch a file fails with ErrForeignDir,
// and the files stay as they are.
//
// Only one Dir (in one process) should use a directory at a time: the
// memory tier does not see changes made behind its back.
//
// A Dir is usable once Path is set; NewDir also creates the directory,
// checks that it is the Dir's own (or makes it so) and clears temporary
// files left by a crash. A Dir must not be copied after first use.
type Dir struct {
	// Path is the directory holding the entry files. It must exist,
	// unless the Dir is made with NewDir.
	Path string

	// MemorySize bounds the memory tier, in entries; zero or negative
	// means DefaultLRUSize. It is read once, at first use.
	MemorySize int

	// Logger receives a warning for each corrupt file dropped and for
	// files that cannot be removed. Nil means discard.
	Logger *slog.Logger

	once  sync.Once
	mem   *entries
	seed  maphash.Seed
	locks [64]sync.Mutex // striped by domain: orders file writes and tier updates

	owned   atomic.Bool // the directory holds DirMarker
	ownMu   sync.Mutex  // serialises claims
	foreign error       // the ErrForeignDir found, kept; guarded by ownMu
}

// NewDir creates path (mode 0700) if needed, makes sure it is the store's
// own directory, removes temporary files that a crashed process left in
// it, and returns a Dir on it.
//
// A directory is the store's own when it holds the DirMarker file. NewDir
// writes that file into a new or empty directory, and into one that holds
// only entries and temporary files of this package. It refuses any other
// directory with an error wrapping ErrForeignDir, without changing
// anything in it.
func NewDir(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("cache: dir: empty path")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("cache: dir: %w", err)
	}
	d := &Dir{Path: path}
	d.init()
	if err := d.own(); err != nil {
		return nil, err
	}
	names, err := readNames(path)
	if err != nil {
		return nil, fmt.Errorf("cache: dir: %w", err)
	}
	for _, name := range names {
		if strings.HasPrefix(name, tempPrefix) {
			if err := os.Remove(filepath.Join(path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("cache: dir: remove stale temporary file: %w", err)
			}
		}
	}
	return d, nil
}

// own returns nil once the directory is the store's own, claiming it on
// first use (see NewDir). An ErrForeignDir is remembered and logged once;
// other errors (a missing directory, say) are retried at the next call.
func (d *Dir) own() error {
	if d.owned.Load() {
		return nil
	}
	d.ownMu.Lock()
	defer d.ownMu.Unlock()
	if d.owned.Load() {
		return nil
	}
	if d.foreign != nil {
		return d.foreign
	}
	err := d.claim()
	switch {
	case err == nil:
		d.owned.Store(true)
	case errors.Is(err, ErrForeignDir):
		d.foreign = err
		d.logger().Warn("cache: refusing a directory that is not a strictmx cache; no file in it is read, written or deleted",
			"path", d.Path, "err", err)
	}
	return err
}

// claim checks for the marker and writes it if the directory may be made
// the store's own.
func (d *Dir) claim() error {
	fi, err := os.Lstat(filepath.Join(d.Path, DirMarker))
	switch {
	case err == nil && fi.Mode().IsRegular():
		return nil
	case err == nil:
		return fmt.Errorf("%w: %s: %s is not a regular file", ErrForeignDir, d.Path, DirMarker)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cache: dir: %w", err)
	}
	names, err := readNames(d.Path)
	if err != nil {
		return fmt.Errorf("cache: dir: %w", err)
	}
	for _, name := range names {
		if !d.earlierFile(name) {
			return fmt.Errorf("%w: %s has no %s file and holds %q, which is not a cache entry", ErrForeignDir, d.Path, DirMarker, name)
		}
	}
	if err := d.write(DirMarker, []byte(markerText)); err != nil {
		return fmt.Errorf("cache: dir: write %s: %w", DirMarker, err)
	}
	return nil
}

// earlierFile reports whether name, in a directory without the marker, is
// a file that a Dir of an earlier strictmx wrote: a temporary file, or a
// regular file holding the entry of the domain it is named after.
func (d *Dir) earlierFile(name string) bool {
	if rest, ok := strings.CutPrefix(name, tempPrefix); ok {
		// os.CreateTemp puts a decimal number in place of the '*'.
		return rest != "" && strings.Trim(rest, "0123456789") == ""
	}
	if !ValidDomain(name) {
		return false
	}
	path := d.file(name)
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > MaxEncodedSize {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxEncodedSize+1))
	if err != nil {
		return false
	}
	e, err := UnmarshalEntry(data)
	return err == nil && e.Domain == name
}

func readNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func (d *Dir) init() {
	d.once.Do(func() {
		d.mem = newEntries(d.MemorySize)
		d.seed = maphash.MakeSeed()
	})
}

func (d *Dir) lock(domain string) *sync.Mutex {
	return &d.locks[maphash.String(d.seed, domain)%uint64(len(d.locks))]
}

func (d *Dir) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func (d *Dir) file(domain string) string { return filepath.Join(d.Path, domain) }

func (d *Dir) checkPath() error {
	if d.Path == "" {
		return errors.New("cache: dir: empty Path")
	}
	return nil
}

// Get returns the entry for domain: from memory if it is there, else from
// its file. It reports ErrCacheMiss for a domain with no file, with a
// corrupt file (which it removes) or that is not a valid domain. A memory
// hit does not look at ctx; a file read first checks ctx.Err().
func (d *Dir) Get(ctx context.Context, domain string) (*Entry, error) {
	d.init()
	if e, ok := d.mem.Get(domain); ok {
		return e, nil
	}
	return d.getCold(ctx, domain, 0)
}

var _ GetterAt = (*Dir)(nil)

// GetAt is Get at now (GetterAt), a reading of the system clock: it also
// vouches for the entry it returns from memory for a second
// (Entry.SetFreshUntil), until a Put replaces it, a Delete or Prune
// removes it or it is evicted from memory.
func (d *Dir) GetAt(ctx context.Context, domain string, now time.Time) (*Entry, error) {
	d.init()
	if e, ok := d.mem.GetAt(domain, Monotonic(now)); ok {
		return e, nil
	}
	return d.getCold(ctx, domain, Monotonic(now))
}

// getCold is Get for a domain that was not in memory, vouching at now (a
// Monotonic reading) unless now is 0.
func (d *Dir) getCold(ctx context.Context, domain string, now int64) (*Entry, error) {
	if !ValidDomain(domain) {
		return nil, ErrCacheMiss
	}
	if err := d.checkPath(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cache: dir: get %s: %w", domain, err)
	}
	if err := d.own(); err != nil {
		return nil, err
	}
	mu := d.lock(domain)
	mu.Lock()
	defer mu.Unlock()
	if e, ok := d.mem.Get(domain); ok { // filled while we waited
		return e, nil
	}
	e, err := d.read(domain)
	if err != nil {
		return nil, err
	}
	d.mem.Add(domain, e, now)
	return e, nil
}

// read loads and decodes domain's file; the caller holds its lock.
func (d *Dir) read(domain string) (*Entry, error) {
	name := d.file(domain)
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("cache: dir: get %s: %w", domain, err)
	}
	defer f.Close()
	// Read at most one byte more than a valid entry can take, so a huge
	// file cannot make us allocate more than that.
	data, err := io.ReadAll(io.LimitReader(f, MaxEncodedSize+1))
	if err != nil {
		return nil, fmt.Errorf("cache: dir: get %s: %w", domain, err)
	}
	e, err := UnmarshalEntry(data)
	if err == nil && e.Domain != domain {
		err = &CorruptError{Version: data[0], Reason: "entry for " + e.Domain + " in the file of " + domain}
	}
	if err != nil {
		d.logger().Warn("cache: dropping corrupt entry file", "domain", domain, "path", name, "err", err)
		if rerr := os.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			d.logger().Warn("cache: cannot remove corrupt entry file", "domain", domain, "path", name, "err", rerr)
		}
		return nil, ErrCacheMiss
	}
	return e, nil
}

// Put writes e durably, then keeps it in memory. It fails with an error
// wrapping ErrInvalidEntry if e does not pass Validate, and with ctx.Err()
// if ctx is already done; once the write has begun it is not interrupted.
// After a failed Put the domain holds the old entry or none.
func (d *Dir) Put(ctx context.Context, e *Entry) error {
	d.init()
	data, err := MarshalEntry(e)
	if err != nil {
		return err
	}
	if err := d.checkPath(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache: dir: put %s: %w", e.Domain, err)
	}
	if err := d.own(); err != nil {
		return err
	}
	mu := d.lock(e.Domain)
	mu.Lock()
	defer mu.Unlock()
	// Forget the old entry first: if the write fails we do not know which
	// version the file holds, so the next Get must read it.
	d.mem.Remove(e.Domain)
	if err := d.write(e.Domain, data); err != nil {
		return fmt.Errorf("cache: dir: put %s: %w", e.Domain, err)
	}
	d.mem.Add(e.Domain, e, 0)
	return nil
}

func (d *Dir) write(domain string, data []byte) (err error) {
	f, err := os.CreateTemp(d.Path, tempPrefix+"*") // not the domain: 253 octets is near NAME_MAX
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, d.file(domain)); err != nil {
		return err
	}
	return d.syncDir()
}

// syncDir makes a rename or removal in the directory durable.
func (d *Dir) syncDir() error {
	f, err := os.Open(d.Path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Delete removes domain's entry from memory and disk. It is not an error
// when there is none, nor when domain is not a valid domain (no file can
// exist for it).
func (d *Dir) Delete(ctx context.Context, domain string) error {
	d.init()
	d.mem.Remove(domain)
	if !ValidDomain(domain) {
		return nil
	}
	if err := d.checkPath(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache: dir: delete %s: %w", domain, err)
	}
	if err := d.own(); err != nil {
		return err
	}
	mu := d.lock(domain)
	mu.Lock()
	defer mu.Unlock()
	d.mem.Remove(domain)
	err := os.Remove(d.file(domain))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = d.syncDir()
	}
	if err != nil {
		return fmt.Errorf("cache: dir: delete %s: %w", domain, err)
	}
	return nil
}

// Prune removes the entries whose Expires is before t, from disk and from
// memory, and returns how many it removed. It also removes corrupt files.
// It checks ctx between files and stops with ctx.Err() when ctx is done.
// Run it now and then (daily, say) so the directory does not keep domains
// that are no longer looked up.
func (d *Dir) Prune(ctx context.Context, t time.Time) (removed int, err error) {
	d.init()
	if err := d.checkPath(); err != nil {
		return 0, err
	}
	if err := d.own(); err != nil {
		return 0, err
	}
	f, err := os.Open(d.Path)
	if err != nil {
		return 0, fmt.Errorf("cache: dir: prune: %w", err)
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, name := range names {
			if err := ctx.Err(); err != nil {
				return removed, fmt.Errorf("cache: dir: prune: %w", err)
			}
			if ValidDomain(name) && d.pruneOne(name, t) {
				removed++
			}
		}
		if err == io.EOF {
			return removed, nil
		}
		if err != nil {
			return removed, fmt.Errorf("cache: dir: prune: %w", err)
		}
	}
}

// pruneOne removes domain's entry if it expired before t or its file is
// corrupt, and reports whether it did.
func (d *Dir) pruneOne(domain string, t time.Time) bool {
	mu := d.lock(domain)
	mu.Lock()
	defer mu.Unlock()
	e, ok := d.mem.Peek(domain)
	if !ok {
		var err error
		if e, err = d.read(domain); errors.Is(err, ErrCacheMiss) {
			return false // gone, or corrupt and removed by read
		} else if err != nil {
			d.logger().Warn("cache: prune: cannot read entry file", "domain", domain, "err", err)
			return false
		}
	}
	if !e.Expires.Before(t) {
		return false
	}
	d.mem.Remove(domain)
	if err := os.Remove(d.file(domain)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.logger().Warn("cache: prune: cannot remove entry file", "domain", domain, "err", err)
		return false
	}
	return true
}
