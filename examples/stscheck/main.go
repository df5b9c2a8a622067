// Command stscheck checks a mail domain's MTA-STS setup (RFC 8461) and
// TLS-RPT record (RFC 8460) the way a compliant sending MTA sees them.
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
//  3. the MX hosts in preference order: whether each matches the policy,
//     offers STARTTLS, which TLS version it negotiates, its certificate's
//     names, issuer and expiry, whether that certificate validates for the
//     host, and the delivery decision with the TLS-RPT result type of a
//     failure (RFC 8461, Sections 4 and 5);
//  4. the `_smtp._tls` TLS-RPT record and its report destinations;
//  5. a verdict: deliver; temporary-failure (an enforce policy and no
//     acceptable MX host, or an MX lookup that failed: a sender queues and
//     retries, never bounces); undeliverable (the domain does not exist,
//     or publishes a null MX, RFC 7505: a sender returns the mail at once);
//     or opportunistic (no policy, mode none, or a policy that could not
//     be fetched: a sender uses TLS if offered and does not verify it);
//  6. the problems: what the domain's owner should fix.
//
// A sender that has no cached policy and cannot fetch one delivers as if
// the domain had no policy, so a broken policy gives the verdict
// opportunistic, with the failure listed as a problem.
//
// # Flags
//
//	--json           print one JSON document per domain (see below)
//	--dns HOST:PORT  DNS server to ask (default: /etc/resolv.conf); also used
//	                 to resolve the policy host and the MX hosts
//	--ca FILE        extra trusted roots, PEM, added to the system roots
//	--ca-only        trust only the roots of --ca
//	--smtp-port N    port of the MX hosts (default 25)
//	--timeout D      limit of each network step: one DNS exchange, the policy
//	                 fetch, the probe of one MX host (default 30s)
//	--no-smtp        do not connect to the MX hosts
//	--allow-private  let the policy fetch connect to loopback and private
//	                 addresses (the dial guard is on by default)
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
// null MX, is not a problem by itself.
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
//	                    SMTP failure), why
//	tlsrpt.found        whether a usable `_smtp._tls` record was found
//	tlsrpt.rua          its report destinations (a JSON array, maybe empty)
//	verdict             "deliver", "temporary-failure", "undeliverable" or
//	                    "opportunistic"
//	problems            what the domain's owner should fix, one sentence
//	                    each, as the human output lists them (a JSON array,
//	                    empty when there are none, and then the exit status
//	                    is 0)
//
// With --no-smtp the verdict assumes that every MX host the policy allows
// would pass.
//
// # Demo
//
// --demo needs no network. It starts an in-process MTA-STS world with
// package mtaststest (a DNS server, HTTPS policy hosts and SMTP MX hosts,
// all on 127.0.0.1, with a test CA made for the run) holding one .test
// domain per outcome, and checks them all, or the ones named. Its exit
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
