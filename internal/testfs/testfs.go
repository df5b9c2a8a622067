// Package testfs gives tests file systems that fail as real disks do: a
// small tmpfs that fills up, and that can be remounted read-only. Mounting
// needs root; without it the test is skipped with a message saying so.
package testfs

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Tmpfs is a tmpfs mounted for one test.
type Tmpfs struct {
	// Dir is the mount point, a new directory of the test's.
	Dir string
}

// Mount mounts a tmpfs of size bytes on a new directory for the rest of
// the test, or skips the test when it cannot (not root, no mount).
func Mount(t testing.TB, size int) *Tmpfs {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return &Tmpfs{Dir: dir}
}

// ReadOnly remounts the file system read-only; Writable undoes it.
func (f *Tmpfs) ReadOnly(t testing.TB) { f.remount(t, "ro") }

// Writable remounts the file system read-write.
func (f *Tmpfs) Writable(t testing.TB) { f.remount(t, "rw") }

func (f *Tmpfs) remount(t testing.TB, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, f.Dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v: %s", mode, f.Dir, err, out)
	}
}

// Fill writes a file that takes every free block, so that the next write
// fails with ENOSPC; removing the returned path frees the space again.
func (f *Tmpfs) Fill(t testing.TB) (path string) {
	t.Helper()
	path = f.Dir + "/fill"
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	buf := make([]byte, 64<<10)
	for i := 0; i < 1<<16; i++ { // bounded: a tmpfs of at most 4 GiB
		if _, err := w.Write(buf); err != nil {
			break
		}
	}
	for _, n := range []int{4096, 512, 1} { // the last partial blocks
		b := make([]byte, n)
		for {
			if _, err := w.Write(b); err != nil {
				break
			}
		}
	}
	return path
}
