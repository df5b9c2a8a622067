package resolver

// In-package tests of the exchange side that need no server: a Stub
// without Servers always reads /etc/resolv.conf, so no external test can
// give it another file; and the bits of a query, which the harness does
// not show.

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/miekg/dns"
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
	if got, trust := resolvConf(path); !slices.Equal(got, []string{"192.0.2.53:53", "[2001:db8::53]:53"}) || trust {
		t.Errorf("resolvConf = %q, %v; want the two servers, no trust-ad", got, trust)
	}
	empty := write("empty", "")
	for _, p := range []string{empty, filepath.Join(dir, "missing")} {
		if got, trust := resolvConf(p); !slices.Equal(got, []string{defaultServer}) || trust {
			t.Errorf("resolvConf(%s) = %q, %v; want the default, no trust-ad", p, got, trust)
		}
	}

	// options trust-ad, as glibc reads it: any options line, any place
	// among the options; not in a comment, not as part of another word.
	for content, want := range map[string]bool{
		"nameserver 192.0.2.53\noptions trust-ad\n":                 true,
		"nameserver 192.0.2.53\noptions ndots:2 trust-ad edns0":     true,
		"options edns0\nnameserver 192.0.2.53\noptions  trust-ad\n": true,
		"nameserver 192.0.2.53\n# options trust-ad\n":               false,
		"nameserver 192.0.2.53\noptions edns0 ; trust-ad\n":         false,
		"nameserver 192.0.2.53\noptions trust-ad-not\n":             false,
		"nameserver 192.0.2.53\nsearch trust-ad\n":                  false,
		"nameserver 192.0.2.53\ntrust-ad\n":                         false,
	} {
		p := write("trust", content)
		if servers, trust := resolvConf(p); trust != want || !slices.Equal(servers, []string{"192.0.2.53:53"}) {
			t.Errorf("resolvConf(%q) = %q, %v; want trust-ad %v", content, servers, trust, want)
		}
	}
	// trust-ad without servers still counts, for the default server.
	if got, trust := resolvConf(write("onlyopts", "options trust-ad\n")); !slices.Equal(got, []string{defaultServer}) || !trust {
		t.Errorf("options only: resolvConf = %q, %v", got, trust)
	}
}

func TestAllLoopback(t *testing.T) {
	for _, tt := range []struct {
		servers []string
		want    bool
	}{
		{[]string{"127.0.0.1:53"}, true},
		{[]string{"127.0.0.53:53", "[::1]:53", "127.255.0.1:5353"}, true},
		{[]string{"[::ffff:127.0.0.1]:53"}, true},
		{[]string{"127.0.0.1:53", "192.0.2.53:53"}, false},
		{[]string{"[::2]:53"}, false},
		{[]string{"[fe80::1%lo]:53"}, false},
		{[]string{"localhost:53"}, false},
		{[]string{"127.0.0.1"}, false}, // no port: not a server address
		{nil, false},
	} {
		if got := allLoopback(tt.servers); got != tt.want {
			t.Errorf("allLoopback(%q) = %v, want %v", tt.servers, got, tt.want)
		}
	}
}

func TestNewQuery(t *testing.T) {
	for _, dnssec := range []bool{false, true} {
		q := newQuery("a.example.test.", dns.TypeTLSA, dnssec)
		opt := q.IsEdns0()
		if !q.RecursionDesired || !q.AuthenticatedData || q.CheckingDisabled || opt == nil ||
			opt.UDPSize() != udpSize || opt.Do() != dnssec {
			t.Errorf("dnssec %v: query %v", dnssec, q)
		}
	}
}
