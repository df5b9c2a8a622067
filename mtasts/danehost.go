package mtasts

import (
	"context"
	"errors"
	"slices"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
)

// FindDANE looks up the DANE state of every host of the plan with f and
// gives it to the host with SetDANE, in order; see HostPlan.FindDANE to do
// it one host at a time, at connection time. It does nothing for report
// traffic (RFC 8460, Section 5.3.1: a report honors no DANE failure, its
// lookups' included). Hosts whose lookup failed are left untried
// (Try false): record them with Skipped.
func (p *Plan) FindDANE(ctx context.Context, f *dane.Finder) {
	if p.ReportTraffic {
		return
	}
	p.findTarget(ctx, f)
	now := f.Time() // one clock reading for the plan's cache hits
	for i := range p.Hosts {
		if h := &p.Hosts[i]; h.Host != "" {
			h.SetDANE(f.HostAt(ctx, h.Host, now))
		}
	}
}

// FindDANE looks up the host's DANE state with f and applies it with
// SetDANE, for an MTA that resolves hosts one at a time. It does nothing
// for a null MX and for report traffic.
func (h *HostPlan) FindDANE(ctx context.Context, f *dane.Finder) {
	if h.Host == "" || h.flags&reportTraffic != 0 {
		return
	}
	if p := h.st().plan; p != nil {
		p.findTarget(ctx, f)
	}
	h.SetDANE(f.Host(ctx, h.Host))
}

// findTarget learns, once per plan, where a CNAME at the policy domain
// led its MX lookup: with a secure MX RRset, a DANE-TA certificate may name
// that expansion of the next-hop domain (RFC 7672, Section 3.2.2). The
// answer comes from the cache of f's Resolver when ResolveMXSecure used the
// same one; a Finder without a Resolver, or a HostPlan given SetDANE
// directly, goes without it (the check is then stricter, never weaker).
func (p *Plan) findTarget(ctx context.Context, f *dane.Finder) {
	if p.targetKnown || p.opts.MXSecurity != resolver.Secure || f.Resolver == nil {
		return
	}
	p.targetKnown = true
	ans, _ := f.Resolver.LookupSecure(ctx, p.Result.Domain, resolver.TypeMX)
	if ans != nil && ans.Security == resolver.Secure && ans.Target != ans.Name {
		p.mxTarget = ans.Target
	}
}

// SetDANE applies the DANE state of the host, as a dane.Finder found it,
// to the host's plan, by the precedence of the package's DANE notes (RFC
// 8461, Section 2: MTA-STS validation never overrides a failing DANE
// validation). Call it before the host's first attempt. The plan's own
// HostPlan and the one SetDANE is called on are both updated, so a copy
// made by ranging over Plan.Hosts may be used.
//
//   - A failed TLSA lookup (dh.Err, dnssec-invalid): the host is not tried,
//     whatever MTA-STS says; Skipped reports it under the tlsa policy of
//     the candidate base domain.
//   - A host without any address (dh.Err wrapping dane.ErrNoAddress) is not
//     tried either, and its Skipped decision is counted nowhere, as for a
//     host not reached.
//   - No TLSA RRset applies (dh.Applies false: a denial, an insecure answer
//     or an unsigned zone): MTA-STS judges the host exactly as without
//     DANE (RFC 7672, Section 2.2).
//   - Secure MX RRset and usable records: DANE alone judges the host, in
//     every MTA-STS mode. MTA-STS neither skips it for its mx patterns nor
//     checks PKIX, and the session stays out of the sts report.
//   - Otherwise, an insecure MX RRset with usable records, or a secure
//     RRset with no usable record: both judge and the stricter wins.
//     MTA-STS checks the host as without DANE, and DANE must pass too (or,
//     with no usable record, STARTTLS is still required); each policy
//     reports its own verdict.
//
// With PlanOptions.RequireDANE a host is tried only with usable records
// and a secure MX RRset. For report traffic and a null MX SetDANE does
// nothing; a nil dh clears nothing and does nothing.
func (h *HostPlan) SetDANE(dh *dane.Host) {
	st := h.st()
	if dh == nil || h.Host == "" || h.flags&reportTraffic != 0 {
		return
	}
	var opts PlanOptions
	if st.plan != nil {
		opts = st.plan.opts
	}
	st.dane = dh
	mxSecure := opts.MXSecurity == resolver.Secure
	switch {
	case errors.Is(dh.Err, dane.ErrNoAddress):
		// Not a DANE failure: the host cannot be reached at all; not
		// counted, as for a host not reached.
		h.Try, h.DANE = false, false
		h.flags &^= counted | stsEnforce | countTLSA
		h.Reason = "the host has no address"
	case dh.Err != nil:
		// RFC 7672, Section 2.1.1: a failed lookup is treated as an
		// attack; the host is skipped, temporarily.
		h.Try, h.RequireTLS, h.DANE = false, true, false
		h.flags = h.flags&^(countSTS|countFailure|countNoPolicy|stsEnforce) | countTLSA
		h.Reason = "DANE: the TLSA lookup failed"
	case !dh.Applies():
		if opts.RequireDANE && mxSecure {
			h.Try = false
			h.Reason = "mandatory DANE: the host has no secure TLSA records"
			h.flags |= countTLSA
		}
	default:
		usable := dh.RRset.Usable() > 0
		h.DANE, h.RequireTLS = true, true
		h.flags |= countTLSA
		switch {
		case opts.RequireDANE && (!usable || !mxSecure):
			h.Try = false
			h.Reason = "mandatory DANE: the host's TLSA records are all unusable"
			if !mxSecure {
				h.Reason = "mandatory DANE: the MX RRset is not DNSSEC-secure"
			}
		case usable && mxSecure:
			// Spec note: DNSSEC has authenticated the MX RRset that the
			// mx patterns stand in for; DANE alone judges the host.
			h.Try, h.Verify, h.Mismatch, h.Reason = true, false, false, ""
			h.flags &^= countSTS | countFailure | countNoPolicy | stsEnforce
		default:
			// Both judge; a host MTA-STS refuses stays refused. A
			// no-policy-found session it is not: a DANE policy was found
			// (RFC 8460, Section 4.4).
			h.flags &^= countNoPolicy
		}
	}
	if st.plan != nil {
		for i := range st.plan.Hosts {
			if p := &st.plan.Hosts[i]; p.state == st && p != h {
				*p = *h
			}
		}
	}
}

