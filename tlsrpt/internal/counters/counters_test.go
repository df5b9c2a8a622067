package counters

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
)

var testKey = tlsrpt.Key{Domain: "example.net", Day: tlsrpt.DayOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))}

// samples are aggregates of the shapes durable stores must keep: an sts
// policy with successes and failures of several details, IPv4, IPv6 and
// missing addresses, a tlsa policy and no-policy-found.
func samples(t testing.TB) map[string]*tlsrpt.Aggregate {
	t.Helper()
	sts := tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "example.net",
		String: []string{"version: STSv1", "mode: enforce", "mx: *.example.net", "max_age: 86400"}, MXHost: []string{"*.example.net"}}
	tlsa := tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: "mx.example.net", String: []string{"3 1 1 0123456789abcdef"}}
	none := tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: "example.net"}
	out := map[string]*tlsrpt.Aggregate{}
	add := func(name string, prs ...tlsrpt.PolicyResult) {
		a, err := tlsrpt.Merge(&tlsrpt.Aggregate{Key: testKey, Policies: prs})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = a
	}
	add("all-success", tlsrpt.PolicyResult{Policy: sts, Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: 5}})
	add("failures", tlsrpt.PolicyResult{Policy: sts,
		Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: 2, TotalFailureSessionCount: 3},
		FailureDetails: []tlsrpt.FailureDetail{
			{ResultType: tlsrpt.ResultValidationFailure, FailureReasonCode: tlsrpt.ReasonMXMismatch,
				ReceivingMXHostname: "evil.example.org", FailedSessionCount: 1},
			{ResultType: tlsrpt.ResultCertificateExpired, SendingMTAIP: netip.MustParseAddr("192.0.2.1"),
				ReceivingIP: netip.MustParseAddr("2001:db8::25"), ReceivingMXHostname: "mx1.example.net",
				ReceivingMXHelo: "mx1", AdditionalInformation: "https://example.net/why", FailedSessionCount: 2},
		}})
	add("tlsa-and-none",
		tlsrpt.PolicyResult{Policy: tlsa, Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: 1}},
		tlsrpt.PolicyResult{Policy: none, Summary: tlsrpt.Summary{TotalFailureSessionCount: 1},
			FailureDetails: []tlsrpt.FailureDetail{{ResultType: tlsrpt.ResultSTSPolicyFetchError, FailedSessionCount: 1}}})
	return out
}

// TestRoundTrip: an aggregate survives its counter encoding.
func TestRoundTrip(t *testing.T) {
	for name, a := range samples(t) {
		back, err := Decode(a.Key, Encode(a))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, a) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, back, a)
		}
	}
	if a, err := Decode(testKey, nil); a != nil || err != nil {
		t.Fatalf("no counters: %v, %v; want nil, nil", a, err)
	}
}

func TestKeyName(t *testing.T) {
	name := KeyName(testKey)
	if name != "2026-03-01/example.net" {
		t.Fatalf("KeyName = %q", name)
	}
	if k, err := ParseKeyName(name); err != nil || k != testKey {
		t.Fatalf("ParseKeyName(%q) = %v, %v", name, k, err)
	}
	for _, bad := range []string{"", "2026-03-01", "20260301/example.net", "2026-13-01/x"} {
		if _, err := ParseKeyName(bad); err == nil {
			t.Errorf("ParseKeyName(%q) accepted", bad)
		}
	}
}

func FuzzStoredCounters(f *testing.F) {
	// Names as the stores write them.
	for _, c := range Encode(samples(f)["failures"]) {
		f.Add(c.Name, c.N)
	}
	// Damaged.
	f.Add(`s["sts"`, int64(1))
	f.Add("f[\"sts\",\"a.example\",[],[]]\n[1]", int64(-3))
	f.Add("", int64(0))
	f.Fuzz(func(t *testing.T, name string, n int64) {
		// Stored data from a damaged or foreign store: decoding must
		// fail cleanly or give an aggregate that encodes again.
		a, err := Decode(testKey, []Counter{{name, n}})
		if err != nil || a == nil {
			return
		}
		if _, err := Decode(a.Key, Encode(a)); err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
	})
}

// TestEncodeUniqueNames: details that differ only in what counter names
// drop share one counter, summed.
func TestEncodeUniqueNames(t *testing.T) {
	p := tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: "example.net"}
	a := &tlsrpt.Aggregate{Key: testKey, Policies: []tlsrpt.PolicyResult{{Policy: p,
		Summary: tlsrpt.Summary{TotalFailureSessionCount: 3},
		FailureDetails: []tlsrpt.FailureDetail{
			{ResultType: tlsrpt.ResultSTARTTLSNotSupported, ReceivingIP: netip.MustParseAddr("192.0.2.1"), FailedSessionCount: 1},
			{ResultType: tlsrpt.ResultSTARTTLSNotSupported, ReceivingIP: netip.MustParseAddr("::ffff:192.0.2.1"), FailedSessionCount: 2},
		}}}}
	cs := Encode(a)
	if len(cs) != 1 || cs[0].N != 3 {
		t.Fatalf("Encode = %+v, want one counter of 3", cs)
	}
}
