package dane_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/strictmx/strictmx/internal/domain"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// FuzzFinderHost feeds arbitrary host names, as an MX RRset or a caller
// may give them, to Finder.Host against a harness with a DANE host, an
// alias and a literal-looking name, and arbitrary next-hop names to
// Host.IDs. It must not panic, and the Host must be coherent: exactly one
// of failed, DANE or neither; an IP literal or a name that is not one
// sends no query; a base domain is the host or its expansion, in a signed
// zone; the reference identifiers are the base domain, the host and the
// next hop only.
func FuzzFinderHost(f *testing.F) {
	// A plain DANE host, in any spelling.
	f.Add("mx.signed.test", "signed.test")
	f.Add("MX.SIGNED.TEST.", "Signed.Test.")
	// An alias with a secure chain, and one into an unsigned zone.
	f.Add("alias.signed.test", "signed.test")
	f.Add("out.signed.test", "")
	// Unsigned, missing and broken hosts.
	f.Add("mx.unsigned.test", "unsigned.test")
	f.Add("nx.signed.test", "nx.signed.test")
	f.Add("bogus.signed.test", "signed.test")
	// IP literals, bare and in brackets, and near misses.
	f.Add("192.0.2.1", "")
	f.Add("[IPv6:2001:db8::1]", "")
	f.Add("[192.0.2.1", "")
	f.Add("fe80::1%eth0", "")
	f.Add("1.2.3.4.5", "")
	// Names that are no host names.
	f.Add("", "")
	f.Add(".", ".")
	f.Add("a..b", "_25._tcp.x")
	f.Add("bücher.example", "xn--bcher-kva.example")
	f.Add(strings.Repeat("a.", 200), "")

	s := mtaststest.NewServer(f).Signed("signed.test").
		A("mx.signed.test", "192.0.2.1").A("mx.signed.test", "2001:db8::1").
		TLSA("_25._tcp.mx.signed.test", 3, 1, 1, digest).
		CNAME("alias.signed.test", "mx.signed.test").
		CNAME("out.signed.test", "mx.unsigned.test").
		A("mx.unsigned.test", "192.0.2.2").
		A("bogus.signed.test", "192.0.2.3").Bogus("_25._tcp.bogus.signed.test")
	fd := &dane.Finder{Resolver: s.Resolver()}

	f.Fuzz(func(t *testing.T, host, nexthop string) {
		before := s.TotalQueries()
		h := fd.Host(t.Context(), host)
		if h == nil {
			t.Fatal("nil Host")
		}
		if h.Err != nil && h.RRset != nil {
			t.Fatalf("both Err %v and an RRset", h.Err)
		}
		if h.Err == nil && len(h.Addrs) == 0 {
			t.Fatalf("no Err and no address: %+v", h)
		}
		if len(h.Steps) == 0 && s.TotalQueries() != before {
			t.Fatalf("queries sent for %q with no step recorded", host)
		}
		if len(h.Steps) > 0 && (h.Steps[0].Type != "A" || len(h.Steps) > 5) {
			t.Fatalf("steps %+v", h.Steps)
		}
		if h.Applies() {
			if !h.Signed || h.Base != h.Name && h.Base != h.Target || h.TLSASecurity != resolver.Secure {
				t.Fatalf("DANE host %+v", h)
			}
			if strings.HasSuffix(h.Name, ".") || strings.ToLower(h.Name) != h.Name {
				t.Fatalf("Name %q not normalised", h.Name)
			}
		} else if h.Base != "" {
			t.Fatalf("Base %q without an RRset", h.Base)
		}
		for _, mx := range []resolver.Security{resolver.Insecure, resolver.Secure} {
			ids := h.IDs(nexthop, mx)
			if !h.Applies() {
				if ids != nil {
					t.Fatalf("IDs %q without DANE", ids)
				}
				continue
			}
			if len(ids) == 0 || ids[0] != h.Base {
				t.Fatalf("IDs %q do not start with the base domain %q", ids, h.Base)
			}
			for i, id := range ids {
				if slices.Contains(ids[:i], id) {
					t.Fatalf("IDs %q repeat %q", ids, id)
				}
				if id == h.Base || id == h.Name {
					continue
				}
				if n, err := domain.Normalize(nexthop); mx != resolver.Secure || err != nil || id != n {
					t.Fatalf("IDs %q with MX RRset %v: %q is neither base, host nor next hop %q", ids, mx, id, nexthop)
				}
			}
		}
	})
}
