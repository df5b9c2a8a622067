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
// ok is false when the session belongs in no MTA-STS or no-policy-found
// report (Decision.Counted is false): delivery under a policy of mode none,
// no-policy-found sessions turned off, hosts judged by DANE alone (their
// session is Decision.TLSASession), hosts not reached, and report traffic,
// whatever the lookup found (RFC 8460, Section 5.3.1: no report loops).
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

// TLSASession turns DANE's verdict on one delivery attempt into a TLS-RPT
// session result under the host's tlsa policy (RFC 8460, Section 4.3:
// policy-domain the TLSA base domain, policy-string the RRset's records,
// no mx-host), with the MX host as the MX RRset named it. ok is false when
// no TLSA RRset judged the session (Decision.TLSA.Counted is false).
func (d Decision) TLSASession(start time.Time) (res tlsrpt.Result, ok bool) {
	if !d.TLSA.Counted {
		return tlsrpt.Result{}, false
	}
	return tlsrpt.Result{Policy: d.TLSA.Policy, MXHost: d.Host, Time: start,
		ResultType: d.TLSA.ResultType, ReasonCode: d.TLSA.Reason}, true
}

// Record records the sessions of one delivery attempt under the lookup r
// into rec: the MTA-STS (or no-policy-found) session as Session builds it,
// and the tlsa session as Decision.TLSASession builds it, each when it
// belongs in a report, so a session judged by both policies counts under
// both. It is the one line a sender adds after each Done or Skipped:
//
//	res.Record(collector, h.Done(err), start)
//
// The error is the first that rec returned; both sessions are offered to
// rec whatever the first returned.
func (r *Result) Record(rec Recorder, d Decision, start time.Time) error {
	var err error
	if res, ok := r.Session(d, start); ok {
		err = rec.Record(res)
	}
	if res, ok := d.TLSASession(start); ok {
		if terr := rec.Record(res); err == nil {
			err = terr
		}
	}
	return err
}
