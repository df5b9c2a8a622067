// Package mtaststest starts a small MTA-STS world on loopback for tests, in
// the manner of net/http/httptest: a recursive DNS server, the HTTPS policy
// hosts of any number of domains with certificates from a test CA, and
// SMTP MX hosts. Tests of code that uses package mtasts (and strictmx's
// own tests) set up domains, break them in chosen ways, and count what the
// code under test asked for.
//
// It implements the server side of RFC 8461 as a test fixture: the
// `_mta-sts` TXT record (RFC 8461, Section 3.1), the policy file at
// https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461, Sections 3.2
// and 3.3), and MX hosts that offer STARTTLS (RFC 3207). For SMTP DANE
// ([RFC 7672]) its DNS server plays a validating recursive resolver, with
// zones marked signed or unsigned and names marked bogus, and serves TLSA
// records ([RFC 6698]) made from the MX hosts' own certificates. It does
// not sign or validate anything (no DNSKEY, RRSIG, NSEC or DS records: the
// header bits are what a client of a validating resolver reads), nor
// implement HTTP/2 on the policy hosts, IPv6 listeners, TLS-RPT report
// reception, or SMTP beyond receiving a message.
//
// # Usage
//
//	func TestDelivery(t *testing.T) {
//		s := mtaststest.NewServer(t) // closed by t.Cleanup
//		s.Domain("example.test").
//			Record("20240101").
//			Policy(mtasts.ModeEnforce, 86400, "mx1.example.test").
//			MX(10, "mx1.example.test")
//
//		c := s.Client() // an *mtasts.Client wired to the harness
//		res, err := c.Lookup(t.Context(), "example.test")
//		...
//		s.Domain("example.test").Certificate(mtaststest.CertExpired) // break it
//		...
//		if n := s.Domain("example.test").Fetches(); n != 1 { ... }
//	}
//
// The DNS server answers like a recursive resolver from the records set with
// Server.TXT, MX, A, CNAME and RR (or the Domain shortcuts): CNAME chains
// are followed in the answer, a name with no records but names below it
// answers NODATA, an unknown name NXDOMAIN, both with an SOA record
// (Server.NegativeTTL, or NegativeSOA for a TTL and a MINIMUM apart), and
// UDP answers larger than the client's EDNS0 buffer are truncated so that
// the client retries over TCP. DNSFault makes a name answer SERVFAIL or
// REFUSED, never answer, or always truncate over UDP; DNSRcode makes it
// answer any other response code. Server-wide switches make the server
// misbehave as real ones do: CNAMEMode answers one CNAME link per query
// (as an authoritative server does), or passes a CNAME loop on as it is;
// StrayReplies sends replies with a wrong ID ahead of every UDP answer.
// OnQuery calls a function as each query arrives, for acting while it is
// in flight; Queries, TotalQueries and TCPQueries count them:
//
//	s.DNSRcode("notimp.example.test", dns.RcodeNotImplemented).
//		CNAMEMode(mtaststest.CNAMEOneLink).
//		StrayReplies(3).
//		NegativeSOA(time.Hour, 2*time.Minute)
//
// One HTTPS listener is the policy host of every domain: the TLS server
// name (SNI) "mta-sts.<domain>" chooses the domain, its certificate and its
// behaviour. Server.DialContext routes "mta-sts.<domain>:443" there, and
// "<mx host>:25" to that MX host; the clients the harness returns use it,
// so no real name resolution or privileged port is involved.
//
// MX hosts (Server.MXHost, or Domain.MXHost) are SMTP servers on
// github.com/emersion/go-smtp, each on its own 127.0.0.1 port, published in
// the harness DNS (MX and A records). An MXConfig chooses the certificate
// presented after STARTTLS (valid, expired, wrong name, self-signed, or
// valid for other names such as a wildcard), whether STARTTLS is offered at
// all, and TLS 1.1-only. Each host records the messages it received (MAIL
// FROM, RCPT TO, data, and whether TLS was used with which SNI) and every
// TLS handshake it saw begin, failed ones included:
//
//	mx := s.MXHost("example.test", "mx1.example.test", 10,
//		mtaststest.MXConfig{Certificate: mtaststest.CertExpired})
//	// ... the code under test delivers, dialling with s.DialContext ...
//	if got := mx.ServerNames(); ... // the SNI each handshake carried
//	if n := mx.MessageCount(); n != 0 { t.Error("delivered despite an expired certificate") }
//
// # DNSSEC and DANE
//
// Server.Signed marks a zone signed: answers for names in it (records,
// NXDOMAIN and NODATA) carry the AD bit when the query set AD or EDNS0's
// DO, and never when it set CD. Server.Unsigned carves an unsigned zone
// out of a signed one; a CNAME chain that touches an unsigned name is
// answered without AD. Nothing marked means nothing signed, as before.
// Server.Bogus makes a name (all types, or some) fail validation: SERVFAIL,
// with an RFC 8914 Extended DNS Error code if set with BogusEDE, but the
// data without AD for a query with CD. Server.ADWithRcode sends a
// contradiction, such as REFUSED with AD, for a client to see through:
//
//	s.Signed("example.test").
//		Unsigned("legacy.example.test").
//		BogusEDE("_25._tcp.mx2.example.test", dns.ExtendedErrorCodeDNSBogus).
//		ADWithRcode("_25._tcp.mx3.example.test", dns.RcodeRefused)
//
// MXHost.PublishTLSA publishes TLSA records at `_<port>._tcp.<host>` made
// from the certificates the host presents: TLSASpec{Usage, Selector,
// MatchingType} for any of usages 0 to 3, selectors 0 (certificate) and 1
// (public key), matching types 0 (full), 1 (SHA-256) and 2 (SHA-512), with
// Mismatch for a wrong digest. MXHost.TLSAData gives the data alone, and
// Server.TLSA publishes any record as it is (unusable ones: 3 2 1, data of
// the wrong length, empty data). Records for usages 1 and 3 name the leaf;
// records for 0 and 2 name the anchor, MXHost.Anchor. For DANE-TA, the
// MXConfig chooses the chain: Issuer (the harness CA, an intermediate under
// it, or an intermediate under a private root that no harness pool holds),
// Anchor (the leaf's issuer or the root), OmitAnchor (leave the anchor out,
// for 2 0 0 and 2 1 0 records) and IssuerExpired; and the leaf: CertExpired,
// CertWrongName, CertNames, CommonName and CertNoSAN (a subject common name
// and no subject alternative names):
//
//	s.Signed("example.test")
//	mx := s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{
//		Issuer: mtaststest.IssuerPrivate, Anchor: mtaststest.AnchorRoot,
//	})
//	mx.PublishTLSA(25, mtaststest.DANETASPKISHA256) // 2 1 1 naming the private root
//	// ... deliver; then break it:
//	mx.PublishTLSA(25, mtaststest.TLSASpec{Usage: 2, Selector: 1, MatchingType: 1, Mismatch: true})
//	s.Bogus(mx.TLSAName(25)) // the TLSA lookup fails validation
//
// TLSA queries are counted like any other (Server.Queries with "TLSA"), so
// a test can check that a second delivery sends no DNS query at all.
//
// The harness's resolvers (Server.Resolver) ask a server on 127.0.0.1,
// which a resolver.Stub trusts for the AD bit. That trust is the point of
// this fixture, and the reason a production sender must run its own
// validating resolver on loopback: the AD bit of a remote resolver crosses
// a network that anyone on the path can rewrite.
//
// # Security
//
// Everything listens on 127.0.0.1 only. The CA is made fresh for each
// Server and lives in memory; never trust it outside the test. The clients
// returned by Server.Client have mtasts.Client.AllowPrivate set, which a
// production client must not.
//
// # Testing
//
// The package's tests exercise every switch against the real
// resolver.Stub, a plain net/http client, net/smtp and
// mtasts.Client.Lookup, and the DNS switches on the wire as well: the AD,
// CD and rcode bits and EDE options of raw miekg/dns answers, and TLSA data
// against digests computed from the chain a real STARTTLS handshake shows;
// ExampleServer and ExampleMXHost_PublishTLSA run in CI. The resolver's own tests use this harness too. Counters (Server.Queries, Server.Fetches and
// their totals) make "exactly one fetch" style assertions possible.
//
// This package is not yet stable: like the rest of strictmx before v1, its
// API may change.
//
// [RFC 6698]: https://www.rfc-editor.org/rfc/rfc6698
// [RFC 7672]: https://www.rfc-editor.org/rfc/rfc7672
package mtaststest
