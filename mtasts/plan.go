package mtasts

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// PlanOptions carries what the caller knows about a delivery that changes
// the plan.
type PlanOptions struct {
	// ReportTraffic says the message is itself a TLS-RPT report. It is
	// delivered despite MTA-STS and DANE failures (RFC 8460, Section
	// 5.3.1: reports "MUST NOT honor MTA-STS or DANE TLSA failures"), with
	// opportunistic TLS on every host, DANE ones included, and its
	// sessions are never counted, whatever the policy lookup found (no
	// report loops).
	ReportTraffic bool

	// MXSecurity is the DNSSEC state of the MX RRset the hosts came from
	// (ResolveMXSecure gives it). It matters only for hosts given DANE
	// results with Plan.FindDANE or HostPlan.SetDANE: with a secure MX RRset
	// a host with usable TLSA records is judged by DANE alone (see
	// HostPlan.SetDANE). The zero value, resolver.Insecure, is right for an
	// MX lookup that did not ask for DNSSEC.
	MXSecurity resolver.Security

	// RequireDANE makes DANE mandatory for the destination (RFC 7672,
	// Section 6): the MX RRset must be secure, else no host is tried (the
	// delivery is deferred, dane-required), and a host is tried only after
	// HostPlan.SetDANE gave it usable TLSA records (else dane-required, or
	// tlsa-invalid when its secure RRset has none usable). Ignored for
	// report traffic.
	RequireDANE bool

	// SkipNoPolicyFound turns off the recording of sessions to a domain
	// without an MTA-STS policy (and no policy failure to report). By
	// default such a session is counted, as TLS-RPT policy type
	// no-policy-found for the policy domain, so that a domain that
	// publishes `_smtp._tls` before it deploys MTA-STS gets reports; a
	// domain without `_smtp._tls` never does, and the reporter drops its
	// data at send time. With SkipNoPolicyFound set, Result.Session
	// returns false for these sessions without building anything.
	SkipNoPolicyFound bool
}

// Plan is the per-MX delivery plan for one message to one policy domain.
// Make it with Result.Plan; try Hosts in order, skipping those whose Try is
// false. A Plan and its HostPlans are used by one delivery at a time.
type Plan struct {
	// Result is the policy lookup the plan was made from.
	Result *Result
	// Mode is the policy's mode, ModeNone when there is no policy.
	Mode Mode
	// ReportTraffic is PlanOptions.ReportTraffic.
	ReportTraffic bool
	// Hosts are the MX hosts in the order given, one HostPlan each.
	Hosts []HostPlan

	mx   []*net.MX
	opts PlanOptions
	// mxTarget is the CNAME expansion of the policy domain's MX lookup,
	// when FindDANE found one in a secure answer: a DANE-TA reference
	// identifier (RFC 7672, Section 3.2.2). targetKnown says it was
	// looked for.
	mxTarget    string
	targetKnown bool
}

// HostPlan says how to deliver to one MX host, and records the outcome.
//
// A HostPlan may be copied, as in a range over Plan.Hosts by value: every
// copy of a HostPlan made by Result.Plan shares the state that TLSConfig,
// VerifyConnectionState, Done, NotReached, Sent and Skipped record, so Done sees what a copy's handshake recorded
// and Client.Replan sees the decision made through any copy.
type HostPlan struct {
	// Host is the MX host name without a trailing dot.
	Host string
	// Preference is the MX preference.
	Preference uint16
	// Try says whether the host may be tried at all. Under an enforce
	// policy a host that matches no mx pattern may not.
	Try bool
	// Mismatch says that there is a policy and the host matches none of
	// its mx patterns. Under testing such a host is still tried, and the
	// mismatch reported.
	Mismatch bool
	// RequireTLS says that delivery must not go on without STARTTLS and a
	// successful handshake (enforce, or DANE).
	RequireTLS bool
	// Verify says that the host's certificate is validated with PKIX for
	// MTA-STS (enforce and testing). Use TLSConfig for the handshake.
	Verify bool
	// DANE says that a DNSSEC-secure TLSA RRset applies to the host
	// (HostPlan.SetDANE): STARTTLS and TLS 1.2 or newer are required, and
	// TLSConfig checks the certificate against the usable records.
	DANE bool

	// flags say how sessions with this host are reported and judged
	// (countSTS, countFailure, countNoPolicy, reportTraffic, countTLSA,
	// stsEnforce). It sits among the bools so that a HostPlan is 48 bytes,
	// not 56, and a plan for five hosts stays in one allocation.
	flags uint8

	// Reason says, for a host that may not be tried or that does not match,
	// why.
	Reason string

	state *hostState // shared by copies; set by Result.Plan
}

// hostState is the part of a HostPlan that attempts write. It is kept
// apart, behind a pointer, so that every copy of the HostPlan records into
// one place.
type hostState struct {
	verify   atomic.Pointer[verifyRecord] // set by TLSConfig's VerifyConnection; nil: it has not run
	decision atomic.Pointer[Decision]     // the last decision made

	plan *Plan      // the plan the host is in; nil for a HostPlan built by hand
	dane *dane.Host // set by SetDANE; nil: no DANE lookup made
}

// verifyRecord is what the VerifyConnection of a TLSConfig saw in the
// attempt's handshake.
type verifyRecord struct {
	err     error // the MTA-STS verification's failure, or nil
	dane    error // the DANE verification's failure, or nil
	up      bool  // the checks passed and the handshake went on
	aborted bool  // the checks failed and aborted the handshake
}

// verifyPassed is the verifyRecord of a clean handshake, shared.
var verifyPassed = &verifyRecord{up: true}

