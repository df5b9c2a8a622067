package main

import (
	"bytes"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
)

// wantFields checks fields of a JSON document by dotted path; an index
// into an array is a number ("mx.0.dane.verdict").
func wantFields(t *testing.T, what string, doc map[string]any, want map[string]any) {
	t.Helper()
	for path, w := range want {
		if got := fieldIndexed(doc, path); got != w {
			t.Errorf("%s: %s = %#v, want %#v", what, path, got, w)
		}
	}
}

func fieldIndexed(doc map[string]any, path string) any {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// Each DANE case of the demo world, and an unsigned one, through --json.
func TestDANEDemoJSON(t *testing.T) {
	for name, want := range map[string]map[string]any{
		// Unsigned: DANE does not apply, MTA-STS as before.
		"enforce-ok.test": {
			"resolver_trusted": true, "mx_dnssec": stateInsecure,
			"mx.0.governed_by": governsMTASTS, "mx.0.dane.signed": false, "mx.0.dane.applies": false,
			"mx.0.dane.verdict": "", "mx.0.dane.steps.0.type": "A", "mx.0.dane.steps.0.dnssec": stateInsecure,
			"mx.0.decision": decisionDeliver, "verdict": verdictDeliver,
		},
		"dane-ok.test": {
			"mx_dnssec": stateSecure, "mx.0.governed_by": governsDANE,
			"mx.0.dane.signed": true, "mx.0.dane.applies": true, "mx.0.dane.usable": 1.0,
			"mx.0.dane.base_domain": "mx1.dane-ok.test", "mx.0.dane.steps.2.type": "TLSA",
			"mx.0.dane.steps.2.name": "_25._tcp.mx1.dane-ok.test", "mx.0.dane.steps.2.dnssec": stateSecure,
			"mx.0.dane.tlsa.0.usable": true, "mx.0.dane.verdict": danePass, "mx.0.dane.result_type": "",
			"mx.0.decision": decisionDeliver, "verdict": verdictDeliver,
		},
		"dane-bad-digest.test": {
			"mx.0.governed_by": governsDANE, "mx.0.dane.tlsa.0.usable": true,
			"mx.0.dane.verdict": daneFail, "mx.0.dane.result_type": string(tlsrpt.ResultCertificateNotTrusted),
			"mx.0.dane.reason": tlsrpt.ReasonDANENoMatch, "mx.0.decision": decisionSkip,
			"mx.0.starttls": true, "verdict": verdictTempFail,
		},
		"dane-beats-sts.test": {
			"mx.0.matches_policy": false, "mx.0.governed_by": governsDANE, "mx.0.dane.verdict": danePass,
			"mx.0.result_type": "", "mx.0.decision": decisionDeliver, "verdict": verdictDeliver,
		},
		"dane-bogus-tlsa.test": {
			"mx.0.governed_by": governsDANE, "mx.0.dane.steps.2.dnssec": stateFailed,
			"mx.0.dane.steps.2.result": resultFailed, "mx.0.dane.applies": false,
			"mx.0.dane.verdict": daneFail, "mx.0.dane.result_type": string(tlsrpt.ResultDNSSECInvalid),
			"mx.0.dane.reason": "servfail", "mx.0.decision": decisionSkip, "mx.0.starttls": false,
			"verdict": verdictTempFail,
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, _, _ := stscheck(t, "--demo", "--json", name)
			docs := decodeAll(t, out)
			if len(docs) != 1 {
				t.Fatalf("%d documents", len(docs))
			}
			wantFields(t, name, docs[0], want)
		})
	}

	// The failures are problems, with their reasons.
	out, _, _ := stscheck(t, "--demo", "--json", "dane-bad-digest.test", "dane-bogus-tlsa.test")
	docs := decodeAll(t, out)
	for i, want := range []string{
		"mx1.dane-bad-digest.test: DANE certificate-not-trusted (dane-no-match): " + dane.ErrNoMatch.Error(),
		"mx1.dane-bogus-tlsa.test: DANE dnssec-invalid (servfail): " + dane.ErrLookup.Error(),
	} {
		p := problemsOf(t, docs[i])
		if len(p) != 2 || !strings.HasPrefix(p[0], want) || p[1] != "no MX host is acceptable under DANE: senders queue the mail and retry" {
			t.Errorf("%s: problems %q, want %q... first", docs[i]["domain"], p, want)
		}
	}
}

