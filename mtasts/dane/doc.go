// Package dane verifies SMTP servers by DANE, as a sending MTA does under
// [RFC 7672] (with [RFC 7671] and [RFC 6698]): finding each MX host's TLSA
// records through a validating resolver, which records are usable, digest
// agility, DANE-EE and DANE-TA matching with path validation from the
// trust anchor, and the name check DANE-TA needs.
//
// Where the RFCs leave a choice, the docs below say which one strictmx
// takes, marked "Spec note".
//
// A [Finder] does the DNS side, on mtasts/resolver's LookupSecure: each MX
// host's addresses, signed-zone check, CNAME expansion and TLSA RRset
// ([Finder.Host]), cached up to the answers' TTLs (the MX RRset and its
// state come from mtasts.ResolveMXSecure). Package mtasts takes a Finder's [Host]
// into its delivery plan (mtasts.Plan.FindDANE), where DANE meets MTA-STS;
// use this package alone for a sender without MTA-STS.
//
// Everything else is the pure layer, which does no I/O. An RRset is made
// from the records of a secure TLSA answer (NewRRset), once per answer, and
// checked against each connection in tls.Config.VerifyConnection:
//
//	set := dane.NewRRset(answer.TLSA) // a secure, non-empty TLSA answer
//	if set.Usable() == 0 {
//		// Require STARTTLS and TLS, accept any certificate, report
//		// tlsa-invalid (dane.ErrNoUsable).
//	}
//	cfg := &tls.Config{
//		ServerName:         baseDomain, // SNI: the TLSA base domain
//		MinVersion:         tls.VersionTLS12,
//		InsecureSkipVerify: true, // no PKIX: DANE decides, below
//		VerifyConnection: func(cs tls.ConnectionState) error {
//			return set.VerifyConnection(cs, ids, time.Now())
//		},
//	}
//
// Errors are *Error values carrying the TLS-RPT result type and reason
// code they are reported under, and wrapping one of the sentinels
// (ErrNoMatch, ErrNameMismatch, ...), for errors.Is and errors.As.
//
// It validates no DNSSEC itself: it believes the AD bit of a trusted
// validating resolver, and with no trusted resolver (resolver.Stub.Trusted
// false) every answer is insecure and DANE never applies. Run a validating
// resolver on loopback (unbound, with its default trust anchor, listening
// on 127.0.0.1:53): the AD bit of a remote resolver crosses a network any
// on-path attacker can rewrite, so it proves nothing unless the path is
// secured, which is why only loopback servers are trusted by default. It
// ignores PKIX-TA(0) and PKIX-EE(1) records, as RFC 7672, Section 3.1.3
// allows: such records are unusable. It never consults the system's root
// certificates, checks no revocation, and does not do raw public keys
// (RFC 7250) or SRV DANE (RFC 7673).
//
// # Security
//
// An RRset must come from a secure (DNSSEC-validated) answer: DANE
// guarantees nothing otherwise. With DANE-EE(3) records the leaf's
// certificate or key is the only thing checked, as RFC 7672, Section 3.1.1
// has it: an expired leaf for another name passes. With DANE-TA(2) the
// chain from the anchor down must validate, and the leaf must name one of
// the reference identifiers the caller passes (RFC 7672, Section 3.2.2).
// Hostile input is bounded: an RRset keeps at most MaxRecords records and
// MaxData bytes of data, and a verification makes at most 100 signature
// checks and looks at no more than 32 certificates after the leaf.
//
// # Testing
//
// The tests use real certificates (internal/testpki and chains built in
// the tests) and real TLS handshakes over loopback, resumed sessions
// included; fuzz tests check that NewRRset never panics and that Verify
// never accepts a chain no record matches. BenchmarkHandshakeDANE measures
// full TLS 1.3 handshakes under DANE-EE and DANE-TA against a PKIX one.
//
// Like the rest of strictmx before v1, the API may change.
//
// [RFC 7672]: https://www.rfc-editor.org/rfc/rfc7672
// [RFC 7671]: https://www.rfc-editor.org/rfc/rfc7671
// [RFC 6698]: https://www.rfc-editor.org/rfc/rfc6698
package dane
