package resolver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/domain"
)

// Stub is a stub resolver on github.com/miekg/dns that sends recursive
// queries to the configured servers. It satisfies the DNS interfaces of
// package mtasts (Resolver, MXResolver) and tlsrpt (Resolver), and is their
// default.
//
// Every query carries EDNS0 with a 1232-byte buffer, the RD bit and the AD
// bit (LookupSecure's the DO bit too, and none the CD bit); an answer
// truncated over UDP is asked again over TCP from the same server, and
// over UDP up to 15 replies with another ID are ignored while
// waiting for the right one. When a server fails (timeout, SERVFAIL,
// REFUSED, any other error code, a malformed or unusable answer), the next
// server is tried, in order. CNAME chains are followed, within an answer
// and across queries, up to 8 links; a loop or a longer chain is an error.
// One response may hold at most 1000 answer records and a lookup returns at
// most 64 KiB of TXT data; beyond that the lookup fails with
// ErrAnswerTooLarge.
//
// Errors are *net.DNSError values, as from *net.Resolver: IsNotFound means
// NXDOMAIN or NODATA, a final "absent" (errors.Is tells ErrNXDOMAIN from
// ErrNODATA); anything else is temporary, with IsTimeout set for timeouts
// and IsTemporary for timeouts and SERVFAIL. errors.Is sees
// context.Canceled and context.DeadlineExceeded, and the answer errors
// (ErrAnswerTooLarge, ErrCNAMELoop, ErrCNAMEChainTooLong), through the
// *net.DNSError. A name that is not a valid domain name (letters, digits,
// hyphens and underscores in labels of at most 63 bytes) fails at once
// with IsNotFound set and errors.Is finding domain.ErrInvalid.
//
// The zero value is ready to use. A Stub is safe for concurrent use; do
// not change its fields after first use.
type Stub struct {
	// Servers are the addresses ("host:port") of the recursive resolvers
	// to ask, in order. A missing port means 53. Empty means the
	// nameservers of /etc/resolv.conf, read once on first use, or
	// 127.0.0.1:53 if it names none.
	Servers []string

	// Timeout bounds one exchange with one server over one transport.
	// Zero means DefaultTimeout. The caller's context can shorten it.
	Timeout time.Duration

	// TrustAD marks the servers as trusted validating resolvers, reached
	// over a path the caller trusts, so that LookupSecure believes their
	// AD bit even when they are not on loopback (see Trusted). False
	// leaves the decision to Trusted's other rules.
	TrustAD bool

	// Logger receives the one warning of a Stub whose servers are not
	// trusted (see Trusted), on its first LookupSecure. nil means
	// discard.
	Logger *slog.Logger

	// Now is the clock of the LookupSecure cache. nil means time.Now.
	Now func() time.Time

	// CacheSize is how many LookupSecure outcomes (answers and denials)
	// are kept, least recently used first out. Zero means
	// DefaultCacheSize; a negative size caches nothing.
	CacheSize int

	once        sync.Once
	servers     []string
	confTrustAD bool // resolv.conf has options trust-ad
	trusted     bool

	cacheOnce sync.Once
	cache     *lru.Cache[cacheKey, cacheEntry] // nil: no cache
	warnOnce  sync.Once
}

// LookupTXT returns the TXT records of name, one string per record, each
// the concatenation of the record's character-strings with no separator.
// A trailing dot on name is optional.
func (r *Stub) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, _, err := r.LookupTXTWithTTL(ctx, name)
	return txts, err
}

// LookupTXTWithTTL is LookupTXT that also says how long the outcome may be
// cached: for records, the least TTL of the answer records (CNAMEs
// followed included); for NXDOMAIN and NODATA (an error with IsNotFound),
// the negative-caching time of RFC 2308, Section 5, taken from the SOA
// record the server sent, or 0 if it sent none; for other errors, 0.
func (r *Stub) LookupTXTWithTTL(ctx context.Context, name string) ([]string, time.Duration, error) {
	res, err := r.lookup(ctx, name, dns.TypeTXT, false)
	d := time.Duration(res.ttl) * time.Second
	if err != nil {
		return nil, d, err
	}
	txts, err := txtStrings(res.rrs, maxTXTBytes)
	if err != nil {
		return nil, 0, &net.DNSError{Err: err.Error(), UnwrapErr: err, Name: name}
	}
	return txts, d, nil
}

