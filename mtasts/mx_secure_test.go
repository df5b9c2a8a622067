package mtasts_test

import (
	"context"
	"errors"
	"testing"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// ResolveMXSecure gives the MX RRset's DNSSEC state with ResolveMX's
// classification (contract section 2; RFC 7672, Sections 2.2.1, 2.2.2).
func TestResolveMXSecure(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Signed("signed.test")
	s.MX("signed.test", 10, "mx.signed.test")
	s.MX("plain.test", 10, "mx.plain.test")
	s.A("nomx.signed.test", "192.0.2.1")
	s.MX("bogus.signed.test", 10, "mx.bogus.signed.test")
	s.Bogus("bogus.signed.test")
	s.MX("null.signed.test", 0, ".")
	r := s.Resolver()
	ctx := context.Background()
	for _, tt := range []struct {
		domain   string
		host     string
		implicit bool
		sec      resolver.Security
		err      error
	}{
		{"signed.test", "mx.signed.test", false, resolver.Secure, nil},
		{"plain.test", "mx.plain.test", false, resolver.Insecure, nil},
		// Secure NODATA: a non-MX destination, handled as a secure MX
		// naming the domain.
		{"nomx.signed.test", "nomx.signed.test", true, resolver.Secure, nil},
		{"bogus.signed.test", "", false, resolver.Insecure, mtasts.ErrDNSTemporary},
		{"absent.signed.test", "", false, resolver.Secure, mtasts.ErrNoSuchDomain},
		{"absent.plain.test", "", false, resolver.Insecure, mtasts.ErrNoSuchDomain},
		{"null.signed.test", "", false, resolver.Secure, mtasts.ErrNullMX},
	} {
		hosts, implicit, sec, err := mtasts.ResolveMXSecure(ctx, r, tt.domain)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%s: error %v; want %v", tt.domain, err, tt.err)
			continue
		}
		if sec != tt.sec || implicit != tt.implicit || tt.host != "" && (len(hosts) != 1 || hosts[0].Host != tt.host) {
			t.Errorf("%s: %v implicit=%v %s; want %s implicit=%v %s", tt.domain, hosts, implicit, sec, tt.host, tt.implicit, tt.sec)
		}
	}
}
