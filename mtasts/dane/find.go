package dane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/strictmx/strictmx/internal/domain"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// This file finds the TLSA records of an MX host (RFC 7672, Sections
// 2.2.1 to 2.2.3): the DNS side of DANE, on the DNSSEC-aware lookups of
// package mtasts/resolver. Everything else in the package is pure.

// DefaultPort is the port whose TLSA records a Finder with no Port looks
// up: SMTP's, 25.
const DefaultPort = 25

// DefaultHostCacheSize is how many hosts a Finder whose CacheSize is zero
// keeps.
const DefaultHostCacheSize = 4096

// Discovery errors that are no DANE failure.
var (
	// ErrNoAddress means the host has no address: its A and AAAA lookups
	// both failed or were both denied. Skip the host as any unresolvable
	// host, temporarily if a lookup failed; it is not a DANE verdict and
	// is not reported under a tlsa policy.
	ErrNoAddress = errors.New("dane: host has no address")
)

// A Finder finds the DANE state of MX hosts: their addresses, whether
// their zone is signed, and their TLSA records, by the rules of RFC 7672,
// Sections 2.2.1 to 2.2.3 and RFC 7671, Section 7, and caches what it
// found. The zero value is ready to use; a Finder is safe for concurrent
// use. Do not change its fields after first use.
type Finder struct {
	// Resolver makes the DNSSEC-aware lookups. nil means a Stub with the
	// servers of /etc/resolv.conf, made on first use. Its answers are
	// secure only when it trusts its servers (resolver.Stub.Trusted):
	// otherwise DANE never applies.
	Resolver *resolver.Stub

	// Port is the port whose TLSA records are looked up
	// (`_<port>._tcp.<base>`). Zero means DefaultPort; a relay on
	// another port needs a Finder of its own.
	Port int

	// Now is the clock of the host cache. nil means the Resolver's Now,
	// or time.Now; it should agree with the Resolver's, which dates the
	// answers.
	Now func() time.Time

	// CacheSize is how many hosts are kept, least recently used first
	// out. Zero means DefaultHostCacheSize; a negative size caches
	// nothing (the Resolver still caches its answers).
	CacheSize int

	// Logger receives a Debug line per host looked up. nil means
	// discard.
	Logger *slog.Logger

	once   sync.Once
	res    *resolver.Stub
	cache  *lru.Cache[string, *Host] // nil: no cache
	logger *slog.Logger
}

// Host is the DANE state of one MX host, as Finder.Host found it. It is
// shared (cached hosts are returned to every caller) and must not be
// modified.
//
// Exactly one of three holds: Err is set (the host must be skipped), RRset
// is set (DANE applies), or neither (DANE does not apply: MTA-STS or
// opportunistic TLS judge the host as without DANE).
type Host struct {
	// Name is the host as the MX RRset named it: a lower-case A-label
	// without a trailing dot (or an IP address literal, which DANE never
	// applies to).
	Name string
	// Target is the CNAME expansion of Name, where its address records
	// are; Name when it is no alias.
	Target string
	// Base is the TLSA base domain: the name whose TLSA records (at
	// `_<port>._tcp.<Base>`) make up RRset, Target or Name. "" when no
	// RRset applies.
	Base string
	// Addrs are the host's addresses, IPv4 first, each family in answer
	// order.
	Addrs []netip.Addr

	// AddrSecurity is Secure when the A or the AAAA answer was secure.
	AddrSecurity resolver.Security
	// CNAMESecurity is the state of the CNAME record at Name, when its
	// own query was needed (an alias whose address answers were
	// insecure); Insecure otherwise.
	CNAMESecurity resolver.Security
	// Signed reports whether the host passed the signed-zone check (RFC
	// 7672, Section 2.2.3): an address answer secure, or the CNAME at
	// Name secure. Only then are TLSA records looked up.
	Signed bool
	// TLSASecurity is the state of the last TLSA answer, Insecure when
	// none was looked up.
	TLSASecurity resolver.Security

	// RRset is the secure, non-empty TLSA RRset that applies to the host,
	// nil when there is none: DANE does not apply. An RRset with no
	// usable record still requires STARTTLS and TLS.
	RRset *RRset
	// Err is set when the host must be skipped: an *Error wrapping
	// ErrLookup (dnssec-invalid) when a lookup DANE needed failed,
	// treated as an attack (RFC 7672, Section 2.1.1), or an error
	// wrapping ErrNoAddress when the host has no address. Either is
	// temporary.
	Err error
	// Expires is when the state goes stale: the earliest expiry of the
	// answers it came from. A host whose lookups did not all give an
	// answer (records or a denial) is not cached.
	Expires time.Time

	// Steps are the lookups made, in order, for display.
	Steps []Step

	cacheable bool
}

// Step is one lookup Finder.Host made.
type Step struct {
	// Name and Type are what was asked: "A", "AAAA", "CNAME" or "TLSA".
	Name, Type string
	// Security is the state of the answer; Insecure for a failure.
	Security resolver.Security
	// Records is how many records the answer held.
	Records int
	// Err is nil for records, the denial (IsNotFound) for NXDOMAIN and
	// NODATA, and the failure otherwise.
	Err error
}

