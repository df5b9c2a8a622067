package reporter_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/strictmx/strictmx/tlsrpt/reporter"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

// hostResolver answers every name with one address.
type hostResolver netip.Addr

func (r hostResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.Addr(r)}, nil
}

// countingListener counts the connections a would-be proxy receives.
func countingListener(t *testing.T) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = &atomic.Int32{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), conns
}

// The report client never takes its proxy from the environment: a
// proxy would hide the rua host's address from the dial guard.
func TestHTTPClientIgnoresEnvironmentProxy(t *testing.T) {
	if tr, ok := reporter.NoRedirectClient().Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Fatal("the default report client has a proxy function")
	}
	proxy, proxied := countingListener(t)
	t.Setenv("HTTPS_PROXY", "http://"+proxy)
	t.Setenv("https_proxy", "http://"+proxy)

	srv := tlsrpttest.NewHTTPSServer(t)
	u, _ := url.Parse(srv.URL)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	// A private collector, opted in: the name resolves through the given
	// resolver and the POST goes straight to it.
	c := reporter.NewHTTPClient(reporter.HTTPOptions{
		Resolver:     hostResolver(netip.MustParseAddr("127.0.0.1")),
		AllowPrivate: true,
		RootCAs:      pool,
	})
	if err := reporter.PostReport(t.Context(), c, "https://example.com:"+u.Port()+"/r", []byte{1}); err != nil {
		t.Fatal(err)
	}
	if len(srv.Posts()) != 1 || proxied.Load() != 0 {
		t.Fatalf("%d posts, %d proxy connections; want 1 and 0", len(srv.Posts()), proxied.Load())
	}
}

// A rua host whose name resolves to an address that is not globally
// reachable is refused before a connection is made, for every kind of such
// address, whatever the environment says of proxies.
func TestHTTPClientRefusesHoles(t *testing.T) {
	proxy, proxied := countingListener(t)
	t.Setenv("HTTPS_PROXY", "http://"+proxy)
	for _, h := range []string{
		"127.0.0.1", "::1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "0.1.2.3",
		"192.0.0.8", "198.18.0.1", "240.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a01:203",
		"2002:7f00:1::1", "2001:0:4136:e378::1", "::127.0.0.1", "fec0::1",
	} {
		c := reporter.NewHTTPClient(reporter.HTTPOptions{Resolver: hostResolver(netip.MustParseAddr(h))})
		err := reporter.PostReport(t.Context(), c, "https://rua.example/r", []byte{1})
		if !errors.Is(err, reporter.ErrDialGuard) {
			t.Errorf("rua host at %s: %v, want ErrDialGuard", h, err)
		}
	}
	if n := proxied.Load(); n != 0 {
		t.Errorf("%d connections to the environment's proxy", n)
	}
}
