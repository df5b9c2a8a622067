// Package mtasts makes a Go mail sender obey SMTP MTA Strict Transport
// Security, [RFC 8461].
//
// It is built as a pipeline of small parts, each usable and testable alone:
//
//   - [SelectRecord] and [ParseRecord] read the `_mta-sts` TXT record
//     (RFC 8461, Section 3.1), strictly;
//   - [ParsePolicy] reads the policy file (RFC 8461, Section 3.2), strict
//     where the RFC is strict and lenient in a listed way, each leniency
//     reported in [Policy.Warnings];
//   - [Policy.Match] matches an MX host against the mx patterns (RFC 8461,
//     Section 4.1) without allocating;
//   - a [Client] discovers, fetches over hardened HTTPS, caches and
//     refreshes policies (RFC 8461, Sections 3.3 and 5.1): [Client.Lookup];
//   - [Result.Plan] makes the per-MX delivery plan, [HostPlan.TLSConfig]
//     verifies the MX host in the STARTTLS handshake, [HostPlan.Done]
//     decides, and [Client.Replan] turns "no host was acceptable" into a
//     temporary failure, after checking the policy id again.
//
// The parsing, matching and planning functions do no I/O. The mode is never
// folded into matching: under a testing policy a mismatch is still seen and
// reported ([Result.Record] records a decision as a TLS-RPT session, in the
// vocabulary of package tlsrpt, which owns the result types).
//
// SMTP DANE ([RFC 7672]) sits beside MTA-STS in the same plan: package
// mtasts/dane finds each MX host's TLSA records through a validating
// resolver and checks certificates against them; [Plan.FindDANE] (or
// [HostPlan.FindDANE] at connection time, one host at a time) hands the
// result to the plan, which applies the precedence of RFC 8461, Section 2
// per host (see "DANE and MTA-STS" below), verifies DANE in the same
// [HostPlan.TLSConfig] and reports the session under each policy that
// judged it.
//
// What mtasts deliberately does not do: it has no SMTP client of its own
// (the caller's client applies the decision; see examples/sender), it
// validates no DNSSEC itself (it believes the AD bit of a trusted
// validating resolver; see package mtasts/resolver), and it never uses a
// parent domain's policy (RFC 8461, Section 3.4): the policy domain is the
// recipient domain, or the smart host's domain when relaying.
//
// # Usage
//
// The delivery loop of a sender:
//
//	res, err := client.Lookup(ctx, recipientDomain) // err: caller problems only
//	mxHosts, _, mxSec, err := mtasts.ResolveMXSecure(ctx, stub, recipientDomain) // err: see ResolveMX
//	plan := res.Plan(mxHosts, mtasts.PlanOptions{MXSecurity: mxSec}) // in preference order
//	plan.FindDANE(ctx, finder) // a *dane.Finder: TLSA records, host by host
//	for i := range plan.Hosts {
//		h := &plan.Hosts[i]
//		if !h.Try {
//			res.Record(collector, h.Skipped(), time.Now())
//			continue
//		}
//		c, err := dialAndEHLO(h.Host)
//		if err != nil {
//			h.NotReached(err) // not counted; Replan does not blame the policy
//			continue
//		}
//		var d mtasts.Decision
//		if !c.OffersSTARTTLS() {
//			d = h.Done(mtasts.ErrSTARTTLSNotSupported)
//		} else {
//			// net/smtp: StartTLS is the handshake plus EHLO; Done tells a
//			// refused STARTTLS (*textproto.Error), a TLS failure and a
//			// later EHLO failure apart by what TLSConfig recorded.
//			// go-smtp: wrap an *smtp.SMTPError from NewClientStartTLS
//			// with mtasts.ErrSTARTTLSRefused; pass the next command's error.
//			d = h.Done(c.StartTLS(h.TLSConfig(baseTLS)))
//		}
//		if d.Deliver {
//			d = h.Sent(c.Send(msg)) // a failure here is a TLS success
//		}
//		res.Record(collector, d, time.Now())
//		if d.Outcome == mtasts.OutcomeDelivered {
//			return nil
//		}
//	}
//	// A new plan; an error holding a *mtasts.NoAcceptableMXError (temporary)
//	// when the policy refused a host; or nil, nil: retry as for any failure.
//	newPlan, err := client.Replan(ctx, plan)
//
// # Decisions where the RFC is loose
//
// Spec note: each of these is a documented choice; the tests pin them.
//
//   - The policy parser accepts without a warning LF, CRLF or mixed line
//     ends, no final newline, white space after the colon and at line end,
//     any field order, unknown fields, repeated non-mx fields (the first
//     counts), max_age 0 and leading zeros; with a warning a byte order mark,
//     blank lines, lines that are not "name: value" (ignored), invalid mx
//     values (dropped), a trailing dot on an mx (removed) and max_age above
//     31,557,600 (capped). It refuses CR-only line ends.
//   - A cached policy is kept when the record disappears, breaks, multiplies
//     or fails temporarily, and when a new id's policy cannot be fetched; the
//     Result then says SourceCacheAfterFailure and carries the failure. For
//     a new id, every Lookup says so (Failure set) until a fetch of that id
//     succeeds or the cached policy expires.
//   - The id of a cached policy is checked at most once per
//     Client.RecheckInterval (a minute), in the background, and always by
//     Replan before an enforce failure is final.
//   - "No record" is cached for Client.NegativeTTL (five minutes) or the DNS
//     negative TTL if shorter; temporary DNS failures are not cached.
//   - The policy fetch refuses redirects, statuses other than 200, media
//     types other than text/plain (parameters allowed), a missing
//     Content-Type (unless Client.AllowMissingContentType), and bodies over
//     64 KiB (65,536 bytes pass). A failed fetch of one (domain, id) is not
//     retried for five minutes; the back-off keeps only the failure's
//     class and at most 256 bytes of its text, and ends at its deadline.
//   - At most Client.MaxDiscoveries (256) discoveries of distinct domains
//     run at once. One over the bound is not started: the caller gets the
//     cached policy or none, at once, with ErrDiscoveryLimit and no TLS-RPT
//     failure, and nothing is cached or backed off.
//   - A policy the Client fetched stays usable until it expires even when
//     the Store fails, misses or keeps an older entry: the Client holds it
//     in memory too (RFC 8461, Section 10.2: the cache is the defence
//     against blocked discovery).
//   - Under testing, a host whose certificate fails is still used and the
//     failure reported; a TLS version below 1.2 is refused in the verifier,
//     not by crypto/tls, so that it is classified (validation-failure,
//     reason tls-version).
//   - A domain without MX records has the implicit MX of RFC 5321, Section
//     5.1, the domain itself; RFC 8461 does not mention it, and it must
//     match the policy like any other MX host. An MX host outside an
//     enforce or testing policy is reported as validation-failure with the
//     reason code mtasts-policy-mx-mismatch.
//   - Each attempt ends in one Outcome the caller states. A host not
//     reached is not counted (RFC 8460, Section 4.3.4 lets transient
//     network failures be left out). A refused STARTTLS command is
//     starttls-not-supported (RFC 8460, Section 4.3.1). An error after the
//     handshake passed VerifyConnection that is not a TLS alert or record
//     error is a session failure and a TLS success.
//   - Replan returns its NoAcceptableMXError only when the policy refused
//     a host; otherwise (nil, nil), and the caller's own retry applies.
//     When the id cannot be re-checked the error still holds a
//     NoAcceptableMXError, wrapping the re-check's error too.
//   - Report traffic (PlanOptions.ReportTraffic) is delivered with
//     opportunistic TLS on every host, DANE ones included, and is never
//     counted, whatever the lookup found (RFC 8460, Section 5.3.1); no DANE
//     lookup is made for it.
//   - A session to a domain without a policy (and no policy failure) is
//     counted as no-policy-found for the domain unless
//     PlanOptions.SkipNoPolicyFound is set; it is what its TLS did (RFC
//     8460, Section 4.4 counts "successfully negotiated TLS-enabled
//     connections"): a success after a handshake, starttls-not-supported
//     without STARTTLS. A policy of mode none is not counted; hosts not
//     reached, hosts with a secure TLSA RRset (a DANE policy was found) and
//     report traffic never are.
//
// # DANE and MTA-STS
//
// Spec note: the rules are those of the DANE contract (RFC 7672, with RFC
// 7671 and RFC 6698), per host, never per domain:
//
//   - A host whose TLSA lookup failed (SERVFAIL, bogus data, timeout) is not
//     tried, whatever MTA-STS says, and reported as dnssec-invalid: RFC
//     7672, Section 2.1.1 treats it as an attack.
//   - A host with no secure TLSA RRset (a denial, an insecure answer, an
//     unsigned zone) is judged by MTA-STS exactly as without DANE.
//   - A secure MX RRset and usable TLSA records: DANE alone judges the
//     host, in every MTA-STS mode. MTA-STS neither skips it for its mx
//     patterns (DNSSEC authenticated the MX list they stand in for) nor
//     checks PKIX, and the session is reported under tlsa only.
//   - Otherwise both judge and the stricter wins: with an insecure MX RRset
//     MTA-STS checks the host as without DANE and the TLSA records must
//     match too; with a secure RRset of unusable records STARTTLS is still
//     required (any certificate then), the session reported tlsa-invalid.
//     Each policy reports its own verdict; Result.Record records both.
//   - DANE has no testing mode: a DANE failure aborts the handshake, the
//     next MX is tried, and with none left the failure is temporary. It is
//     never MTA-STS's refusal (Replan does not re-check the policy id for
//     it).
//   - Report traffic ignores DANE altogether (RFC 8460, Section 5.3.1).
//   - Mandatory DANE (PlanOptions.RequireDANE, RFC 7672, Section 6): with
//     an insecure MX RRset no host is tried (dane-required); a host is tried
//     only with usable records.
//
// # Security
//
// Every parser accepts any byte string and returns a value or an error
// wrapping one of the package's sentinel errors, in time linear in the input
// and with allocations bounded by a small multiple of it; nothing panics.
// Names are compared as lower-case A-labels, so a Unicode spelling cannot
// slip past a pattern; IP literals never match. The policy fetch uses TLS
// 1.2 or newer with full certificate validation, no proxy unless configured,
// bounded headers and body, and a dial guard that refuses loopback, private,
// link-local, multicast and unspecified addresses (Client.AllowPrivate turns
// it off), so a hostile DNS answer cannot aim the fetch at the sender's own
// network. DNS answers are bounded in size, records and CNAME depth.
//
// # Testing
//
// Package mtaststest starts a complete MTA-STS world on loopback (DNS,
// HTTPS policy hosts with a test CA, SMTP MX hosts) for tests of code that
// uses this package, with switches for every failure. The parsers have
// native fuzz tests (FuzzParseRecord, FuzzParsePolicy, FuzzMatch,
// FuzzTXTAnswer).
//
// # Stability
//
// strictmx is before v1: the API may still change between minor versions;
// changes are listed in the release notes and retired API is marked
// Deprecated before it goes.
//
// [RFC 8461]: https://www.rfc-editor.org/rfc/rfc8461
// [RFC 7672]: https://www.rfc-editor.org/rfc/rfc7672
package mtasts