// The human output shows the DNSSEC states, the records and the verdict.
func TestDANEDemoHuman(t *testing.T) {
	out, _, _ := stscheck(t, "--demo", "dane-ok.test", "dane-bad-digest.test", "enforce-ok.test")
	for _, want := range []string{
		"dnssec    MX RRset secure",
		"governed by DANE alone",
		"dns A secure, AAAA secure (no records), TLSA _25._tcp.mx1.dane-ok.test secure",
		"DANE-EE(3) SPKI(1) SHA2-256(1): usable",
		"DANE pass",
		"verdict   deliver: over TLS that DANE authenticates",
		"DANE certificate-not-trusted (dane-no-match): " + dane.ErrNoMatch.Error(),
		"no TLSA lookup: the host's zone is not signed, so DANE does not apply",
		"governed by MTA-STS",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// checkIn checks domain in s with the checker the demo uses (the
// harness's DNS, CA and dialer) and returns the JSON document.
func checkIn(t *testing.T, s *mtaststest.Server, domain string) map[string]any {
	t.Helper()
	c := (&demo{s: s}).checker(&options{timeout: 5 * time.Second})
	b, err := json.Marshal(c.check(t.Context(), domain))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// Contract section 7: precedence per host, shown as governed_by, and the
// verdict that follows from it.
func TestDANEPrecedence(t *testing.T) {
	const day = 86400
	bad := mtaststest.DANEEESPKISHA256
	bad.Mismatch = true
	for _, tc := range []struct {
		name   string
		domain string
		setup  func(s *mtaststest.Server)
		want   map[string]any
	}{
		{
			// RFC 7672, Section 2.2.1: an unsigned domain hosted by a
			// provider whose zone is signed gets DANE for the provider's
			// host; MTA-STS judges it too.
			name:   "insecure MX, secure TLSA, enforce",
			domain: "hosted.test",
			setup: func(s *mtaststest.Server) {
				s.Signed("provider.test")
				s.Domain("hosted.test").Record("1").Policy(mtasts.ModeEnforce, day, "mx.provider.test").
					MXHost(10, "mx.provider.test", mtaststest.MXConfig{})
				s.LookupMXHost("mx.provider.test").PublishTLSA(0, mtaststest.DANEEESPKISHA256)
			},
			want: map[string]any{
				"mx_dnssec": stateInsecure, "mx.0.governed_by": governsBoth, "mx.0.dane.verdict": danePass,
				"mx.0.result_type": "", "mx.0.decision": decisionDeliver, "verdict": verdictDeliver,
			},
		},
		{
			name:   "insecure MX, wrong digest, enforce",
			domain: "hosted.test",
			setup: func(s *mtaststest.Server) {
				s.Signed("provider.test")
				s.Domain("hosted.test").Record("1").Policy(mtasts.ModeEnforce, day, "mx.provider.test").
					MXHost(10, "mx.provider.test", mtaststest.MXConfig{})
				s.LookupMXHost("mx.provider.test").PublishTLSA(0, bad)
			},
			want: map[string]any{
				"mx.0.governed_by": governsBoth, "mx.0.dane.verdict": daneFail, "mx.0.cert_valid": true,
				"mx.0.decision": decisionSkip, "verdict": verdictTempFail,
				"problems.1": "no MX host is acceptable under DANE and the enforce policy: senders queue the mail and retry",
			},
		},
		{
			// RFC 8461, Section 2: a testing policy never softens DANE.
			name:   "secure MX, wrong digest, testing",
			domain: "strict.test",
			setup: func(s *mtaststest.Server) {
				s.Signed("strict.test")
				s.Domain("strict.test").Record("1").Policy(mtasts.ModeTesting, day, "mx1.strict.test").
					MXHost(10, "mx1.strict.test", mtaststest.MXConfig{})
				s.LookupMXHost("mx1.strict.test").PublishTLSA(0, bad)
			},
			want: map[string]any{
				"mx_dnssec": stateSecure, "mx.0.governed_by": governsDANE, "mx.0.dane.verdict": daneFail,
				"mx.0.decision": decisionSkip, "verdict": verdictTempFail,
			},
		},
		{
			// RFC 7672, Section 2.2: no usable record still requires TLS,
			// any certificate accepted, and the session fails.
			name:   "secure MX, only unusable records",
			domain: "pkix.test",
			setup: func(s *mtaststest.Server) {
				s.Signed("pkix.test")
				s.Domain("pkix.test").MXHost(10, "mx1.pkix.test", mtaststest.MXConfig{Certificate: mtaststest.CertSelfSigned})
				mx := s.LookupMXHost("mx1.pkix.test")
				mx.PublishTLSA(0, mtaststest.TLSASpec{Usage: 1, Selector: 1, MatchingType: 1})
			},
			want: map[string]any{
				"mx.0.governed_by": governsDANE, "mx.0.dane.applies": true, "mx.0.dane.usable": 0.0,
				"mx.0.dane.tlsa.0.usable": false,
				"mx.0.dane.tlsa.0.note":   "usage PKIX-EE(1) is not used for SMTP: only DANE-TA(2) and DANE-EE(3) are",
				"mx.0.dane.verdict":       daneFail, "mx.0.dane.result_type": string(tlsrpt.ResultTLSAInvalid),
				"mx.0.dane.reason": tlsrpt.ReasonTLSAUnusable, "mx.0.decision": decisionDeliver,
				"verdict": verdictDeliver,
			},
		},
		{
			// Per host, never per domain: the unsigned second host is
			// judged as without DANE.
			name:   "DANE host fails, unsigned host next",
			domain: "mixed.test",
			setup: func(s *mtaststest.Server) {
				s.Signed("signed.test")
				s.Domain("mixed.test").
					MXHost(10, "mx.signed.test", mtaststest.MXConfig{}).
					MXHost(20, "mx.unsigned.test", mtaststest.MXConfig{})
				s.LookupMXHost("mx.signed.test").PublishTLSA(0, bad)
			},
			want: map[string]any{
				"mx.0.governed_by": governsDANE, "mx.0.decision": decisionSkip,
				"mx.1.governed_by": governsNone, "mx.1.dane.signed": false, "mx.1.decision": decisionDeliver,
				"verdict": verdictOpportunisic,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mtaststest.NewServer(t)
			tc.setup(s)
			doc := checkIn(t, s, tc.domain)
			wantFields(t, tc.name, doc, tc.want)
		})
	}
}

// Through --dns and a real dialer, the TLSA records are those of
// --smtp-port.
func TestDANEThroughDNS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mismatch bool
		verdict  string
	}{
		{"matching", false, verdictDeliver},
		{"wrong digest", true, verdictTempFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mtaststest.NewServer(t)
			s.Signed("dane.test").Domain("dane.test").MXHost(10, "mx.dane.test", mtaststest.MXConfig{})
			mx := s.LookupMXHost("mx.dane.test")
			_, port, err := net.SplitHostPort(mx.Addr())
			if err != nil {
				t.Fatal(err)
			}
			p, _ := strconv.Atoi(port)
			spec := mtaststest.DANEEESPKISHA256
			spec.Mismatch = tc.mismatch
			mx.PublishTLSA(p, spec)
			out, _, _ := stscheck(t, "--json", "--dns", s.DNSAddr(), "--smtp-port", port, "--timeout", "5s", "dane.test")
			docs := decodeAll(t, out)
			if len(docs) != 1 {
				t.Fatalf("%d documents", len(docs))
			}
			wantFields(t, tc.name, docs[0], map[string]any{
				"resolver_trusted": true, "mx.0.dane.applies": true,
				"mx.0.dane.steps.2.name": mx.TLSAName(p), "verdict": tc.verdict,
			})
			// The SNI is the TLSA base domain (RFC 7672, Section 8.1).
			if got := mx.ServerNames(); !slices.Equal(got, []string{"mx.dane.test"}) {
				t.Errorf("SNI %q", got)
			}
		})
	}
}

