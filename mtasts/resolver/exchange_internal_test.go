package resolver

// The one in-package test outside the answer reading: a Stub without
// Servers always reads /etc/resolv.conf, so no external test can give it
// another file. It needs no server.

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestResolvConf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	path := write("resolv.conf", "# test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:1\n")
	if got, want := resolvConf(path), []string{"192.0.2.53:53", "[2001:db8::53]:53"}; !slices.Equal(got, want) {
		t.Errorf("resolvConf = %q, want %q", got, want)
	}
	empty := write("empty", "")
	for _, p := range []string{empty, filepath.Join(dir, "missing")} {
		if got := resolvConf(p); !slices.Equal(got, []string{defaultServer}) {
			t.Errorf("resolvConf(%s) = %q, want the default", p, got)
		}
	}
}
