package resolver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
)

// This file is the DNSSEC-aware side of a Stub: LookupSecure, which tells
// a secure answer from an insecure one by the AD bit of a trusted
// validating resolver, and caches what it learns.

// Security is the DNSSEC state of an answer that LookupSecure returned.
// The third state, failed (bogus or indeterminate data, and every other
// failure), is not a Security: it is LookupSecure's error.
type Security uint8

const (
	// Insecure means the answer was not authenticated: an unsigned zone,
	// an opt-out span, a CNAME into an unsigned zone, or a resolver that
	// is not trusted (see Stub.Trusted).
	Insecure Security = iota
	// Secure means a trusted validating resolver set the AD bit on every
	// response the answer came from (RFC 4035, Section 3.2.3), its CNAME
	// links included.
	Secure
)

// String returns "secure" or "insecure".
func (s Security) String() string {
	if s == Secure {
		return "secure"
	}
	return "insecure"
}

// The query types LookupSecure takes, for callers that do not import
// github.com/miekg/dns, whose values these are.
const (
	TypeA     = dns.TypeA
	TypeCNAME = dns.TypeCNAME
	TypeMX    = dns.TypeMX
	TypeAAAA  = dns.TypeAAAA
	TypeTLSA  = dns.TypeTLSA
)

// DefaultCacheSize is how many LookupSecure outcomes a Stub whose
// CacheSize is zero keeps.
const DefaultCacheSize = 4096

// MaxCacheTTL bounds how long LookupSecure keeps an outcome, whatever TTL
// the server gave: a day, so that a record published with a TTL of years
// is still asked for again.
const MaxCacheTTL = 24 * time.Hour

// Answer is what LookupSecure found for (Name, qtype): records, or none
// for NXDOMAIN and NODATA, with their DNSSEC state. An Answer is shared
// (cached answers are returned to every caller) and must not be modified.
type Answer struct {
	// Name is the name asked for, lower case, without a trailing dot.
	Name string
	// Target is where the CNAME chain from Name ended, lower case,
	// without a trailing dot: the owner of the records, or the name
	// denied. It is Name when there was no CNAME (and for qtype CNAME).
	Target string
	// Security is Secure only when every response used had the AD bit
	// and the Stub's servers are trusted.
	Security Security
	// TTL is the least TTL of the records used, CNAMEs included, or for
	// a denial the negative-caching time (RFC 2308, Section 5; zero when
	// the server sent no SOA record).
	TTL time.Duration
	// Expires is when the answer leaves the cache: the lookup's time
	// plus TTL, at most MaxCacheTTL.
	Expires time.Time

	// The records, by the type asked for; all empty for a denial.

	// MX holds the MX records (qtype MX) as LookupMX returns them:
	// sorted by preference, hosts with a trailing dot, a null MX as it
	// is.
	MX []*net.MX
	// Addrs holds the addresses of A or AAAA records (qtype A, AAAA),
	// in answer order, IPv4 in its 4-byte form.
	Addrs []netip.Addr
	// TLSA holds the TLSA records (qtype TLSA), in answer order.
	TLSA []TLSA
	// CNAME is the target of the CNAME record at Name (qtype CNAME),
	// lower case, without a trailing dot; "" for a denial.
	CNAME string
}

// cacheKey names one LookupSecure outcome: the name as in Answer.Name,
// and the query type.
type cacheKey struct {
	name  string
	qtype uint16
}

// cacheEntry is a cached outcome: an answer, with the *net.DNSError of
// its denial if it is one.
type cacheEntry struct {
	ans *Answer
	err error
}

// Trusted reports whether LookupSecure believes the AD bit of the Stub's
// servers: when every server is an IP address on loopback (127.0.0.0/8,
// ::1), when TrustAD is set, or when the servers come from
// /etc/resolv.conf and it says `options trust-ad`. A stub "MUST NOT place
// any reliance on signature validation allegedly performed on its behalf,
// except when the security-aware stub resolver obtained the data in
// question from a trusted security-aware recursive name server via a
// secure channel" (RFC 4035, Section 4.9.3).
//
// Spec note: loopback stands for the secure channel, as with Postfix and
// glibc; it is for the operator to run a validating resolver there.
func (r *Stub) Trusted() bool {
	r.serverList()
	return r.trusted
}

// LookupSecure resolves (name, qtype) as a DNSSEC-aware stub: the queries
// carry RD, AD and EDNS0's DO bit, never CD, and the answer's Security
// says whether a trusted validating resolver authenticated it. qtype is
// one of TypeMX, TypeA, TypeAAAA, TypeCNAME and TypeTLSA; a CNAME query
// is answered by the CNAME record at name alone, which gives that one
// link's state. A trailing dot on name is optional.
//
// The outcome is one of three:
//
//   - records: (*Answer, nil);
//   - NXDOMAIN or NODATA: an *Answer without records, whose Security
//     tells a secure denial from an insecure one, and a *net.DNSError with
//     IsNotFound set (errors.Is finds ErrNXDOMAIN or ErrNODATA);
//   - failed: (nil, *net.DNSError), for SERVFAIL from every server (how
//     a validating resolver reports bogus and indeterminate data), any
//     other rcode, a timeout, a malformed answer or one still truncated
//     over TCP, a CNAME loop or a chain over 8 links, an authenticated
//     NXDOMAIN holding the records it denies (ErrInconsistent), or
//     records of the type none of which is usable. FailureReason names
//     the failure for a TLS-RPT report.
//
// A name that is not a valid domain name fails at once, before any query,
// as with the other lookups: nil, and an error with IsNotFound set that
// errors.Is finds domain.ErrInvalid. A qtype not listed above fails with
// errors.ErrUnsupported.
//
// Records and denials are cached for their TTL (at most MaxCacheTTL) by
// the Stub's Now, failures never; a cached outcome is returned without
// allocating, and the *Answer and the error are shared: do not modify
// them. When the servers are not trusted, every answer is Insecure and
// the first call logs a warning.
func (r *Stub) LookupSecure(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	switch qtype {
	case dns.TypeMX, dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeTLSA:
	default:
		return nil, &net.DNSError{Err: "query type " + dns.Type(qtype).String() + " not supported", UnwrapErr: errors.ErrUnsupported, Name: name}
	}
	key := cacheKey{strings.ToLower(strings.TrimSuffix(name, ".")), qtype}
	cache := r.secureCache()
	if cache != nil {
		if e, ok := cache.Get(key); ok && r.now().Before(e.ans.Expires) {
			return e.ans, e.err
		}
	}
	if _, ok := queryName(name); !ok {
		return nil, badNameError(name)
	}
	r.warnUntrusted()

	now := r.now()
	res, err := r.lookup(ctx, name, qtype, true)
	ans, err := secureAnswer(name, key.name, qtype, res, err, r.Trusted(), now)
	if ans != nil && cache != nil && ans.TTL > 0 {
		cache.Add(key, cacheEntry{ans, err})
	}
	return ans, err
}