// LookupMX returns the MX records of name sorted by preference, lowest
// first; records of equal preference keep the order of the answer. Hosts
// are fully qualified with a trailing dot, as from *net.Resolver. A null MX
// (RFC 7505, Section 3: the domain accepts no mail) is returned as it is,
// a record with host "." and preference 0, for the caller to act on.
// Records whose host is not a usable domain name are left out; if none is
// left the lookup fails. A trailing dot on name is optional.
func (r *Stub) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	res, err := r.lookup(ctx, name, dns.TypeMX, false)
	if err != nil {
		return nil, err
	}
	mxs, err := mxRecords(res.rrs)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), UnwrapErr: err, Name: name}
	}
	return mxs, nil
}

// LookupNetIP returns the addresses of host, as net.Resolver.LookupNetIP
// does: network "ip4" asks for its A records, "ip6" for its AAAA records,
// and "ip" for both at once, returning the IPv4 addresses first, each
// family in the order of its answer and without sorting. IPv4 addresses
// are in their 4-byte form (Is4), never IPv4-mapped. Any other network
// fails with an error wrapping a net.UnknownNetworkError. A trailing dot
// on host is optional; an IP address literal is returned as it is,
// without a query, if it is of the family asked for.
//
// For "ip", host is absent (IsNotFound) only if both queries say so, and
// the error is then the A query's; when one family has addresses, a
// failure of the other is not reported, as with net.Resolver (without
// StrictErrors). When neither has, the error is the first failure that is
// not an absence.
func (r *Stub) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var qtype uint16
	switch network {
	case "ip":
	case "ip4":
		qtype = dns.TypeA
	case "ip6":
		qtype = dns.TypeAAAA
	default:
		return nil, &net.DNSError{Err: "unknown network " + network, UnwrapErr: net.UnknownNetworkError(network), Name: host}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return literalAddr(a, qtype, host)
	}
	if _, ok := queryName(host); !ok {
		return nil, badNameError(host)
	}
	if qtype != 0 {
		return r.lookupAddrs(ctx, host, qtype)
	}

	type addrs struct {
		ips []netip.Addr
		err error
	}
	c := make(chan addrs, 1)
	go func() {
		ips, err := r.lookupAddrs(ctx, host, dns.TypeAAAA)
		c <- addrs{ips, err}
	}()
	v4, err4 := r.lookupAddrs(ctx, host, dns.TypeA)
	v6 := <-c
	if len(v4)+len(v6.ips) > 0 {
		return append(v4, v6.ips...), nil
	}
	if isNotFound(err4) && !isNotFound(v6.err) {
		return nil, v6.err
	}
	return nil, err4
}

// lookupAddrs resolves host's A or AAAA records into addresses.
func (r *Stub) lookupAddrs(ctx context.Context, host string, qtype uint16) ([]netip.Addr, error) {
	res, err := r.lookup(ctx, host, qtype, false)
	if err != nil {
		return nil, err
	}
	ips, err := addrRecords(res.rrs)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), UnwrapErr: err, Name: host}
	}
	return ips, nil
}

// literalAddr is LookupNetIP for an IP address literal: a as it is (IPv4
// unmapped) if it is of the family of qtype (0 for either), or NODATA.
func literalAddr(a netip.Addr, qtype uint16, host string) ([]netip.Addr, error) {
	a = a.Unmap()
	if qtype == dns.TypeA && !a.Is4() || qtype == dns.TypeAAAA && a.Is4() {
		return nil, &net.DNSError{Err: errTextNoAddress, UnwrapErr: ErrNODATA, Name: host, IsNotFound: true}
	}
	return []netip.Addr{a}, nil
}

// isNotFound reports whether err is a *net.DNSError with IsNotFound set.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// badNameError is the error for a name that is not a domain name.
func badNameError(name string) *net.DNSError {
	return &net.DNSError{Err: errTextBadName, UnwrapErr: domain.ErrInvalid, Name: name, IsNotFound: true}
}

// lookup resolves (name, qtype), following CNAMEs across queries, and
// returns the records of qtype at the end of the chain with the time the
// outcome may be cached and whether every response was authenticated (see
// result). On NXDOMAIN and NODATA the result's TTL and AD bit are set too,
// for the caller to cache the absence. This is the one path of every
// Lookup method; dnssec sets the DO bit in the queries (see newQuery).
func (r *Stub) lookup(ctx context.Context, name string, qtype uint16, dnssec bool) (result, error) {
	qname, ok := queryName(name)
	if !ok {
		return result{}, badNameError(name)
	}
	res := newResult()
	res.target = qname
	chain := []string{qname}
	// Each round either returns or adds at least one name to chain,
	// which readAnswer keeps to maxCNAMEs+1 names.
	for {
		rd, err := r.ask(ctx, qname, qtype, chain, dnssec)
		res.fold(rd, err)
		if err != nil {
			err.Name = name
			return res, err
		}
		if rd.next == "" {
			return res, nil
		}
		qname, chain = rd.next, rd.chain
	}
}
