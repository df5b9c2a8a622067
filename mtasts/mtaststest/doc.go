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
// and 3.3), and MX hosts that offer STARTTLS (RFC 3207). It does not
// implement DNSSEC or DANE, HTTP/2 on the policy hosts, IPv6 listeners,
// TLS-RPT report reception, or SMTP beyond receiving a message.
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
// mtasts.Client.Lookup, and the DNS switches on the wire as well;
// ExampleServer runs in CI. The resolver's own tests use this harness too. Counters (Server.Queries, Server.Fetches and
// their totals) make "exactly one fetch" style assertions possible.
//
// This package is not yet stable: like the rest of strictmx before v1, its
// API may change.
package mtaststest