// secureAnswer makes LookupSecure's outcome of the lookup of (name,
// qtype), whose result and error are res and err, at time now: key is
// name as in Answer.Name, and trusted whether the servers' AD bit is
// believed. It returns a nil *Answer for a failure, and no records with a
// denial.
func secureAnswer(name, key string, qtype uint16, res result, err error, trusted bool, now time.Time) (*Answer, error) {
	var de *net.DNSError
	if err != nil && (!errors.As(err, &de) || !de.IsNotFound) {
		return nil, err
	}
	ans := &Answer{
		Name:   key,
		Target: strings.TrimSuffix(res.target, "."),
		TTL:    time.Duration(res.ttl) * time.Second,
	}
	if ans.Target == "" || qtype == dns.TypeCNAME {
		ans.Target = key
	}
	if res.authenticated && trusted {
		ans.Security = Secure
	}
	if err == nil {
		if rerr := ans.setRecords(qtype, res.rrs); rerr != nil {
			return nil, &net.DNSError{Err: rerr.Error(), UnwrapErr: rerr, Name: name}
		}
	}
	ans.Expires = now.Add(min(ans.TTL, MaxCacheTTL))
	return ans, err
}

// setRecords fills a's records of qtype from rrs, or fails when rrs hold
// none that is usable.
func (a *Answer) setRecords(qtype uint16, rrs []dns.RR) error {
	var err error
	switch qtype {
	case dns.TypeMX:
		a.MX, err = mxRecords(rrs)
	case dns.TypeA, dns.TypeAAAA:
		a.Addrs, err = addrRecords(rrs)
	case dns.TypeTLSA:
		a.TLSA, err = tlsaRecords(rrs)
	case dns.TypeCNAME:
		for _, rr := range rrs {
			if c, ok := rr.(*dns.CNAME); ok {
				a.CNAME = strings.ToLower(strings.TrimSuffix(c.Target, "."))
				break
			}
		}
		if a.CNAME == "" {
			err = errNoUsableCNAME
		}
	}
	return err
}

// secureCache returns the LookupSecure cache, made on first use, or nil
// when CacheSize is negative.
func (r *Stub) secureCache() *lru.Cache[cacheKey, cacheEntry] {
	r.cacheOnce.Do(func() {
		size := r.CacheSize
		if size < 0 {
			return
		}
		if size == 0 {
			size = DefaultCacheSize
		}
		r.cache, _ = lru.New[cacheKey, cacheEntry](size) // fails only for size <= 0
	})
	return r.cache
}

func (r *Stub) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// warnUntrusted logs, once per Stub, that its servers are not trusted and
// so that no answer is Secure.
func (r *Stub) warnUntrusted() {
	r.warnOnce.Do(func() {
		if r.Trusted() || r.Logger == nil {
			return
		}
		r.Logger.Warn("resolver: DNS servers not trusted to validate DNSSEC: every answer is insecure and DANE never applies; use a validating resolver on loopback, or set TrustAD",
			slog.Any("servers", r.servers))
	})
}

// FailureReason returns the TLS-RPT failure reason code (RFC 8460, Section
// 4.3) for a failed lookup, err as a Stub returns it:
//
//   - "dns-ede-<code>" for a SERVFAIL that carried an RFC 8914 Extended
//     DNS Error (see ExtendedError), such as "dns-ede-6" for DNSSEC Bogus;
//   - "servfail" for another SERVFAIL, or another error rcode (NOTIMP,
//     FORMERR and the rest: the resolver gave no answer);
//   - "refused" for REFUSED;
//   - "timeout" when no response came: a timeout, a cancelled context,
//     a network error;
//   - "malformed" for a response that could not be used: not a response,
//     an answer to another question, truncated over TCP, too large, a
//     CNAME loop or overlong chain, contradicting its rcode, or without a
//     usable record.
//
// It returns "" for nil and for an absence (IsNotFound), which is no
// failure.
func FailureReason(err error) string {
	if err == nil {
		return ""
	}
	var ede *ExtendedError
	if errors.As(err, &ede) {
		return "dns-ede-" + strconv.Itoa(int(ede.Code))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	var de *net.DNSError
	if !errors.As(err, &de) {
		return "malformed"
	}
	switch {
	case de.IsNotFound:
		return ""
	case de.IsTimeout:
		return "timeout"
	case de.Err == errTextSERVFAIL, strings.HasPrefix(de.Err, errTextRcode):
		return "servfail"
	case de.Err == errTextREFUSED:
		return "refused"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "timeout"
	}
	return "malformed"
}
