// Package resolver is the DNS stub resolver of strictmx: [Stub], on
// github.com/miekg/dns, sends recursive queries ([RFC 1035], Section 4.1.1,
// with the RD bit) to the servers it is given or to those of
// /etc/resolv.conf, and returns TXT records (LookupTXT, LookupTXTWithTTL),
// MX records (LookupMX) and addresses (LookupNetIP, A and [RFC 3596]
// AAAA). Packages mtasts and tlsrpt use it by default for their `_mta-sts`
// and `_smtp._tls` records ([RFC 8461], [RFC 8460]), and so do the programs
// in examples/. For DANE ([RFC 7672]) it also makes DNSSEC-aware lookups
// (LookupSecure) of MX, A, AAAA, CNAME and TLSA records, which package
// mtasts/dane builds on.
//
// Its Lookup methods have the signatures and the error conventions of
// *net.Resolver, so that either can stand for the other behind a one- or
// two-method interface; what Stub adds is control and bounds:
//
//   - the servers and the per-exchange timeout are fields, not process
//     state;
//   - EDNS0 ([RFC 6891]) with a 1232-byte buffer, TCP when an answer is
//     truncated, the next server when one fails;
//   - CNAME chains followed within an answer and across queries, up to 8
//     links, loops refused ([RFC 1034], Section 3.6.2);
//   - errors.Is tells a name that does not exist (ErrNXDOMAIN) from one
//     without records of the type (ErrNODATA), both with IsNotFound set
//     ([RFC 2308], Section 2);
//   - LookupTXTWithTTL says how long the outcome may be cached, the
//     negative-caching time of [RFC 2308], Section 5 for an absence;
//   - records, TXT bytes and CNAME links per lookup are bounded.
//
// # DNSSEC
//
// LookupSecure returns an [Answer] whose Security is Secure when a trusted
// validating resolver set the AD bit on every response it came from
// ([RFC 4035], Section 3.2.3), CNAME links included, and Insecure
// otherwise; a failure (SERVFAIL, which is how a validating resolver
// reports bogus data, and every other error) is an error, never an answer,
// and FailureReason names it for TLS-RPT ("servfail", "dns-ede-6", ...,
// with the [RFC 8914] Extended DNS Error code of a SERVFAIL when there is
// one). Its queries carry the AD bit and EDNS0's DO bit ([RFC 3225]), never
// CD. The AD bit is believed only when [Stub.Trusted] says so: every server
// on loopback, TrustAD set, or `options trust-ad` in /etc/resolv.conf;
// otherwise every answer is Insecure and a warning is logged once. Answers
// and denials are cached for their TTL, in a bounded LRU cache with an
// injectable clock; failures are not.
//
// # What it does not do
//
// The Lookup methods keep no cache: callers cache what they derive
// (package mtasts caches policies and "no record", with the TTL from
// LookupTXTWithTTL); only LookupSecure caches. A Stub applies no search
// list or ndots: every name is absolute. It does not read /etc/hosts,
// speak DNS over TLS or HTTPS, convert Unicode names (a name must already
// be in A-labels), or look up types other than TXT, MX, A, AAAA and, with
// LookupSecure, CNAME and TLSA. It does not validate DNSSEC itself: it
// believes the AD bit of a trusted validating resolver, as Postfix and Exim
// do.
//
// # Usage
//
//	r := &resolver.Stub{} // the servers of /etc/resolv.conf
//	txts, ttl, err := r.LookupTXTWithTTL(ctx, "_mta-sts.example.com")
//	var de *net.DNSError
//	switch {
//	case errors.Is(err, resolver.ErrNXDOMAIN): // no such name; cache for ttl
//	case errors.As(err, &de) && de.IsNotFound: // no TXT records; cache for ttl
//	case err != nil: // temporary: try again later
//	}
//	addrs, err := r.LookupNetIP(ctx, "ip", "mx1.example.com")
//
// # Security
//
// A Stub trusts the path to its servers: answers are checked for the ID
// and the question of the query, and each query goes out on a connection
// of its own (a fresh UDP source port), but nothing is validated. Use a
// validating recursive resolver on loopback or over a network you trust.
// The AD bit means something only then: a stub "MUST NOT place any
// reliance on signature validation allegedly performed on its behalf,
// except when the security-aware stub resolver obtained the data in
// question from a trusted security-aware recursive name server via a
// secure channel" ([RFC 4035], Section 4.9.3). That is why a Stub trusts
// only loopback servers unless told otherwise: the AD bit of a remote
// resolver can be forged by anyone on the path. Run a validating resolver
// such as unbound or Knot Resolver on 127.0.0.1 and point the Stub, or
// /etc/resolv.conf, at it.
//
// Whatever a server sends, a lookup returns a value or a *net.DNSError and
// never panics, in bounded time and memory: one exchange lasts at most
// Stub.Timeout, one response may hold at most 1000 answer records, a
// lookup returns at most 64 KiB of TXT data and follows at most 8 CNAME
// links, and at most 16 UDP replies are read per exchange. Names are
// checked before any query: labels of letters, digits, hyphens and
// underscores, at most 63 bytes each and 253 in all.
//
// # Testing
//
// Tests of this package, and of code that uses it, run against the DNS
// server of package mtasts/mtaststest on loopback, which has switches for
// every behaviour a Stub handles: response codes, timeouts, truncation,
// stray replies, CNAME chains in one answer or one link per answer, and
// SOA records with a chosen MINIMUM, signed and unsigned zones and bogus
// data. The answer reading is pure and has native fuzz tests
// (FuzzTXTAnswer, FuzzAddrAnswer, FuzzSecureAnswer) fed with packed DNS
// messages.
//
// # Stability
//
// strictmx is before v1: the API may still change between minor versions;
// changes are listed in the release notes and retired API is marked
// Deprecated before it goes.
//
// [RFC 1034]: https://www.rfc-editor.org/rfc/rfc1034
// [RFC 1035]: https://www.rfc-editor.org/rfc/rfc1035
// [RFC 2308]: https://www.rfc-editor.org/rfc/rfc2308
// [RFC 3225]: https://www.rfc-editor.org/rfc/rfc3225
// [RFC 3596]: https://www.rfc-editor.org/rfc/rfc3596
// [RFC 4035]: https://www.rfc-editor.org/rfc/rfc4035
// [RFC 6891]: https://www.rfc-editor.org/rfc/rfc6891
// [RFC 7672]: https://www.rfc-editor.org/rfc/rfc7672
// [RFC 8460]: https://www.rfc-editor.org/rfc/rfc8460
// [RFC 8914]: https://www.rfc-editor.org/rfc/rfc8914
// [RFC 8461]: https://www.rfc-editor.org/rfc/rfc8461
package resolver