// A resolver that is not trusted: its AD bit is not believed, so no
// answer is secure and DANE cannot be judged, which the output says
// rather than calling the zone insecure; --trust-ad believes it.
// "localhost" is a name, not a loopback address, so a Stub does not trust
// it by itself.
func TestUntrustedResolver(t *testing.T) {
	if addrs, err := net.DefaultResolver.LookupHost(t.Context(), "localhost"); err != nil || len(addrs) == 0 || addrs[0] != "127.0.0.1" {
		t.Skipf("localhost is %q (%v), not 127.0.0.1 first", addrs, err)
	}
	s := mtaststest.NewServer(t)
	s.Signed("dane.test").Domain("dane.test").MXHost(10, "mx.dane.test", mtaststest.MXConfig{})
	mx := s.LookupMXHost("mx.dane.test")
	_, port, _ := net.SplitHostPort(mx.Addr())
	p, _ := strconv.Atoi(port)
	mx.PublishTLSA(p, mtaststest.DANEEESPKISHA256)
	_, dnsPort, _ := net.SplitHostPort(s.DNSAddr())
	args := []string{"--dns", "localhost:" + dnsPort, "--smtp-port", port, "--timeout", "5s", "--no-smtp"}

	out, _, _ := stscheck(t, append([]string{"--json"}, append(args, "dane.test")...)...)
	docs := decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	wantFields(t, "untrusted", docs[0], map[string]any{
		"resolver_trusted": false, "mx_dnssec": stateUnknown, "mx.0.dane.steps.0.dnssec": stateUnknown,
		"mx.0.dane.signed": false, "mx.0.dane.applies": false, "mx.0.governed_by": governsNone,
	})
	if n := s.Queries(mx.TLSAName(p), "TLSA"); n != 0 {
		t.Errorf("%d TLSA queries through an untrusted resolver", n)
	}
	human, _, _ := stscheck(t, append(args, "dane.test")...)
	for _, want := range []string{"unknown: the resolver is not trusted, so DANE cannot be judged", "--trust-ad", "DANE not judged"} {
		if !strings.Contains(human, want) {
			t.Errorf("output lacks %q:\n%s", want, human)
		}
	}
	if strings.Contains(human, stateInsecure) {
		t.Errorf("an untrusted resolver's answers shown as insecure:\n%s", human)
	}

	out, _, _ = stscheck(t, append([]string{"--json", "--trust-ad"}, append(args, "dane.test")...)...)
	docs = decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	wantFields(t, "--trust-ad", docs[0], map[string]any{
		"resolver_trusted": true, "mx_dnssec": stateSecure, "mx.0.dane.applies": true, "mx.0.governed_by": governsDANE,
	})
}

