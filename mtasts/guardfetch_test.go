package mtasts_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/strictmx/strictmx/internal/dialguard"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/tlsrpt"
)

// A policy host whose name the domain's DNS points at an address that is
// not globally reachable is refused before a connection is made, for each
// kind of such address: the fetch resolves through the Client's resolver
// and the guard drops the address.
func TestFetchRefusesHoles(t *testing.T) {
	s := mtaststest.NewServer(t)
	c := &mtasts.Client{Resolver: s.Resolver(), RootCAs: s.RootCAs()}
	for i, hole := range []string{
		"127.0.0.1", "::1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "0.1.2.3",
		"192.0.0.8", "198.18.0.1", "240.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a01:203",
		"2002:7f00:1::1", "2001:0:4136:e378::1", "::127.0.0.1", "fec0::1", "::ffff:10.0.0.1",
	} {
		d := s.Domain(fmt.Sprintf("hole%d.test", i)).Record("1").Policy(mtasts.ModeEnforce, 86400, "mx.example.test")
		s.Delete(d.PolicyHost()).A(d.PolicyHost(), hole)
		r, err := c.Lookup(t.Context(), d.Name())
		if err != nil {
			t.Fatal(err)
		}
		if r.Policy != nil || !errors.Is(r.Err, mtasts.ErrDialGuard) || !errors.Is(r.Err, dialguard.ErrRefused) ||
			r.Failure != tlsrpt.ResultSTSPolicyFetchError {
			t.Errorf("policy host at %s: %+v; want a refused fetch", hole, r)
		}
		if n := d.Fetches(); n != 0 {
			t.Errorf("policy host at %s: %d fetches reached the harness", hole, n)
		}
	}
}