// Applies reports whether DANE applies to the host: it has a secure,
// non-empty TLSA RRset.
func (h *Host) Applies() bool { return h != nil && h.RRset != nil }

// IDs returns the reference identifiers a DANE-TA(2) certificate must
// name one of (RFC 7672, Section 3.2.2; RFC 7671, Section 7), for the
// delivery of mail for nexthop (the recipient domain, or the relay of a
// non-MX destination) whose MX RRset had the state mx: the TLSA base
// domain; Name, when the base domain is its CNAME expansion; and nexthop
// only when the MX RRset was secure. For a non-MX destination (Name is
// nexthop) that makes the base domain and, if CNAME-expanded, the
// original name. nil when DANE does not apply. The slice is new on each
// call.
//
// Spec note: the CNAME expansion of nexthop, which the contract also
// lists for a secure MX RRset, is not known to a Host; a caller that has
// it may append it.
func (h *Host) IDs(nexthop string, mx resolver.Security) []string {
	if !h.Applies() || h.Base == "" {
		return nil
	}
	ids := make([]string, 1, 3)
	ids[0] = h.Base
	if h.Base == h.Target && h.Target != h.Name {
		ids = append(ids, h.Name)
	}
	if mx == resolver.Secure && nexthop != "" {
		if n, err := domain.Normalize(nexthop); err == nil && n != h.Base && n != h.Name {
			ids = append(ids, n)
		}
	}
	return ids
}

// Host returns the DANE state of the MX host host (trailing dot optional),
// by RFC 7672, Sections 2.2.1 to 2.2.3:
//
//   - its A and AAAA records first; with neither (both failed or
//     denied) the host is unresolvable (Err wraps ErrNoAddress);
//   - the signed-zone check: an address answer secure, or for an alias
//     whose address answers were insecure, the CNAME record at host
//     secure (a query of its own); else no TLSA query is sent and DANE
//     does not apply;
//   - the TLSA records at `_<port>._tcp.<base>`: with a CNAME chain
//     secure to its end, at the chain's end and then, on NXDOMAIN,
//     NODATA or an insecure answer there, at host; with only the first
//     link secure, at host only; a TLSA owner that is itself an alias is
//     followed, and its chain must be secure too;
//   - a secure non-empty TLSA answer makes the RRset, and the name asked
//     less `_<port>._tcp.` the base domain; a denial or an insecure
//     answer is no TLSA RRset; a failed TLSA lookup (and a failed CNAME
//     check) sets Err, an *Error wrapping ErrLookup, dnssec-invalid, with
//     resolver.FailureReason as its Reason: skip the host.
//
// An IP address literal ("192.0.2.1", "[2001:db8::1]") gets no lookup and
// no DANE. The result is cached until the earliest expiry of the answers
// used, unless one of its lookups failed; a cached host is returned
// without allocating.
func (f *Finder) Host(ctx context.Context, host string) *Host {
	f.init()
	return f.HostAt(ctx, host, f.now())
}

// HostAt is Host with the cache judged at now, a reading of Time, for a
// caller that looks up several hosts at one moment (mtasts.Plan.FindDANE
// reads the clock once per plan).
func (f *Finder) HostAt(ctx context.Context, host string, now time.Time) *Host {
	f.init()
	name, nerr := domain.Normalize(host)
	if f.cache != nil && nerr == nil {
		if h, ok := f.cache.Get(name); ok && now.Before(h.Expires) {
			return h
		}
	}
	if a, ok := addrLiteral(host); ok {
		n := strings.TrimSuffix(host, ".")
		return &Host{Name: n, Target: n, Addrs: []netip.Addr{a}}
	}
	if nerr != nil {
		n := strings.TrimSuffix(host, ".")
		return &Host{Name: n, Target: n, Err: fmt.Errorf("%w: %w", ErrNoAddress, nerr)}
	}
	h := f.find(ctx, name)
	f.logger.Debug("dane: host", slog.String("mx", name), slog.Bool("signed", h.Signed),
		slog.Bool("dane", h.Applies()), slog.String("base", h.Base), slog.Any("err", h.Err))
	if f.cache != nil && h.cacheable && f.now().Before(h.Expires) {
		f.cache.Add(name, h)
	}
	return h
}