// daneHost returns the host's DANE state when a TLSA RRset applies to it,
// else nil.
func (h *HostPlan) daneHost() *dane.Host {
	if st := h.st(); st.dane != nil && st.dane.Applies() && h.DANE {
		return st.dane
	}
	return nil
}

// skippedDANE returns the DANE failure that keeps the host from being
// tried, or nil.
func (h *HostPlan) skippedDANE() error {
	st := h.st()
	opts := PlanOptions{}
	if st.plan != nil {
		opts = st.plan.opts
	}
	dh := st.dane
	switch {
	case dh != nil && dh.Err != nil:
		return dh.Err
	case !opts.RequireDANE || opts.ReportTraffic || h.Host == "":
		return nil
	case opts.MXSecurity != resolver.Secure:
		return dane.NewError(h.Host, dane.ErrRequired, errors.New("the MX RRset is not DNSSEC-secure"))
	case dh == nil:
		return dane.NewError(h.Host, dane.ErrRequired, errors.New("no DANE lookup made"))
	case !dh.Applies():
		return dane.NewError(h.Host, dane.ErrRequired, errors.New("no secure TLSA records"))
	case dh.RRset.Usable() == 0:
		return noUsableError(h.Host)
	}
	return nil
}

// noUsableError is the DANE failure of a host whose secure TLSA RRset has
// no usable record: the session fails, though mail goes (RFC 7672, Section
// 2.2).
func noUsableError(host string) error {
	return dane.NewError(host, dane.ErrNoUsable, nil)
}

// TLSAPolicy returns the TLS-RPT report policy under which DANE judges the
// host: type tlsa, the TLSA base domain (for a failed lookup or no secure
// RRset, the host name, the candidate), and the RRset's records as policy
// strings (RFC 8460, Section 4.3; none without an RRset).
func (h *HostPlan) TLSAPolicy() tlsrpt.Policy {
	p := tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: h.Host}
	if dh := h.st().dane; dh != nil && dh.Applies() {
		p.Domain, p.String = dh.Base, dh.RRset.PolicyStrings()
	}
	return p
}

// daneIDs returns the DANE-TA reference identifiers of the host (RFC 7672,
// Section 3.2.2): dane.Host.IDs, and the CNAME expansion of the next-hop
// domain that findTarget learned.
func (h *HostPlan) daneIDs(dh *dane.Host) []string {
	st := h.st()
	if st.plan == nil {
		return dh.IDs("", resolver.Insecure)
	}
	ids := dh.IDs(st.plan.Result.Domain, st.plan.opts.MXSecurity)
	if t := st.plan.mxTarget; t != "" && !slices.Contains(ids, t) {
		ids = append(ids, t) // set only with a secure MX RRset
	}
	return ids
}
