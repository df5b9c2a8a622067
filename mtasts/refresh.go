package mtasts

import (
	"context"
	"sync"
	"time"
)

// Proactive refresh settings.
const (
	// RefreshLead is how long before expiry Run refreshes a policy, at
	// most; a policy with a short max_age is refreshed when a quarter of
	// its lifetime remains.
	RefreshLead = time.Hour
	// refreshTick is how often Run looks for policies due for refresh.
	refreshTick = time.Minute
)

// Run keeps the policies this Client has fetched fresh, so that a delivery
// rarely waits for a fetch (RFC 8461, Section 3.3: MTAs SHOULD refresh
// cached policies before they expire). Once a minute it refreshes every policy that expires within
// RefreshLead (or within a quarter of its max_age, if that is shorter), with
// a per-domain jitter of up to a minute, the most recently looked-up domains
// first and at most RefreshConcurrency at once. A failed refresh keeps the cached
// policy.
//
// Run blocks until ctx ends and returns nil once its refreshes have
// stopped, like every Run in this module. It is optional: without it,
// policies are fetched when a Lookup finds them expired.
func (c *Client) Run(ctx context.Context) error {
	c.init()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		c.refreshDue(ctx)
		t.Reset(refreshTick)
	}
}

// refreshDue refreshes the tracked policies that are due, and returns when
// they are all done.
func (c *Client) refreshDue(ctx context.Context) {
	now := c.now()
	var list []string // due domains, most recently used first
	c.backoff.sweep(now.UnixNano())
	for _, ref := range c.mem.members() {
		st := ref.state
		r := &st.result
		if !st.live(now.UnixNano()) {
			// Expired: Lookup will fetch it if it is used. Leave alone a
			// policy fetched since states returned.
			c.mem.remove(r.Domain, ref)
			continue
		}
		if r.Policy == nil { // "no record", held when there is no Store
			continue
		}
		lead := min(RefreshLead, r.Expires.Sub(r.Fetched)/4)
		if now.Add(lead + c.jitter(r.Domain)).Before(r.Expires) {
			continue
		}
		list = append(list, r.Domain)
	}

	sem := make(chan struct{}, c.refreshConcurrency())
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, d := range list {
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := wait(ctx, c.discoverShared(ctx, d, discoverRenew, false))
			if err == nil && r.Err != nil {
				c.log.Debug("mtasts: proactive refresh failed", "domain", d, "err", r.Err)
			}
		})
	}
}
