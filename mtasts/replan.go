package mtasts

import (
	"context"
)

// Replan is called when no host of plan took the message. Before the
// failure is final it re-checks the policy id (RFC 8461, Section 5.1): if
// the domain now publishes another policy, Replan returns a new plan for
// the same hosts, to be tried at once. Otherwise it returns a
// *NoAcceptableMXError, a temporary failure, with the decision for each host.
//
// Only an enforce policy makes delivery fail for MTA-STS reasons; for other
// plans, and for report traffic, Replan returns (nil, nil) and the
// caller's own handling of unreachable hosts applies.
func (c *Client) Replan(ctx context.Context, plan *Plan) (*Plan, error) {
	if plan.Mode != ModeEnforce || plan.ReportTraffic {
		return nil, nil
	}
	r, err := c.CheckID(ctx, plan.Result.Domain)
	if err != nil {
		return nil, err
	}
	if r.Policy != nil && (r.ID != plan.Result.ID || r.Policy.Raw != plan.Result.Policy.Raw) {
		return r.Plan(plan.mx, plan.opts), nil
	}
	derr := &NoAcceptableMXError{Domain: plan.Result.Domain, PolicyID: plan.Result.ID}
	for i := range plan.Hosts {
		h := &plan.Hosts[i]
		st := h.st()
		st.mu.Lock()
		d := st.decision
		st.mu.Unlock()
		if d == nil {
			dd := h.Skipped()
			d = &dd
		}
		derr.Hosts = append(derr.Hosts, *d)
	}
	return nil, derr
}
