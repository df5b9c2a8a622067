// Package mtasts makes a Go mail sender obey SMTP MTA Strict Transport
// Security, [RFC 8461].
//
// It is built as a pipeline of small parts, each usable and testable alone:
//
//   - [SelectRecord] and [ParseRecord] read the `_mta-sts` TXT record
//     (RFC 8461, Section 3.1);
//   - [ParsePolicy] reads the policy file (RFC 8461, Section 3.2), strict
//     where the RFC is strict and lenient in a documented, listed way, each
//     leniency reported in [Policy.Warnings];
//   - [Policy.Match] matches an MX host against the policy's mx patterns
//     (RFC 8461, Section 4.1), without allocating;
//   - a [Client] discovers, fetches over hardened HTTPS, caches and refreshes
//     policies (RFC 8461, Sections 3.3 and 5.1).
//
// The parsing and matching functions do no I/O. The mode is never folded
// into matching: under a testing policy a mismatch is still seen, so that
// it can be reported with TLS-RPT (package tlsrpt).
//
// What mtasts deliberately does not do: it does not send mail and has no
// SMTP client of its own (the caller's client applies the decision), it
// does not implement DANE (a caller that has DANE for a host keeps it; MTA-STS
// never relaxes it), and it never uses a parent domain's policy for a
// recipient domain (RFC 8461, Section 3.4).
//
// # Usage
//
//	p, err := mtasts.ParsePolicy(body)
//	if err != nil {
//		// errors.Is(err, mtasts.ErrPolicyInvalid): report sts-policy-invalid
//	}
//	for _, w := range p.Warnings {
//		log.Printf("policy problem: %s", w)
//	}
//	if !p.Match(mxHost) && p.Mode == mtasts.ModeEnforce {
//		// skip this MX host
//	}
//
// # Security
//
// Every parser accepts any byte string and returns a value or an error
// wrapping one of the package's sentinel errors, in time linear in the input
// and with allocations bounded by a small multiple of it; nothing panics.
// Names are compared as lower-case A-labels (see internal/domain), so a
// Unicode spelling cannot slip past a pattern. IP literals never match.
//
// # Testing
//
// Package mtaststest starts a complete MTA-STS world on loopback (DNS,
// HTTPS policy host with a test CA, SMTP MX hosts) for tests of code that
// uses this package. The parsers have native fuzz tests (FuzzParseRecord,
// FuzzParsePolicy, FuzzMatch).
//
// # Stability
//
// strictmx is before v1: the API may still change between minor versions;
// changes are listed in the release notes and retired API is marked
// Deprecated before it goes.
//
// [RFC 8461]: https://www.rfc-editor.org/rfc/rfc8461
package mtasts
