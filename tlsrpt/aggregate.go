package tlsrpt

import (
	"cmp"
	"fmt"
	"slices"
)

// Key identifies one report: a policy domain and a UTC day.
type Key struct {
	Domain string
	Day    Day
}

func (k Key) String() string { return k.Day.String() + "/" + k.Domain }

// Aggregate holds the summed counts of one (policy domain, day): one
// PolicyResult per policy. Aggregates merge by plain sums (Merge), so
// partial aggregates from many senders can be added up in any order.
//
// The canonical form, which Collector and Merge return, has policies and
// failure details sorted and equal details merged.
type Aggregate struct {
	Key
	Policies []PolicyResult
}

// Clone returns a deep copy of a.
func (a *Aggregate) Clone() *Aggregate {
	b := &Aggregate{Key: a.Key, Policies: make([]PolicyResult, len(a.Policies))}
	for i, p := range a.Policies {
		p.Policy.String = slices.Clone(p.Policy.String)
		p.Policy.MXHost = slices.Clone(p.Policy.MXHost)
		p.FailureDetails = slices.Clone(p.FailureDetails)
		b.Policies[i] = p
	}
	return b
}

// Sessions returns the total number of sessions counted in a.
func (a *Aggregate) Sessions() int64 {
	var n int64
	for _, p := range a.Policies {
		n += p.Summary.TotalSuccessfulSessionCount + p.Summary.TotalFailureSessionCount
	}
	return n
}

// Merge returns the sum of aggregates for the same Key, in canonical form.
// It is commutative and associative. Aggregates with different keys give
// an error; nil aggregates are skipped.
func Merge(aggs ...*Aggregate) (*Aggregate, error) {
	var out *Aggregate
	for _, a := range aggs {
		if a == nil {
			continue
		}
		if out == nil {
			out = &Aggregate{Key: a.Key}
		} else if a.Key != out.Key {
			return nil, fmt.Errorf("tlsrpt: merge %s with %s", out.Key, a.Key)
		}
		for _, p := range a.Policies {
			out.add(&p)
		}
	}
	if out != nil {
		out.canonicalize()
	}
	return out, nil
}

// add sums one policy's counts into a (not canonical until canonicalize).
func (a *Aggregate) add(p *PolicyResult) {
	i := slices.IndexFunc(a.Policies, func(q PolicyResult) bool { return q.Policy.Equal(&p.Policy) })
	if i < 0 {
		a.Policies = append(a.Policies, PolicyResult{Policy: Policy{
			Type: p.Policy.Type, Domain: p.Policy.Domain,
			String: slices.Clone(p.Policy.String), MXHost: slices.Clone(p.Policy.MXHost),
		}})
		i = len(a.Policies) - 1
	}
	q := &a.Policies[i]
	q.Summary.TotalSuccessfulSessionCount += p.Summary.TotalSuccessfulSessionCount
	q.Summary.TotalFailureSessionCount += p.Summary.TotalFailureSessionCount
	for _, d := range p.FailureDetails {
		q.FailureDetails = addDetail(q.FailureDetails, d)
	}
}

func (a *Aggregate) canonicalize() {
	for i := range a.Policies {
		slices.SortFunc(a.Policies[i].FailureDetails, compareDetails)
	}
	slices.SortFunc(a.Policies, func(x, y PolicyResult) int { return comparePolicies(&x.Policy, &y.Policy) })
}

func comparePolicies(p, q *Policy) int {
	return cmp.Or(
		cmp.Compare(p.Domain, q.Domain),
		cmp.Compare(p.Type, q.Type),
		slices.Compare(p.MXHost, q.MXHost),
		slices.Compare(p.String, q.String),
	)
}

func compareDetails(d, e FailureDetail) int {
	return cmp.Or(
		cmp.Compare(d.ResultType, e.ResultType),
		cmp.Compare(d.ReceivingMXHostname, e.ReceivingMXHostname),
		d.ReceivingIP.Compare(e.ReceivingIP),
		d.SendingMTAIP.Compare(e.SendingMTAIP),
		cmp.Compare(d.ReceivingMXHelo, e.ReceivingMXHelo),
		cmp.Compare(d.FailureReasonCode, e.FailureReasonCode),
		cmp.Compare(d.AdditionalInformation, e.AdditionalInformation),
	)
}
