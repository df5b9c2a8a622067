package mtasts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/strictmx/strictmx/internal/domain"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// ResolveMX looks up the MX records of domainName and returns the hosts a
// sender tries, in the order to try them (RFC 5321, Section 5.1), ready for
// Result.Plan:
//
//   - MX records are sorted by preference, lowest first; records of equal
//     preference keep the order the resolver gave them (*resolver.Stub
//     keeps the order of the answer, *net.Resolver shuffles them). Host
//     names are as the resolver gave them, without the trailing dot.
//   - A domain that exists but has no MX records (NODATA, or an empty
//     answer) has the implicit MX: the domain itself, with preference 0,
//     and implicit is true. It must match the policy like any other host
//     (a decision listed in the package documentation).
//   - A null MX, the host ".", gives an error wrapping ErrNullMX, whatever
//     the other records: see the first Spec note below.
//   - NXDOMAIN gives an error wrapping ErrNoSuchDomain (RFC 5321,
//     Section 5.1: it "MUST be reported as an error").
//   - Any other failure is temporary: the error wraps ErrDNSTemporary and
//     the resolver's error (context errors included, for errors.Is).
//
// domainName is normalised first (A-label, lower case, no trailing dot);
// an invalid name gives an error wrapping ErrInvalidDomain. A nil r means a
// *resolver.Stub reading /etc/resolv.conf. The records the resolver
// returned are not modified. When the resolver returns records along with
// an error, as *net.Resolver does after leaving out records with malformed
// host names, the records are used.
//
// Spec note: RFC 7505, Section 3 says that "A domain that advertises a null
// MX MUST NOT advertise any other MX RR", but not what a sender does with a
// domain that breaks the rule. ResolveMX takes a "." among other records as
// the domain's statement that it accepts no mail, and tries none of them.
//
// Spec note: *net.Resolver, and any resolver that only sets
// net.DNSError.IsNotFound, reports NXDOMAIN and NODATA alike. Without
// resolver.ErrNXDOMAIN in the error, ResolveMX takes not-found for NODATA
// and returns the implicit MX. For a domain that does not exist, the host
// then fails to resolve when dialled: a failure to try again later, rather
// than a bounce on an answer that may have been NODATA.
func ResolveMX(ctx context.Context, r MXResolver, domainName string) (hosts []*net.MX, implicit bool, err error) {
	d, err := domain.Normalize(domainName)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrInvalidDomain, err)
	}
	if r == nil {
		r = &resolver.Stub{}
	}
	mxs, err := r.LookupMX(ctx, d)
	hosts = make([]*net.MX, 0, len(mxs))
	for _, mx := range mxs {
		if mx == nil {
			continue
		}
		h := strings.TrimSuffix(mx.Host, ".")
		if h == "" {
			// RFC 7505, Section 3: the null MX.
			return nil, false, fmt.Errorf("%w: %s", ErrNullMX, d)
		}
		hosts = append(hosts, &net.MX{Host: h, Pref: mx.Pref})
	}
	if err != nil && len(hosts) == 0 {
		var dnsErr *net.DNSError
		switch {
		case errors.Is(err, resolver.ErrNXDOMAIN):
			return nil, false, fmt.Errorf("%w: %s: %w", ErrNoSuchDomain, d, err)
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			// NODATA, or a resolver that cannot tell: see the Spec note.
		default:
			return nil, false, fmt.Errorf("%w: MX %s: %w", ErrDNSTemporary, d, err)
		}
	}
	if len(hosts) == 0 {
		// RFC 5321, Section 5.1: an implicit MX "with a preference of 0,
		// pointing to that host".
		return []*net.MX{{Host: d, Pref: 0}}, true, nil
	}
	slices.SortStableFunc(hosts, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return hosts, false, nil
}

// ResolveMXSecure is ResolveMX through the DNSSEC-aware lookup of r
// (resolver.Stub.LookupSecure, cached there), for a sender with DANE: it
// also returns the DNSSEC state of the MX RRset, for PlanOptions.MXSecurity
// (RFC 7672, Section 2.2.1). The state is that of the answer, or of the
// denial for the implicit MX (a secure NODATA makes a non-MX destination
// handled as a secure MX naming the domain, RFC 7672, Section 2.2.2), also
// with ErrNoSuchDomain and ErrNullMX (the state of the denial or of the
// null MX); Insecure with any other error. A failed lookup (bogus or indeterminate data
// included) is an error wrapping ErrDNSTemporary: defer the message; no
// fallback to the implicit MX, MTA-STS or opportunistic TLS. A nil r means
// a *resolver.Stub reading /etc/resolv.conf.
func ResolveMXSecure(ctx context.Context, r *resolver.Stub, domainName string) (hosts []*net.MX, implicit bool, sec resolver.Security, err error) {
	if r == nil {
		r = &resolver.Stub{}
	}
	sr := &secureMXResolver{r: r}
	hosts, implicit, err = ResolveMX(ctx, sr, domainName)
	switch {
	case errors.Is(err, ErrNoSuchDomain), errors.Is(err, ErrNullMX):
		return nil, false, sr.sec, err
	case err != nil:
		return nil, false, resolver.Insecure, err
	}
	return hosts, implicit, sr.sec, nil
}

// secureMXResolver is the MXResolver of ResolveMXSecure: LookupSecure, with
// the state of the last answer or denial kept.
type secureMXResolver struct {
	r   *resolver.Stub
	sec resolver.Security
}

func (s *secureMXResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	ans, err := s.r.LookupSecure(ctx, name, resolver.TypeMX)
	if ans != nil {
		s.sec = ans.Security
	}
	if err != nil {
		return nil, err
	}
	return ans.MX, nil
}
