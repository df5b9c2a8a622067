package tlsrpttest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/tlsrpt"
)

// StoreFactory returns a new, empty Store for one subtest. advance, if not
// nil, moves the clock the store uses for lock expiry forward; stores
// whose clock cannot be moved (Redis) return nil and the expiry check is
// skipped.
type StoreFactory func(t *testing.T) (s tlsrpt.Store, advance func(time.Duration))

// RunStore runs the conformance suite for tlsrpt.Store implementations,
// in the manner of testing/fstest: every Store must pass it.
//
// Beyond sums, state and locks, it checks the batch contract of
// Store.Add: a batch id added twice (also concurrently) counts once, the
// zero id is refused, an aggregate the store cannot keep (CheckStorable,
// an overflowing count) is left out and named in an ErrUnstorable error
// while the rest of its batch is stored, and a 64 KiB MTA-STS policy, the
// largest there is, is stored among many small domains. Of Store.Keys it
// checks that more keys than a page are all listed, that the loop may
// read, write and delete while it iterates (a lock held across a yield
// deadlocks: the check gives up after a minute) and still gets every key
// stored throughout, that a loop may stop early, and that a canceled ctx
// yields one error.
func RunStore(t *testing.T, newStore StoreFactory) {
	ctx := context.Background()
	day := tlsrpt.DayOf(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))
	k1 := tlsrpt.Key{Domain: "example.net", Day: day}
	k2 := tlsrpt.Key{Domain: "example.org", Day: day + 1}

	t.Run("Empty", func(t *testing.T) {
		s, _ := newStore(t)
		if a, err := s.Load(ctx, k1); a != nil || err != nil {
			t.Errorf("Load = %v, %v; want nil, nil", a, err)
		}
		if st, err := s.State(ctx, k1); st != nil || err != nil {
			t.Errorf("State = %q, %v; want nil, nil", st, err)
		}
		if ks, err := keys(ctx, s); len(ks) != 0 || err != nil {
			t.Errorf("Keys = %v, %v", ks, err)
		}
	})

	t.Run("AddSums", func(t *testing.T) {
		s, _ := newStore(t)
		a, b := sampleAggregate(k1, 1), sampleAggregate(k1, 2)
		if err := s.Add(ctx, tlsrpt.NewBatchID(), []*tlsrpt.Aggregate{a, sampleAggregate(k2, 1)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Add(ctx, tlsrpt.NewBatchID(), []*tlsrpt.Aggregate{b}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx, k1)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := tlsrpt.Merge(a, b)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Load after two Adds:\n got %+v\nwant %+v", got, want)
		}
		ks, err := keys(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if !sameKeys(ks, []tlsrpt.Key{k1, k2}) {
			t.Errorf("Keys = %v", ks)
		}
	})

	t.Run("StateAndDelete", func(t *testing.T) {
		s, _ := newStore(t)
		if err := s.SetState(ctx, k2, []byte("v1")); err != nil {
			t.Fatal(err)
		}
		if err := s.SetState(ctx, k2, []byte("v2")); err != nil {
			t.Fatal(err)
		}
		if st, err := s.State(ctx, k2); string(st) != "v2" || err != nil {
			t.Errorf("State = %q, %v", st, err)
		}
		if ks, _ := keys(ctx, s); !sameKeys(ks, []tlsrpt.Key{k2}) {
			t.Errorf("a key with only state is not listed: %v", ks)
		}
		s.Add(ctx, tlsrpt.NewBatchID(), []*tlsrpt.Aggregate{sampleAggregate(k2, 1)})
		if err := s.Delete(ctx, k2); err != nil {
			t.Fatal(err)
		}
		a, _ := s.Load(ctx, k2)
		st, _ := s.State(ctx, k2)
		ks, _ := keys(ctx, s)
		if a != nil || st != nil || len(ks) != 0 {
			t.Errorf("after Delete: %v %q %v", a, st, ks)
		}
		if err := s.Delete(ctx, k2); err != nil {
			t.Errorf("second Delete: %v", err)
		}
	})

	t.Run("Lock", func(t *testing.T) {
		s, advance := newStore(t)
		lock := func(owner string, want bool) {
			t.Helper()
			ok, err := s.Lock(ctx, k1, owner, time.Minute)
			if err != nil || ok != want {
				t.Fatalf("Lock(%s) = %v, %v; want %v", owner, ok, err, want)
			}
		}
		lock("a", true)
		lock("b", false)
		lock("a", true) // re-entrant, extends
		if err := s.Unlock(ctx, k1, "b"); err != nil {
			t.Fatal(err)
		}
		lock("b", false) // b's Unlock did not free a's lock
		if ok, _ := s.Lock(ctx, k2, "b", time.Minute); !ok {
			t.Fatal("locks are not per key")
		}
		if err := s.Unlock(ctx, k1, "a"); err != nil {
			t.Fatal(err)
		}
		lock("b", true)
		if advance != nil {
			advance(2 * time.Minute)
			lock("a", true) // b's lock expired
		}
	})

	t.Run("ConcurrentAdds", func(t *testing.T) {
		s, _ := newStore(t)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 10 {
					if err := s.Add(ctx, tlsrpt.NewBatchID(), []*tlsrpt.Aggregate{sampleAggregate(k1, 1)}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		got, err := s.Load(ctx, k1)
		if err != nil {
			t.Fatal(err)
		}
		if n, want := got.Sessions(), 80*sampleAggregate(k1, 1).Sessions(); n != want {
			t.Errorf("sessions = %d, want %d", n, want)
		}
	})

	t.Run("BatchOnce", func(t *testing.T) {
		s, _ := newStore(t)
		id := tlsrpt.NewBatchID()
		batch := []*tlsrpt.Aggregate{sampleAggregate(k1, 1), sampleAggregate(k2, 2)}
		for range 3 {
			if err := s.Add(ctx, id, batch); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for range 8 { // retries racing each other, as from a fleet's retries
			wg.Go(func() {
				if err := s.Add(ctx, id, batch); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		wantSessions := func(k tlsrpt.Key, want int64) {
			t.Helper()
			got, err := s.Load(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || got.Sessions() != want {
				t.Fatalf("Load(%s) = %+v; want %d sessions", k, got, want)
			}
		}
		wantSessions(k1, sampleAggregate(k1, 1).Sessions())
		wantSessions(k2, sampleAggregate(k2, 2).Sessions())
		// Another id is another batch.
		if err := s.Add(ctx, tlsrpt.NewBatchID(), batch); err != nil {
			t.Fatal(err)
		}
		wantSessions(k1, 2*sampleAggregate(k1, 1).Sessions())
		// An empty batch is a no-op; the zero id is refused.
		if err := s.Add(ctx, tlsrpt.NewBatchID(), nil); err != nil {
			t.Errorf("empty batch: %v", err)
		}
		if err := s.Add(ctx, tlsrpt.BatchID{}, batch); !errors.Is(err, tlsrpt.ErrNoBatchID) {
			t.Errorf("zero id: %v, want ErrNoBatchID", err)
		}
		wantSessions(k1, 2*sampleAggregate(k1, 1).Sessions())
	})

	t.Run("Unstorable", func(t *testing.T) {
		s, _ := newStore(t)
		negative := sampleAggregate(tlsrpt.Key{Domain: "negative.example", Day: day}, 1)
		negative.Policies[0].Summary.TotalSuccessfulSessionCount = -5
		bad := []*tlsrpt.Aggregate{
			negative,
			sampleAggregate(tlsrpt.Key{Domain: "Upper.Example", Day: day}, 1),
			sampleAggregate(tlsrpt.Key{Domain: "not a domain", Day: day}, 1),
			sampleAggregate(tlsrpt.Key{Domain: strings.Repeat("a", 40<<10) + ".example", Day: day}, 1),
			sampleAggregate(tlsrpt.Key{Domain: "", Day: day}, 1),
			nil,
		}
		id := tlsrpt.NewBatchID()
		err := s.Add(ctx, id, append([]*tlsrpt.Aggregate{sampleAggregate(k1, 1)}, append(bad, sampleAggregate(k2, 1))...))
		if !errors.Is(err, tlsrpt.ErrUnstorable) {
			t.Fatalf("Add of a batch with bad aggregates: %v, want ErrUnstorable", err)
		}
		for _, name := range []string{"negative.example", "Upper.Example", "not a domain"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("the error does not name %q: %v", name, err)
			}
		}
		for _, k := range []tlsrpt.Key{k1, k2} {
			if a, err := s.Load(ctx, k); err != nil || a == nil || a.Sessions() != sampleAggregate(k, 1).Sessions() {
				t.Errorf("Load(%s) = %+v, %v; the good aggregates of the batch must be stored", k, a, err)
			}
		}
		if a, err := s.Load(ctx, negative.Key); a != nil || err != nil {
			t.Errorf("Load(%s) = %+v, %v; want nothing stored", negative.Key, a, err)
		}
		// The batch counts as applied.
		if err := s.Add(ctx, id, []*tlsrpt.Aggregate{sampleAggregate(k1, 1)}); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Load(ctx, k1); a.Sessions() != sampleAggregate(k1, 1).Sessions() {
			t.Errorf("a batch left partly out was applied again: %d sessions", a.Sessions())
		}
	})

	t.Run("Overflow", func(t *testing.T) {
		s, _ := newStore(t)
		count := func(k tlsrpt.Key, n int64) *tlsrpt.Aggregate {
			return &tlsrpt.Aggregate{Key: k, Policies: []tlsrpt.PolicyResult{{
				Policy:  tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: k.Domain},
				Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: n},
			}}}
		}
		if err := s.Add(ctx, tlsrpt.NewBatchID(), []*tlsrpt.Aggregate{count(k1, math.MaxInt64-5)}); err != nil {
			t.Fatal(err)
		}
		err := s.Add(ctx, tlsrpt.NewBatchID(), []*tlsrpt.Aggregate{count(k1, 10), count(k2, 10)})
		if !errors.Is(err, tlsrpt.ErrUnstorable) || !strings.Contains(err.Error(), k1.Domain) {
			t.Fatalf("Add that overflows %s: %v, want ErrUnstorable naming it", k1, err)
		}
		if a, err := s.Load(ctx, k1); err != nil || a.Sessions() != math.MaxInt64-5 {
			t.Errorf("Load(%s) = %+v, %v; want the count before the overflow", k1, a, err)
		}
		if a, err := s.Load(ctx, k2); err != nil || a == nil || a.Sessions() != 10 {
			t.Errorf("Load(%s) = %+v, %v; want 10 sessions", k2, a, err)
		}
	})

	t.Run("KeysPaged", func(t *testing.T) {
		s, _ := newStore(t)
		// More keys than a page of any of our stores, with counts only,
		// state only, and both.
		const n = 2500
		var aggs []*tlsrpt.Aggregate
		var want []tlsrpt.Key
		for i := range n {
			k := tlsrpt.Key{Domain: fmt.Sprintf("d%04d.example", i), Day: day + tlsrpt.Day(i%3)}
			want = append(want, k)
			if i%5 != 0 {
				aggs = append(aggs, noPolicyFound(k, 1))
			}
			if i%5 == 0 || i%7 == 0 {
				if err := s.SetState(ctx, k, []byte("due")); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Add(ctx, tlsrpt.NewBatchID(), aggs); err != nil {
			t.Fatal(err)
		}
		got, err := keys(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if !sameKeys(slices.Compact(sortKeys(got)), want) {
			t.Errorf("Keys listed %d keys, %d distinct; want the %d keys stored", len(got), len(slices.Compact(sortKeys(got))), n)
		}
		if len(got) > 2*n {
			t.Errorf("Keys listed %d keys for %d stored", len(got), n)
		}
	})

	t.Run("KeysWhileChanging", func(t *testing.T) {
		// A Scheduler's pass: the loop body reads, writes and deletes
		// while the iteration goes on, so Keys must hold no lock and no
		// transaction across a yield; every key that stays is listed.
		s, _ := newStore(t)
		const n = 1500
		var aggs []*tlsrpt.Aggregate
		for i := range n {
			aggs = append(aggs, noPolicyFound(tlsrpt.Key{Domain: fmt.Sprintf("k%04d.example", i), Day: day}, 1))
		}
		if err := s.Add(ctx, tlsrpt.NewBatchID(), aggs); err != nil {
			t.Fatal(err)
		}
		doomed := func(k tlsrpt.Key) bool { return strings.HasSuffix(k.Domain, "7.example") }
		seen := map[tlsrpt.Key]bool{}
		done := make(chan error, 1)
		go func() {
			added := 0
			for k, err := range s.Keys(ctx) {
				if err != nil {
					done <- err
					return
				}
				seen[k] = true
				if len(seen) == 1 { // delete some keys, listed or not
					for _, a := range aggs {
						if doomed(a.Key) && a.Key != k {
							if err := s.Delete(ctx, a.Key); err != nil {
								done <- err
								return
							}
						}
					}
				}
				if _, err := s.Load(ctx, k); err != nil {
					done <- err
					return
				}
				if err := s.SetState(ctx, k, []byte("scheduled")); err != nil {
					done <- err
					return
				}
				if added < 100 { // keys added meanwhile may come or not
					nk := tlsrpt.Key{Domain: fmt.Sprintf("new%03d.example", added), Day: day}
					if err := s.Add(ctx, tlsrpt.NewBatchID(), []*tlsrpt.Aggregate{noPolicyFound(nk, 1)}); err != nil {
						done <- err
						return
					}
					added++
				}
			}
			done <- nil
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Keys did not finish in a minute: does it hold a lock while it yields?")
		}
		for _, a := range aggs {
			if k := a.Key; !doomed(k) && !seen[k] {
				t.Errorf("Keys did not list %s, stored throughout", k)
			}
		}
	})

	t.Run("KeysStop", func(t *testing.T) {
		s, _ := newStore(t)
		var aggs []*tlsrpt.Aggregate
		for i := range 1200 {
			aggs = append(aggs, noPolicyFound(tlsrpt.Key{Domain: fmt.Sprintf("s%04d.example", i), Day: day}, 1))
		}
		if err := s.Add(ctx, tlsrpt.NewBatchID(), aggs); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, err := range s.Keys(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 3 {
				break
			}
		}
		// The store works on after a loop that stopped early.
		if err := s.Delete(ctx, aggs[0].Key); err != nil {
			t.Fatal(err)
		}
		if err := s.Add(ctx, tlsrpt.NewBatchID(), aggs[:1]); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		var errs []error
		for k, err := range s.Keys(cctx) {
			if err != nil {
				if k != (tlsrpt.Key{}) {
					t.Errorf("error %v yielded with key %s", err, k)
				}
				errs = append(errs, err)
			}
		}
		if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Errorf("Keys with a canceled ctx yielded errors %v; want one wrapping context.Canceled", errs)
		}
	})

	t.Run("LargePolicy", func(t *testing.T) {
		s, _ := newStore(t)
		var c tlsrpt.Collector
		big := LargePolicy("big.example")
		for i := range 3 {
			r := tlsrpt.Result{Policy: big, Time: day.Start(), MXHost: big.MXHost[i]}
			if i > 0 {
				r.ResultType = tlsrpt.ResultCertificateNotTrusted
			}
			if err := c.Record(r); err != nil {
				t.Fatalf("the 64 KiB policy is not valid: %v", err)
			}
		}
		for i := range 100 {
			d := fmt.Sprintf("small%03d.example", i)
			c.Record(tlsrpt.Result{Policy: tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: d,
				String: []string{"version: STSv1", "mode: enforce", "mx: mx." + d, "max_age: 86400"},
				MXHost: []string{"mx." + d}}, Time: day.Start()})
		}
		batch := c.Snapshot()
		if err := s.Add(ctx, tlsrpt.NewBatchID(), batch); err != nil {
			t.Fatalf("Add: %v", err)
		}
		for _, want := range batch {
			got, err := s.Load(ctx, want.Key)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Load(%s) differs from what was added", want.Key)
			}
		}
	})
}

// LargePolicy returns a valid MTA-STS policy for dom whose policy file
// would be just under cache.MaxPolicySize (64 KiB), the largest body
// strictmx fetches: thousands of mx lines. Stores must keep it like any
// other.
func LargePolicy(dom string) tlsrpt.Policy {
	p := tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: dom,
		String: []string{"version: STSv1", "mode: enforce", "max_age: 604800"}}
	size := 0
	for _, l := range p.String {
		size += len(l) + len("\r\n")
	}
	for i := 0; ; i++ {
		mx := fmt.Sprintf("mx%05d.%s", i, dom)
		l := "mx: " + mx
		if size+len(l)+len("\r\n") > cache.MaxPolicySize {
			return p
		}
		size += len(l) + len("\r\n")
		p.String = append(p.String, l)
		p.MXHost = append(p.MXHost, mx)
	}
}

// keys collects s.Keys.
func keys(ctx context.Context, s tlsrpt.Store) ([]tlsrpt.Key, error) {
	var out []tlsrpt.Key
	for k, err := range s.Keys(ctx) {
		if err != nil {
			return out, err
		}
		out = append(out, k)
	}
	return out, nil
}

func noPolicyFound(k tlsrpt.Key, n int64) *tlsrpt.Aggregate {
	return &tlsrpt.Aggregate{Key: k, Policies: []tlsrpt.PolicyResult{{
		Policy:  tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: k.Domain},
		Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: n},
	}}}
}

func sortKeys(ks []tlsrpt.Key) []tlsrpt.Key {
	ks = slices.Clone(ks)
	slices.SortFunc(ks, compareKeys)
	return ks
}

func compareKeys(x, y tlsrpt.Key) int {
	if x.Day != y.Day {
		return int(x.Day - y.Day)
	}
	return strings.Compare(x.Domain, y.Domain)
}

func sameKeys(a, b []tlsrpt.Key) bool {
	return slices.Equal(sortKeys(a), sortKeys(b))
}

// sampleAggregate has every kind of policy and detail field, scaled by n.
func sampleAggregate(k tlsrpt.Key, n int64) *tlsrpt.Aggregate {
	a := &tlsrpt.Aggregate{Key: k, Policies: []tlsrpt.PolicyResult{
		{
			Policy: tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: k.Domain,
				String: []string{"version: STSv1", "mode: enforce", "mx: mx." + k.Domain, "max_age: 86400"},
				MXHost: []string{"mx." + k.Domain}},
			Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: 10 * n, TotalFailureSessionCount: 3 * n},
			FailureDetails: []tlsrpt.FailureDetail{
				{ResultType: tlsrpt.ResultCertificateExpired, ReceivingMXHostname: "mx." + k.Domain,
					ReceivingIP: netip.MustParseAddr("2001:db8::1"), SendingMTAIP: netip.MustParseAddr("192.0.2.1"),
					ReceivingMXHelo: "mx ESMTP \"quoted\"\ttab", FailedSessionCount: 2 * n},
				{ResultType: tlsrpt.ResultValidationFailure, FailureReasonCode: tlsrpt.ReasonMXMismatch,
					AdditionalInformation: "https://sender.example/x?y=1", FailedSessionCount: n},
			},
		},
		{
			Policy:  tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: k.Domain},
			Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: n},
		},
	}}
	m, _ := tlsrpt.Merge(a)
	return m
}
