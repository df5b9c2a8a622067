package mtasts

import (
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
)

// Recorder takes TLS-RPT session results; *tlsrpt.Collector is one.
type Recorder interface {
	Record(tlsrpt.Result) error
}

// ReportPolicy returns the TLS-RPT report policy of the lookup: type sts
// with the policy's lines and mx patterns, or no-policy-found when no
// policy applied.
func (r *Result) ReportPolicy() tlsrpt.Policy {
	if r.Policy == nil {
		return tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: r.Domain}
	}
	return tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: r.Domain, String: r.Policy.Lines(), MXHost: r.Policy.MX}
}

// Session turns one delivery attempt under the lookup r into a TLS-RPT
// session result: d is the decision for the host, start when the session
// started. Callers add SendingIP, ReceivingIP and EHLO where they know them
// and pass the result to tlsrpt.Collector.Record.
//
// A session to a domain without a policy is a no-policy-found session of
// the domain (no policy-string, no mx-host), a success or a failure as its
// TLS went, unless PlanOptions.SkipNoPolicyFound turned that off.
//
// ok is false when the session belongs in no report (Decision.Counted is
// false): delivery under a policy of mode none, no-policy-found sessions
// turned off, DANE hosts (reported as tlsa by the caller), hosts not
// reached, and report traffic, whatever the lookup found (RFC 8460,
// Section 5.3.1: no report loops).
//
// Spec note: when a cached policy was used because refreshing it failed,
// the session counts as that failure unless the session failed by itself
// (the MTA-STS policy failures of RFC 8460, Section 4.3.2.2 are result
// types like any other); tlsrpt.ReasonCachedPolicy notes the fallback.
// When no policy could be fetched and none was cached, every counted
// session is that failure.
func (r *Result) Session(d Decision, start time.Time) (res tlsrpt.Result, ok bool) {
	if !d.Counted {
		return tlsrpt.Result{}, false
	}
	res = tlsrpt.Result{Policy: r.ReportPolicy(), MXHost: d.Host, Time: start}
	res.ResultType, res.ReasonCode = d.ResultType, d.Reason
	if res.ResultType == "" && r.Failure != "" {
		res.ResultType = r.Failure
		if r.Policy != nil {
			res.ReasonCode = tlsrpt.ReasonCachedPolicy
		}
	}
	return res, true
}

// Record records the session of one delivery attempt under the lookup r,
// as Session builds it, into rec, and does nothing for sessions that belong
// in no report. It is the one line a sender adds after each Done or
// Skipped:
//
//	res.Record(collector, h.Done(err), start)
func (r *Result) Record(rec Recorder, d Decision, start time.Time) error {
	res, ok := r.Session(d, start)
	if !ok {
		return nil
	}
	return rec.Record(res)
}
