// Command stscheck checks a mail domain's MTA-STS setup (RFC 8461), its
// SMTP DANE records (RFC 7672) and its TLS-RPT record (RFC 8460) the way
// a compliant sending MTA sees them.
//
//	go run ./examples/stscheck [flags] DOMAIN...
//	go run ./examples/stscheck --demo
//
// For each domain it shows every step a sender takes:
//
//  1. the `_mta-sts` TXT record: the raw text, the policy id, or why there
//     is no usable record (RFC 8461, Section 3.1);
//  2. the policy fetch from https://mta-sts.DOMAIN/.well-known/mta-sts.txt:
//     status, Content-Type, size, the policy host's certificate, and the
//     parsed policy with each leniency the parser applied shown as a
//     problem for the publisher (RFC 8461, Sections 3.2 and 3.3);
//  3. the MX hosts in preference order, and the DNSSEC state of the MX
//     RRset: for each host whether it matches the policy, its DANE
//     lookups (A and AAAA, the CNAME at the host when needed, the TLSA
//     records at _PORT._tcp.HOST, PORT being --smtp-port's) with the
//     DNSSEC state of each, its TLSA records with which are usable and why
//     not, which policy governs it (DANE alone, DANE and MTA-STS, MTA-STS
//     alone, or none), whether it
//     offers STARTTLS, which TLS version it negotiates, its certificate's
//     names, issuer and expiry, whether that certificate validates for the
//     host, DANE's verdict on it, and the delivery decision with the
//     TLS-RPT result type of a failure (RFC 8461, Sections 4 and 5);
//  4. the `_smtp._tls` TLS-RPT record and its report destinations;
//  5. a verdict, from the first host in order that would take the mail:
//     deliver (an enforce or testing policy, or DANE, judged it);
//     temporary-failure (no host acceptable under an enforce policy or
//     under DANE, or an MX lookup that failed: a sender queues and
//     retries, never bounces); undeliverable (the domain does not exist,
//     or publishes a null MX, RFC 7505: a sender returns the mail at once);
//     or opportunistic (no policy, mode none, or a policy that could not
//     be fetched, and no DANE: a sender uses TLS if offered and does not
//     verify it);
//  6. the problems: what the domain's owner should fix.
//
// A sender that has no cached policy and cannot fetch one delivers as if
// the domain had no policy, so a broken policy gives the verdict
// opportunistic, with the failure listed as a problem.
//
// # DANE
//
// DANE is judged as package mtasts does for a sender (its DANE notes):
// per MX host, a host whose zone is signed and that has a DNSSEC-secure
// TLSA RRset must offer STARTTLS and present a certificate that a usable
// record names, checked in the same handshake as MTA-STS, through the
// plan's TLS configuration; a failed TLSA lookup (SERVFAIL from the
// validating resolver) skips the host whatever MTA-STS says. With a
// secure MX RRset and usable records DANE alone governs the host, in
// every MTA-STS mode; otherwise both judge and the stricter wins. Hosts
// in unsigned zones are checked as without DANE.
//
// stscheck validates no DNSSEC itself: it believes the AD bit of the
// resolver it asks, and only of one it can trust (resolver.Stub.Trusted):
// every server on loopback (127.0.0.0/8, ::1), --trust-ad, or
// /etc/resolv.conf saying `options trust-ad`. An AD bit from a remote
// resolver crosses the network unprotected, so anyone on the path could
// set it (RFC 4035, Section 4.9.3). With an untrusted resolver no answer
// is secure: the DNSSEC states show as "unknown" and DANE as not judged,
// rather than as an insecure zone, and hosts are judged as without DANE.
// For real checks run a validating resolver on loopback (see
// examples/sender for Unbound) and pass --dns 127.0.0.1:53 if
// /etc/resolv.conf names another.
//
// # Flags
//
//	--json           print one JSON document per domain (see below)
//	--dns HOST:PORT  DNS server to ask (default: /etc/resolv.conf); also used
//	                 to resolve the policy host and the MX hosts
//	--ca FILE        extra trusted roots, PEM, added to the system roots
//	--ca-only        trust only the roots of --ca
//	--smtp-port N    port of the MX hosts (default 25), and of the TLSA
//	                 records looked up for them
//	--timeout D      limit of each network step: one DNS exchange, the policy
//	                 fetch, the probe of one MX host (default 30s)
//	--no-smtp        do not connect to the MX hosts
//	--allow-private  let the policy fetch connect to loopback and private
//	                 addresses (the dial guard is on by default)
//	--trust-ad       believe the DNSSEC AD bit of the DNS servers though
//	                 they are not on loopback (see DANE above)
//	--demo           check domains of a built-in offline world (see below)
//
// Flags may come before or after the domains. Up to 8 domains are checked
// at once, and up to 4 MX hosts of each; results are printed in the order
// of the arguments. The probe of an MX host is EHLO, STARTTLS and QUIT: no
// mail is sent.
//
// The dial guard applies to the policy fetch only, as in package mtasts.
// MX hosts are probed wherever the MX records point, private addresses
// included, as any MTA would connect to them.
//
// # Exit status
//
// 0 when no problem was found for any domain (every verdict deliver,
// opportunistic, or undeliverable for a null MX), and for -h or --help
// (the usage, on stdout); 1 when a problem was found (a broken record or
// policy, a policy warning, a failing or unreachable MX host, no STARTTLS,
// a domain that does not exist, a failed MX lookup, a temporary failure);
// 2 for usage errors. A domain with no MTA-STS record at all, or with a
// null MX, is not a problem by itself; nor is an unsigned zone, or a
// resolver stscheck cannot trust. A failing DANE check or TLSA lookup is
// one.
//
// # JSON output
//
// With --json each domain gives one JSON document (indented; the documents
// follow each other, as a stream that json.Decoder or jq reads):
//
//	domain              the domain checked (A-label, lower case)
//	record.found        whether a usable `_mta-sts` record was found
//	record.id           its id, "" when none
//	record.error        why there is none: "mtasts: no MTA-STS record: ...",
//	                    a syntax error, several records, a DNS failure; ""
//	                    when found
//	policy.found        whether a valid policy was fetched
//	policy.mode         "enforce", "testing" or "none"; "" when none found
//	policy.mx           the mx patterns (a JSON array, maybe empty)
//	policy.max_age      the max_age in seconds (capped as a sender caps it)
//	policy.warnings     each leniency applied while parsing: fix these
//	policy.error        why the fetch or the parse failed, "" when it did not
//	                    (and when no fetch was made for lack of a record)
//	policy.result_type  the TLS-RPT result type of that failure:
//	                    sts-policy-fetch-error, sts-policy-invalid or
//	                    sts-webpki-invalid
//	mx_error            why the MX lookup failed: "mtasts: domain does not
//	                    exist: ..." or "mtasts: temporary DNS failure: ...";
//	                    "" when it did not (a null MX is not a failure)
//	resolver_trusted    whether the resolver's DNSSEC AD bit is believed
//	                    (see DANE above); when false every state below
//	                    that is not "failed" is "unknown"
//	mx_dnssec           the DNSSEC state of the MX answer (records, or the
//	                    NXDOMAIN or NODATA denial): "secure", "insecure",
//	                    "failed" (the lookup failed: a SERVFAIL from a
//	                    validating resolver, a timeout) or "unknown"
//	mx[]                the MX hosts in preference order; the domain itself
//	                    when it has no MX records (implicit MX)
//	  host              the host name, without a trailing dot ("" for a
//	                    null MX)
//	  preference        the MX preference
//	  matches_policy    whether the host matches an mx pattern (true when
//	                    there is no policy)
//	  starttls          whether the host offered STARTTLS (false when it was
//	                    not probed)
//	  tls_version       the TLS version negotiated ("TLS 1.3"), "" if none
//	  cert_valid        whether the certificate presented chains to the
//	                    trusted roots, is in its validity period and names
//	                    the host, whatever the policy
//	  decision          "deliver" or "skip"; "" when not probed (--no-smtp)
//	  result_type       the TLS-RPT result type of the failure, "" for
//	                    none (only set under an enforce or testing policy)
//	  reason            the TLS-RPT failure reason code with result_type; or,
//	                    when the host could not be probed (connection or
//	                    SMTP failure), why. result_type and reason are
//	                    MTA-STS's (or no-policy-found's); DANE's are in
//	                    dane below
//	  governed_by       which policy judges the host: "dane" (DANE alone:
//	                    a secure MX RRset and a secure TLSA RRset, or a
//	                    failed TLSA lookup, or DANE and no enforce or
//	                    testing policy), "both" (DANE and MTA-STS, the
//	                    stricter wins), "mta-sts" (an enforce or testing
//	                    policy alone) or "none" (opportunistic TLS)
//	  dane              what DANE found for the host:
//	    steps[]         the lookups made, in order:
//	      name, type    the name and type asked ("A", "AAAA", "CNAME",
//	                    "TLSA")
//	      dnssec        the answer's state, as mx_dnssec
//	      result        "records", "nxdomain", "nodata" or "failed"
//	      records       how many records came back
//	      error         why the lookup failed, "" when it did not
//	    target          where the host's CNAME chain ends; the host when
//	                    it is no alias
//	    signed          whether the host's zone passed the signed-zone
//	                    check, so that TLSA records were looked up
//	    base_domain     the TLSA base domain (also the SNI sent) when DANE
//	                    applies, else ""
//	    tlsa[]          the records of the secure TLSA RRset, [] without one
//	      record        "usage selector matching HEX", as in TLS-RPT
//	                    policy strings
//	      usable        whether the DANE check uses the record
//	      note          why not: an unusable usage (PKIX-TA and PKIX-EE
//	                    are not used for SMTP), selector or matching type,
//	                    data of the wrong length or that does not parse, or
//	                    set aside by digest agility; "" when usable
//	    usable          how many records the DANE check uses
//	    applies         whether a secure TLSA RRset applies to the host
//	    verdict         "pass", "fail", or "" when DANE did not judge the
//	                    host or it was not probed
//	    result_type     the TLS-RPT result type of DANE's failure, reported
//	                    under policy type tlsa: dnssec-invalid,
//	                    certificate-not-trusted, tlsa-invalid... "" for none
//	    reason          its failure reason code (dane-no-match, servfail...)
//	    error           why DANE failed, "" when it did not
//	tlsrpt.found        whether a usable `_smtp._tls` record was found
//	tlsrpt.rua          its report destinations (a JSON array, maybe empty)
//	verdict             "deliver", "temporary-failure", "undeliverable" or
//	                    "opportunistic"
//	problems            what the domain's owner should fix, one sentence
//	                    each, as the human output lists them (a JSON array,
//	                    empty when there are none, and then the exit status
//	                    is 0)
//
// With --no-smtp the verdict assumes that every MX host the policy (and
// DANE's lookups) allow would pass.
//
// # Demo
//
// --demo needs no network. It starts an in-process MTA-STS world with
// package mtaststest (a DNS server, HTTPS policy hosts and SMTP MX hosts,
// all on 127.0.0.1, with a test CA made for the run) holding one .test
// domain per outcome, and checks them all, or the ones named. The demo's
// DNS server plays a validating resolver on loopback, so its dane-*.test
// domains show DANE: a matching "3 1 1" record (dane-ok.test), a record
// that matches no key of the host (dane-bad-digest.test), DANE judging a
// host that the enforce policy does not list (dane-beats-sts.test), and a
// TLSA lookup that fails validation (dane-bogus-tlsa.test). Its exit
// status is 1, as most demo domains have problems on purpose.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
