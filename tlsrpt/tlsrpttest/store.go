package tlsrpttest

import (
	"context"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
)

// StoreFactory returns a new, empty Store for one subtest. advance, if not
// nil, moves the clock the store uses for lock expiry forward; stores
// whose clock cannot be moved (Redis) return nil and the expiry check is
// skipped.
type StoreFactory func(t *testing.T) (s tlsrpt.Store, advance func(time.Duration))

// RunStore runs the conformance suite for tlsrpt.Store implementations,
// in the manner of testing/fstest: every Store must pass it.
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
		if ks, err := s.Keys(ctx); len(ks) != 0 || err != nil {
			t.Errorf("Keys = %v, %v", ks, err)
		}
	})

	t.Run("AddSums", func(t *testing.T) {
		s, _ := newStore(t)
		a, b := sampleAggregate(k1, 1), sampleAggregate(k1, 2)
		if err := s.Add(ctx, []*tlsrpt.Aggregate{a, sampleAggregate(k2, 1)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Add(ctx, []*tlsrpt.Aggregate{b}); err != nil {
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
		keys, err := s.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !sameKeys(keys, []tlsrpt.Key{k1, k2}) {
			t.Errorf("Keys = %v", keys)
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
		if ks, _ := s.Keys(ctx); !sameKeys(ks, []tlsrpt.Key{k2}) {
			t.Errorf("a key with only state is not listed: %v", ks)
		}
		s.Add(ctx, []*tlsrpt.Aggregate{sampleAggregate(k2, 1)})
		if err := s.Delete(ctx, k2); err != nil {
			t.Fatal(err)
		}
		a, _ := s.Load(ctx, k2)
		st, _ := s.State(ctx, k2)
		ks, _ := s.Keys(ctx)
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
					if err := s.Add(ctx, []*tlsrpt.Aggregate{sampleAggregate(k1, 1)}); err != nil {
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
}

func sameKeys(a, b []tlsrpt.Key) bool {
	cmp := func(x, y tlsrpt.Key) int {
		if x.Day != y.Day {
			return int(x.Day - y.Day)
		}
		if x.Domain < y.Domain {
			return -1
		}
		if x.Domain > y.Domain {
			return 1
		}
		return 0
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
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