// find does Host's lookups for name, a normalised host name.
func (f *Finder) find(ctx context.Context, name string) *Host {
	h := &Host{Name: name, Target: name, cacheable: true}
	r := f.res

	// A and AAAA at once.
	type outcome struct {
		ans *resolver.Answer
		err error
	}
	c := make(chan outcome, 1)
	go func() {
		ans, err := r.LookupSecure(ctx, name, resolver.TypeAAAA)
		c <- outcome{ans, err}
	}()
	a4, err4 := r.LookupSecure(ctx, name, resolver.TypeA)
	o6 := <-c
	a6, err6 := o6.ans, o6.err
	h.record(name, "A", a4, err4)
	h.record(name, "AAAA", a6, err6)
	if a4 != nil {
		h.Addrs = append(h.Addrs, a4.Addrs...)
	}
	if a6 != nil {
		h.Addrs = append(h.Addrs, a6.Addrs...)
	}
	if len(h.Addrs) == 0 {
		err := err4
		if a4 != nil && a6 == nil {
			err = err6 // a failure says more than a denial
		}
		h.Err = fmt.Errorf("%w: %s", ErrNoAddress, name)
		if err != nil {
			h.Err = fmt.Errorf("%w: %s: %w", ErrNoAddress, name, err)
		}
		h.cacheable = false
		return h
	}

	// The signed-zone check: a broken answer of one family must not cost
	// the other its DANE.
	var secure *resolver.Answer
	for _, a := range []*resolver.Answer{a4, a6} {
		if a != nil && a.Security == resolver.Secure {
			secure = a
			break
		}
	}
	switch {
	case secure != nil:
		h.Target = secure.Target
	case a4 != nil:
		h.Target = a4.Target
	default:
		h.Target = a6.Target
	}
	var bases []string
	switch {
	case secure != nil && h.Target == name:
		h.AddrSecurity = resolver.Secure
		bases = []string{name}
	case secure != nil:
		// The chain is secure to its end: the end first, then the name.
		h.AddrSecurity = resolver.Secure
		bases = []string{h.Target, name}
	case h.Target != name:
		// Only the first link may be secure: its state needs a CNAME
		// query of its own (the AD bit covers the whole chain).
		cn, err := r.LookupSecure(ctx, name, resolver.TypeCNAME)
		h.record(name, "CNAME", cn, err)
		if cn == nil {
			// Spec note: the check that decides whether DANE is
			// needed failed; as for a failed TLSA lookup the host is
			// skipped rather than let go without DANE.
			return h.failed(err)
		}
		if err == nil && cn.Security == resolver.Secure {
			h.CNAMESecurity = resolver.Secure
			bases = []string{name}
		}
	}
	if len(bases) == 0 {
		return h // an unsigned zone: no TLSA query
	}
	h.Signed = true

	port := strconv.Itoa(f.port())
	for _, base := range bases {
		ans, err := r.LookupSecure(ctx, "_"+port+"._tcp."+base, resolver.TypeTLSA)
		h.record("_"+port+"._tcp."+base, "TLSA", ans, err)
		if ans == nil {
			// A failure at the end of a secure chain skips the host
			// without trying the original name.
			return h.failed(err)
		}
		h.TLSASecurity = ans.Security
		if err == nil && ans.Security == resolver.Secure && len(ans.TLSA) > 0 {
			h.Base = base
			h.RRset = NewRRset(ans.TLSA)
			break
		}
	}
	return h
}

// record adds a lookup's outcome to h's steps and expiry. A failure makes
// h uncacheable.
func (h *Host) record(name, qtype string, ans *resolver.Answer, err error) {
	st := Step{Name: name, Type: qtype, Err: err}
	if ans == nil {
		h.cacheable = false
	} else {
		st.Security = ans.Security
		st.Records = len(ans.MX) + len(ans.Addrs) + len(ans.TLSA)
		if ans.CNAME != "" {
			st.Records++
		}
		if h.Expires.IsZero() || ans.Expires.Before(h.Expires) {
			h.Expires = ans.Expires
		}
	}
	h.Steps = append(h.Steps, st)
}

// failed sets h's Err for the failed lookup err, which DANE needed: the
// host is skipped and reported dnssec-invalid.
func (h *Host) failed(err error) *Host {
	e := NewError(h.Name, ErrLookup, err)
	e.Reason = resolver.FailureReason(err)
	h.Err, h.Base, h.RRset, h.cacheable = e, "", nil, false
	return h
}

// addrLiteral reports whether host is an IP address literal, bare or in
// brackets (with an optional "IPv6:" tag, as in RFC 5321, Section 4.1.3),
// and returns the address.
func addrLiteral(host string) (netip.Addr, bool) {
	s := host
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
		if len(s) > 5 && strings.EqualFold(s[:5], "ipv6:") {
			s = s[5:]
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// init makes the Finder's defaults, once.
func (f *Finder) init() {
	f.once.Do(func() {
		f.res = f.Resolver
		if f.res == nil {
			f.res = &resolver.Stub{}
		}
		f.logger = f.Logger
		if f.logger == nil {
			f.logger = slog.New(slog.DiscardHandler)
		}
		size := f.CacheSize
		if size == 0 {
			size = DefaultHostCacheSize
		}
		if size > 0 {
			f.cache, _ = lru.New[string, *Host](size) // fails only for size <= 0
		}
	})
}

// Time returns the Finder's time: Now, else the Resolver's Now, else
// time.Now.
func (f *Finder) Time() time.Time {
	f.init()
	return f.now()
}

func (f *Finder) now() time.Time {
	switch {
	case f.Now != nil:
		return f.Now()
	case f.res.Now != nil:
		return f.res.Now()
	}
	return time.Now()
}

func (f *Finder) port() int {
	if f.Port > 0 {
		return f.Port
	}
	return DefaultPort
}
