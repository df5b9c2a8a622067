package resolver_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

func TestExchangeTimeout(t *testing.T) {
	s := mtaststest.NewServer(t).DNSFault("example.test", mtaststest.DNSTimeout)
	addr := s.DNSAddr()

	t.Run("Timeout", func(t *testing.T) {
		r := &resolver.Stub{Servers: []string{addr}, Timeout: 50 * time.Millisecond}
		_, err := r.LookupTXT(t.Context(), "example.test")
		de := dnsErr(t, err)
		if !de.IsTimeout || !de.IsTemporary || de.IsNotFound || de.Err != "i/o timeout" || de.Server != addr {
			t.Errorf("got %+v, want a timeout", de)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v: the Stub's Timeout is not the caller's deadline", err)
		}
	})
	t.Run("ContextDeadline", func(t *testing.T) {
		r := &resolver.Stub{Servers: []string{addr}, Timeout: time.Hour}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := r.LookupTXT(ctx, "example.test")
		if !errors.Is(err, context.DeadlineExceeded) || !dnsErr(t, err).IsTimeout {
			t.Errorf("got %v, want a deadline error with IsTimeout", err)
		}
	})
	t.Run("ContextCancel", func(t *testing.T) {
		r := &resolver.Stub{Servers: []string{addr}, Timeout: time.Hour}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		// Cancel once the query is in flight: the exchange must end at
		// once, not at the Timeout an hour away.
		s.OnQuery(func(name, rrtype string) { cancel() })
		defer s.OnQuery(nil)
		_, err := r.LookupTXT(ctx, "example.test")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if de := dnsErr(t, err); de.IsNotFound || de.IsTimeout || de.Err != "operation was canceled" {
			t.Errorf("got %+v, want neither not-found nor timeout", de)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		// Cancelled before the lookup: no query is sent.
		s.ResetCounters()
		r := &resolver.Stub{Servers: []string{addr}}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := r.LookupTXT(ctx, "example.test"); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if n := s.TotalQueries(); n != 0 {
			t.Errorf("%d queries sent after cancellation", n)
		}
	})
}

func TestExchangeServerOrder(t *testing.T) {
	silent := mtaststest.NewServer(t).
		DNSFault("_mta-sts.example.test", mtaststest.DNSTimeout).
		DNSFault("nx.example.test", mtaststest.DNSTimeout)
	bad := mtaststest.NewServer(t).
		DNSFault("_mta-sts.example.test", mtaststest.DNSServFail).
		DNSFault("nx.example.test", mtaststest.DNSRefused)
	good := mtaststest.NewServer(t).TXT("_mta-sts.example.test", "v=STSv1; id=1")

	// A timeout and a SERVFAIL move on to the next server.
	r := &resolver.Stub{Servers: []string{silent.DNSAddr(), bad.DNSAddr(), good.DNSAddr()}, Timeout: 50 * time.Millisecond}
	got, err := r.LookupTXT(t.Context(), "_mta-sts.example.test")
	if err != nil || len(got) != 1 || got[0] != "v=STSv1; id=1" {
		t.Fatalf("LookupTXT = %q, %v", got, err)
	}
	for _, s := range []*mtaststest.Server{silent, bad, good} {
		if n := s.TotalQueries(); n != 1 {
			t.Errorf("server %s asked %d times, want once", s.DNSAddr(), n)
		}
	}

	// NXDOMAIN is final: the next server is not asked.
	bad.ResetCounters()
	r = &resolver.Stub{Servers: []string{good.DNSAddr(), bad.DNSAddr()}}
	_, err = r.LookupTXT(t.Context(), "nx.example.test")
	if de := dnsErr(t, err); !de.IsNotFound || de.Server != good.DNSAddr() {
		t.Errorf("got %+v, want not found from the first server", de)
	}
	if n := bad.Queries("nx.example.test", "TXT"); n != 0 {
		t.Errorf("second server asked %d times after NXDOMAIN", n)
	}

	// When all fail, the last server's error is returned.
	r = &resolver.Stub{Servers: []string{silent.DNSAddr(), bad.DNSAddr()}, Timeout: 50 * time.Millisecond}
	_, err = r.LookupTXT(t.Context(), "nx.example.test")
	if de := dnsErr(t, err); de.Err != "refused" || de.Server != bad.DNSAddr() {
		t.Errorf("got %+v, want refused from the last server", de)
	}
}

func TestExchangeDefaultPort(t *testing.T) {
	// A server without a port is asked on port 53: the error names it.
	// On a machine with a resolver on loopback the answer is NXDOMAIN
	// (.invalid is a reserved name); otherwise a refusal or a timeout.
	for server, want := range map[string]string{
		"127.0.0.1": "127.0.0.1:53",
		"[::1]":     "[::1]:53",
		"::1":       "[::1]:53",
	} {
		r := &resolver.Stub{Servers: []string{server}, Timeout: 100 * time.Millisecond}
		_, err := r.LookupTXT(t.Context(), "strictmx-test.invalid")
		if err == nil {
			t.Skipf("%s answered for a .invalid name", server)
		}
		if de := dnsErr(t, err); de.Server != want {
			t.Errorf("server %q: error %+v, want Server %q", server, de, want)
		}
	}
}

func TestExchangeTruncation(t *testing.T) {
	// One RR of 60,000 bytes, in 255-byte strings: only TCP can carry it.
	big := strings.Repeat("x", 60000)
	s := mtaststest.NewServer(t).
		TXT("big.example.test", big).
		TXT("_mta-sts.example.test", "v=STSv1; id=tcp")
	r := stub(s)

	// The answer is too big for UDP; the server truncates it and sets TC.
	got, err := r.LookupTXT(t.Context(), "big.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != big {
		t.Errorf("got %d records; want 1 of %d bytes", len(got), len(big))
	}
	if udp, tcp := s.TotalQueries()-s.TCPQueries(), s.TCPQueries(); udp != 1 || tcp != 1 {
		t.Errorf("queries udp=%d tcp=%d, want 1 and 1", udp, tcp)
	}

	// A server that truncates everything over UDP.
	s.DNSFault("_mta-sts.example.test", mtaststest.DNSTruncate)
	got, err = r.LookupTXT(t.Context(), "_mta-sts.example.test")
	if err != nil || len(got) != 1 || got[0] != "v=STSv1; id=tcp" {
		t.Errorf("LookupTXT = %q, %v", got, err)
	}
	if n := s.TCPQueries(); n != 2 {
		t.Errorf("tcp queries = %d, want 2", n)
	}
}

func TestExchangeStrayReplies(t *testing.T) {
	s := mtaststest.NewServer(t).TXT("_mta-sts.example.test", "v=STSv1; id=1")
	r := stub(s)
	// Replies with another ID (each saying NXDOMAIN) are ignored, up to
	// 15 of them, while the Stub waits for its own.
	for _, n := range []int{1, 15} {
		s.StrayReplies(n)
		got, err := r.LookupTXT(t.Context(), "_mta-sts.example.test")
		if err != nil || len(got) != 1 {
			t.Errorf("%d stray replies: %q, %v", n, got, err)
		}
	}
	// Beyond that the exchange fails, as a malformed answer, never as
	// the strays' NXDOMAIN.
	s.StrayReplies(16)
	_, err := r.LookupTXT(t.Context(), "_mta-sts.example.test")
	if de := dnsErr(t, err); de.IsNotFound || errors.Is(err, resolver.ErrNXDOMAIN) || de.Err != "malformed dns answer" {
		t.Errorf("16 stray replies: %+v", de)
	}
	// Over TCP there are none: a truncated answer still comes.
	s.DNSFault("_mta-sts.example.test", mtaststest.DNSTruncate).StrayReplies(3)
	if got, err := r.LookupTXT(t.Context(), "_mta-sts.example.test"); err != nil || len(got) != 1 {
		t.Errorf("truncated, with stray replies over UDP: %q, %v", got, err)
	}
}