// HostPlan.flags.
const (
	countSTS      = 1 << iota // judged and reported under an enforce or testing policy
	countFailure              // reports the lookup's policy failure (no cached policy)
	reportTraffic             // the message is a TLS-RPT report: nothing blocks it
	countNoPolicy             // no policy, no failure: reported as no-policy-found
	countTLSA                 // judged by DANE and reported under its tlsa policy
	stsEnforce                // MTA-STS enforce judges the host: its failure aborts the handshake
)

// st returns the host's state. Result.Plan sets it before handing the plan
// out; only a HostPlan built by hand gets its state here, on first use.
func (h *HostPlan) st() *hostState {
	if h.state == nil {
		h.state = &hostState{}
	}
	return h.state
}

// Plan makes the delivery plan for the MX hosts of the policy domain, in
// the order the caller will try them (by preference, from its MX lookup).
// When the domain has no MX records, pass the domain itself as the only
// host, the implicit MX of RFC 5321, Section 5.1; it must match the policy
// too (see the package's Spec notes). A null MX (".") is never tried.
//
// Under enforce, hosts that match no pattern may not be tried; under
// testing every host is tried and a mismatch is recorded for reporting; with
// mode none or no policy, delivery is opportunistic. Plan does no I/O and,
// for up to five hosts, makes one allocation.
func (r *Result) Plan(mx []*net.MX, opts PlanOptions) *Plan {
	mode := r.Mode()
	pl := &planAlloc{}
	pl.plan = Plan{Result: r, Mode: mode, ReportTraffic: opts.ReportTraffic, mx: mx, opts: opts}
	mustDANE := opts.RequireDANE && !opts.ReportTraffic
	states := pl.states[:]
	if len(mx) <= len(pl.hosts) {
		pl.plan.Hosts = pl.hosts[:len(mx)]
	} else {
		pl.plan.Hosts = make([]HostPlan, len(mx))
		states = make([]hostState, len(mx))
	}
	for i, m := range mx {
		h := &pl.plan.Hosts[i]
		h.state = &states[i]
		h.state.plan = &pl.plan
		h.Host = strings.TrimSuffix(m.Host, ".")
		h.Preference = m.Pref
		h.Mismatch = r.Policy != nil && !r.Policy.Match(h.Host)
		h.plan(mode, opts)
		if mustDANE && h.Host != "" {
			// RFC 7672, Section 6: no host goes without DANE; SetDANE
			// lets through those with usable records.
			h.Try = false
			h.Reason = "mandatory DANE: no DANE lookup made for the host"
			if opts.MXSecurity != resolver.Secure {
				h.Reason = "mandatory DANE: the MX RRset is not DNSSEC-secure"
			}
		}
	}
	return &pl.plan
}

// plan sets the HostPlan's fields and flags for the MTA-STS mode, as
// without DANE.
func (h *HostPlan) plan(mode Mode, opts PlanOptions) {
	r := h.state.plan.Result
	switch {
	case h.Host == "":
		// RFC 7505 null MX: the domain accepts no mail.
		h.Reason = "null MX: the domain accepts no mail"
	case opts.ReportTraffic:
		// RFC 8460, Section 5.3.1: reports go out despite MTA-STS and
		// DANE failures, opportunistically.
		h.Try = true
		h.flags = reportTraffic
	case mode == ModeEnforce:
		h.Try, h.RequireTLS, h.Verify = !h.Mismatch, !h.Mismatch, !h.Mismatch
		if h.Mismatch {
			h.Reason = "MX host matches no mx pattern of the enforce policy"
		} else {
			h.flags = stsEnforce
		}
	case mode == ModeTesting:
		h.Try, h.Verify = true, true
		if h.Mismatch {
			h.Reason = "MX host matches no mx pattern of the testing policy"
		}
	default:
		h.Try = true
	}
	switch {
	case opts.ReportTraffic:
		// Never counted: report traffic (RFC 8460, Section 5.3.1).
	case mode == ModeEnforce || mode == ModeTesting:
		h.flags |= countSTS
	case r.Policy == nil && r.Failure != "":
		// Spec note: a policy that could not be fetched or parsed, with
		// no cached policy to use, fails every session to the domain,
		// with its result type from RFC 8460, Section 4.3.2.2.
		h.flags = countFailure
	case r.Policy == nil && !opts.SkipNoPolicyFound && r.noPolicyKnown():
		// RFC 8460, Section 4.4: policy type no-policy-found, "neither
		// a DANE nor an MTA-STS policy could be found". A policy of
		// mode none was found, and its sessions are not counted.
		h.flags = countNoPolicy
	}
}

// planAlloc lets Plan make one allocation for up to five hosts: the Plan,
// its HostPlans and their states.
type planAlloc struct {
	plan   Plan
	hosts  [5]HostPlan
	states [5]hostState
}

// noPolicyKnown reports whether the lookup established that the domain has
// no policy, rather than failed to find out.
//
// Spec note: a session is reported as no-policy-found only when the
// `_mta-sts` lookup said so (no record, or records RFC 8461, Section 3.1
// treats as none). After a temporary DNS failure, or a discovery the Client
// did not start (ErrDiscoveryLimit), the domain may well have a policy:
// such sessions are not counted at all, rather than reported under a
// policy type that would tell the domain it has none.
func (r *Result) noPolicyKnown() bool {
	return r.Err == nil || errors.Is(r.Err, ErrNoRecord) ||
		errors.Is(r.Err, ErrMultipleRecords) || errors.Is(r.Err, ErrRecordSyntax)
}