// Whether the resolver is trusted follows resolver.Stub.Trusted and
// --trust-ad; checking it sends nothing.
func TestTrustFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--dns", "127.0.0.1:53"}, true},
		{[]string{"--dns", "[::1]:53"}, true},
		{[]string{"--dns", "192.0.2.53:53"}, false},
		{[]string{"--dns", "192.0.2.53:53", "--trust-ad"}, true},
	} {
		o, err := parseArgs(append(tc.args, "example.test"), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := newChecker(o)
		if err != nil {
			t.Fatal(err)
		}
		if c.trusted != tc.want {
			t.Errorf("%q: trusted %v, want %v", tc.args, c.trusted, tc.want)
		}
	}
}

// The DNSSEC state words: a failure is one whoever says it; "insecure"
// only from a trusted resolver.
func TestState(t *testing.T) {
	denial := &net.DNSError{Err: "no such host", IsNotFound: true}
	failure := &net.DNSError{Err: "server misbehaving"}
	for _, tc := range []struct {
		sec     resolver.Security
		err     error
		trusted bool
		want    string
	}{
		{resolver.Secure, nil, true, stateSecure},
		{resolver.Secure, denial, true, stateSecure},
		{resolver.Insecure, nil, true, stateInsecure},
		{resolver.Insecure, denial, true, stateInsecure},
		{resolver.Insecure, nil, false, stateUnknown},
		{resolver.Insecure, failure, true, stateFailed},
		{resolver.Insecure, failure, false, stateFailed},
	} {
		if got := state(tc.sec, tc.err, tc.trusted); got != tc.want {
			t.Errorf("state(%v, %v, %v) = %q, want %q", tc.sec, tc.err, tc.trusted, got, tc.want)
		}
	}
}

// An MX host with no address is not DANE's failure: it is not reachable,
// as without DANE, and nothing is counted for it.
func TestMXHostWithoutAddress(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Signed("ghost.test").MX("ghost.test", 10, "mx.ghost.test")
	doc := checkIn(t, s, "ghost.test")
	wantFields(t, "no address", doc, map[string]any{
		"mx.0.decision": decisionSkip, "mx.0.governed_by": governsNone, "mx.0.dane.verdict": "",
		"mx.0.dane.steps.0.result": resultNXDOMAIN, "mx.0.dane.steps.0.dnssec": stateSecure,
		"verdict": verdictOpportunisic,
	})
	if p := problemsOf(t, doc); len(p) != 1 || !strings.Contains(p[0], "mx.ghost.test: not reachable: "+dane.ErrNoAddress.Error()) {
		t.Errorf("problems %q", p)
	}
}
