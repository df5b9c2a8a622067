package mtasts

import (
	"context"
	"fmt"
)

// Replan is called when no host of plan took the message. When at least
// one host was refused for an MTA-STS reason under an enforce policy (it
// matched no mx pattern, or STARTTLS was not offered or refused, or TLS or
// its verification failed), the failure is the policy's: before it is
// final Replan re-checks the policy id (RFC 8461, Section 5.1), and if the
// domain now publishes another policy it returns a new plan for the same
// hosts, to be tried at once. Otherwise it returns an error in which
// errors.As finds a *NoAcceptableMXError, a temporary failure, with the
// decision for each host; when the re-check itself fails (ctx ended, say),
// the error wraps the re-check's error as well.
//
// In every other case Replan returns (nil, nil) and does no I/O: the
// caller's own handling of hosts that failed applies (retry later, as for
// any unreachable domain). That is so for plans that are not enforce, for
// report traffic, and when no host was refused by the policy: every host
// was not reached, or passed TLS and failed later, or was a DANE host.
//
// A host of plan with no recorded outcome counts as not reached, unless it
// may not be tried (then as Skipped).
func (c *Client) Replan(ctx context.Context, plan *Plan) (*Plan, error) {
	if plan.Mode != ModeEnforce || plan.ReportTraffic {
		return nil, nil
	}
	derr := &NoAcceptableMXError{Domain: plan.Result.Domain, PolicyID: plan.Result.ID, Hosts: make([]Decision, 0, len(plan.Hosts))}
	refused := false
	for i := range plan.Hosts {
		h := &plan.Hosts[i]
		var d Decision
		if p := h.st().decision.Load(); p != nil {
			d = *p
		} else if !h.Try {
			d = h.Skipped()
		} else {
			d = Decision{Host: h.Host, Outcome: OutcomeNotReached, Err: fmt.Errorf("%w: %s (no outcome recorded)", ErrNotReached, h.Host)}
		}
		refused = refused || refusedForSTS(h, &d)
		derr.Hosts = append(derr.Hosts, d)
	}
	if !refused {
		return nil, nil
	}
	c.init()
	r, err := c.CheckID(ctx, plan.Result.Domain)
	if err != nil {
		c.log.DebugContext(ctx, "mtasts: policy id re-check failed; the failure stays temporary", "domain", plan.Result.Domain, "policy_id", plan.Result.ID, "err", err)
		return nil, fmt.Errorf("%w (policy id not re-checked: %w)", derr, err)
	}
	if r.Policy != nil && (r.ID != plan.Result.ID || r.Policy.Raw != plan.Result.Policy.Raw) {
		return r.Plan(plan.mx, plan.opts), nil
	}
	return nil, derr
}
