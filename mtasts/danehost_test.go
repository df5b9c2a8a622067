package mtasts

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
)

// ee311 returns the DANE-EE SPKI SHA2-256 record of cert's leaf.
func ee311(t testing.TB, cert tls.Certificate) resolver.TLSA {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return resolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: sum[:]}
}

// secureTLSA returns the DANE state of a host with a secure TLSA RRset of
// recs at its own name.
func secureTLSA(name string, recs ...resolver.TLSA) *dane.Host {
	return &dane.Host{Name: name, Base: name, Target: name, RRset: dane.NewRRset(recs)}
}

// wrongDigest is a usable DANE-EE record that matches no test key.
var wrongDigest = resolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}

// unusable is a record a sender must ignore (PKIX-EE, RFC 7672, Section
// 3.1.3).
var unusable = resolver.TLSA{Usage: 1, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}

// daneCase is one host of the precedence table: the MTA-STS policy, the
// MX RRset's state, the host's DANE state, the certificate the host
// presents, and what each policy must conclude.
type daneCase struct {
	name     string
	policy   string
	mx       resolver.Security
	host     string // MX host name; mx1.example.test when empty
	dh       func(t testing.TB, w *testWorld) *dane.Host
	cert     string
	noTLS    bool // the host does not offer STARTTLS
	try      bool
	deliver  bool
	stsCount bool
	stsRT    tlsrpt.ResultType
	tlsa     bool // counted under tlsa
	tlsaRT   tlsrpt.ResultType
	sni      string
}

// Contract section 7 (RFC 8461, Section 2): precedence per host, with real
// handshakes.
func TestDANEPrecedence(t *testing.T) {
	matching := func(t testing.TB, w *testWorld) *dane.Host {
		return secureTLSA("mx1.example.test", ee311(t, w.certs["valid"]))
	}
	matchingSelf := func(t testing.TB, w *testWorld) *dane.Host {
		return secureTLSA("mx1.example.test", ee311(t, w.certs["self"]))
	}
	wrong := func(testing.TB, *testWorld) *dane.Host { return secureTLSA("mx1.example.test", wrongDigest) }
	none := func(testing.TB, *testWorld) *dane.Host { return secureTLSA("mx1.example.test", unusable) }
	noTLSA := func(testing.TB, *testWorld) *dane.Host {
		return &dane.Host{Name: "mx1.example.test", Target: "mx1.example.test"}
	}
	for _, tt := range []daneCase{
		// Secure MX, usable records: DANE alone, in every mode; a
		// certificate no WebPKI root signed passes, the sts report does
		// not see the session.
		{name: "secure MX/enforce/self-signed matching", policy: enforcePolicy, mx: resolver.Secure, dh: matchingSelf, cert: "self",
			try: true, deliver: true, tlsa: true, sni: "mx1.example.test"},
		{name: "secure MX/enforce/outside mx patterns", policy: enforcePolicy, mx: resolver.Secure, host: "dane.example.org",
			dh: func(t testing.TB, w *testWorld) *dane.Host {
				return secureTLSA("dane.example.org", ee311(t, w.certs["self"]))
			}, cert: "self", try: true, deliver: true, tlsa: true, sni: "dane.example.org"},
		{name: "secure MX/testing/wrong digest", policy: testingPolicy, mx: resolver.Secure, dh: wrong, cert: "valid",
			try: true, tlsa: true, tlsaRT: tlsrpt.ResultCertificateNotTrusted},
		{name: "secure MX/none/wrong digest", policy: "version: STSv1\nmode: none\nmax_age: 1\n", mx: resolver.Secure, dh: wrong, cert: "valid",
			try: true, tlsa: true, tlsaRT: tlsrpt.ResultCertificateNotTrusted},
		{name: "secure MX/no policy/matching", mx: resolver.Secure, dh: matching, cert: "valid",
			try: true, deliver: true, tlsa: true},
		{name: "secure MX/no policy/no STARTTLS", mx: resolver.Secure, dh: matching, noTLS: true,
			try: true, tlsa: true, tlsaRT: tlsrpt.ResultSTARTTLSNotSupported},
		// Insecure MX, usable records: both judge, the stricter wins,
		// each reports its own verdict.
		{name: "insecure MX/enforce/both pass", policy: enforcePolicy, dh: matching, cert: "valid",
			try: true, deliver: true, stsCount: true, tlsa: true},
		{name: "insecure MX/enforce/PKIX fails", policy: enforcePolicy, dh: matchingSelf, cert: "self",
			try: true, stsCount: true, stsRT: tlsrpt.ResultCertificateNotTrusted, tlsa: true},
		{name: "insecure MX/testing/PKIX fails", policy: testingPolicy, dh: matchingSelf, cert: "self",
			try: true, deliver: true, stsCount: true, stsRT: tlsrpt.ResultCertificateNotTrusted, tlsa: true},
		{name: "insecure MX/testing/DANE fails", policy: testingPolicy, dh: wrong, cert: "valid",
			try: true, stsCount: true, tlsa: true, tlsaRT: tlsrpt.ResultCertificateNotTrusted},
		{name: "insecure MX/enforce/outside mx patterns", policy: enforcePolicy, host: "dane.example.org",
			dh: func(t testing.TB, w *testWorld) *dane.Host {
				return secureTLSA("dane.example.org", ee311(t, w.certs["self"]))
			}, stsCount: true, stsRT: tlsrpt.ResultValidationFailure},
		// No usable record: TLS required, any certificate, tlsa-invalid
		// though mail goes.
		{name: "secure MX/no policy/none usable", mx: resolver.Secure, dh: none, cert: "self",
			try: true, deliver: true, tlsa: true, tlsaRT: tlsrpt.ResultTLSAInvalid},
		{name: "secure MX/no policy/none usable, no STARTTLS", mx: resolver.Secure, dh: none, noTLS: true,
			try: true, tlsa: true, tlsaRT: tlsrpt.ResultSTARTTLSNotSupported},
		{name: "insecure MX/enforce/none usable", policy: enforcePolicy, dh: none, cert: "valid",
			try: true, deliver: true, stsCount: true, tlsa: true, tlsaRT: tlsrpt.ResultTLSAInvalid},
		// No TLSA RRset: MTA-STS exactly as without DANE.
		{name: "secure MX/enforce/no TLSA", policy: enforcePolicy, mx: resolver.Secure, dh: noTLSA, cert: "self",
			try: true, stsCount: true, stsRT: tlsrpt.ResultCertificateNotTrusted},
		{name: "secure MX/no policy/no TLSA, no STARTTLS", mx: resolver.Secure, dh: noTLSA, noTLS: true,
			try: true, deliver: true, stsCount: true, stsRT: tlsrpt.ResultSTARTTLSNotSupported},
		// A failed TLSA lookup skips the host whatever MTA-STS says.
		{name: "secure MX/testing/TLSA lookup failed", policy: testingPolicy, mx: resolver.Secure,
			dh: func(testing.TB, *testWorld) *dane.Host {
				return &dane.Host{Name: "mx1.example.test", Target: "mx1.example.test", Err: lookupFailed("mx1.example.test")}
			}, tlsa: true, tlsaRT: tlsrpt.ResultDNSSECInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := world(t)
			host := tt.host
			if host == "" {
				host = "mx1.example.test"
			}
			r := &Result{Domain: "example.test", ID: "1"}
			if tt.policy != "" {
				r.Policy = mustPolicy(t, tt.policy)
			}
			plan := r.Plan([]*net.MX{{Host: host + ".", Pref: 10}}, PlanOptions{MXSecurity: tt.mx})
			for _, h := range plan.Hosts { // by value: SetDANE updates the plan too
				h.SetDANE(tt.dh(t, w))
			}
			h := &plan.Hosts[0]
			if h.Try != tt.try {
				t.Fatalf("Try = %v; want %v (%+v)", h.Try, tt.try, h)
			}
			var d Decision
			switch {
			case !h.Try:
				d = h.Skipped()
			case tt.noTLS:
				d = h.Done(ErrSTARTTLSNotSupported)
			default:
				sni, err := handshake(t, w.certs[tt.cert], 0, h.TLSConfig(&tls.Config{RootCAs: w.ca.Pool()}))
				if tt.sni != "" && sni != tt.sni {
					t.Errorf("SNI %q; want %q", sni, tt.sni)
				}
				d = h.Done(err)
			}
			if d.Deliver != tt.deliver {
				t.Errorf("Deliver = %v; want %v (%+v)", d.Deliver, tt.deliver, d)
			}
			if d.Counted != tt.stsCount || d.ResultType != tt.stsRT {
				t.Errorf("MTA-STS verdict counted=%v %q; want counted=%v %q (%v)", d.Counted, d.ResultType, tt.stsCount, tt.stsRT, d.Err)
			}
			if d.TLSA.Counted != tt.tlsa || d.TLSA.ResultType != tt.tlsaRT {
				t.Errorf("DANE verdict counted=%v %q; want counted=%v %q (%v)", d.TLSA.Counted, d.TLSA.ResultType, tt.tlsa, tt.tlsaRT, d.Err)
			}
			if tt.tlsa && (d.TLSA.Policy.Type != tlsrpt.PolicyTLSA || d.TLSA.Policy.Domain != host) {
				t.Errorf("tlsa policy %+v; want type tlsa for %s", d.TLSA.Policy, host)
			}
			if (tt.stsRT != "" || tt.tlsaRT != "") && d.Err == nil {
				t.Errorf("a failure without Err: %+v", d)
			}
			// Record counts the session under each policy that judged it.
			var got []tlsrpt.Result
			if err := r.Record(recorderFunc(func(res tlsrpt.Result) error { got = append(got, res); return nil }), d, time.Now()); err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, b := range []bool{tt.stsCount, tt.tlsa} {
				if b {
					want++
				}
			}
			if len(got) != want {
				t.Fatalf("Record recorded %d sessions; want %d: %+v", len(got), want, got)
			}
		})
	}
}

// recorderFunc adapts a function to Recorder.
type recorderFunc func(tlsrpt.Result) error

func (f recorderFunc) Record(r tlsrpt.Result) error { return f(r) }

// lookupFailed is the DANE state of a host whose TLSA lookup failed.
func lookupFailed(host string) error {
	e := dane.NewError(host, dane.ErrLookup, errors.New("SERVFAIL"))
	e.Reason = "servfail"
	return e
}

// The tlsa policy of a session is the TLSA base domain, not the MX host,
// when a CNAME moved it (RFC 8460, Section 4.3; contract section 8), and
// the RRset's records are its policy strings; SNI is the base domain too
// (RFC 7672, Section 8.1).
func TestDANEBaseDomain(t *testing.T) {
	w := world(t)
	r := &Result{Domain: "example.test"}
	plan := r.Plan([]*net.MX{{Host: "mx1.example.test."}}, PlanOptions{MXSecurity: resolver.Secure})
	h := &plan.Hosts[0]
	rec := ee311(t, w.certs["self"])
	h.SetDANE(&dane.Host{Name: "mx1.example.test", Target: "mx.hosting.test", Base: "mx.hosting.test", RRset: dane.NewRRset([]resolver.TLSA{rec, unusable})})
	sni, err := handshake(t, w.certs["self"], 0, h.TLSConfig(nil))
	if err != nil || sni != "mx.hosting.test" {
		t.Fatalf("handshake SNI %q, err %v; want mx.hosting.test and success", sni, err)
	}
	d := h.Done(nil)
	p := h.TLSAPolicy()
	if d.TLSA.Policy.Domain != "mx.hosting.test" || p.Domain != "mx.hosting.test" || len(p.String) != 2 {
		t.Fatalf("tlsa policy %+v (decision %+v)", p, d.TLSA)
	}
	s, ok := d.TLSASession(time.Now())
	if !ok || s.MXHost != "mx1.example.test" || s.Policy.Type != tlsrpt.PolicyTLSA {
		t.Fatalf("tlsa session %+v, %v; want the MX host as the MX RRset named it", s, ok)
	}
}

// DANE requires TLS 1.2 or newer (contract section 5), reported as
// validation-failure with tls-version.
func TestDANETLSVersion(t *testing.T) {
	w := world(t)
	r := &Result{Domain: "example.test"}
	plan := r.Plan([]*net.MX{{Host: "mx1.example.test"}}, PlanOptions{MXSecurity: resolver.Secure})
	h := &plan.Hosts[0]
	h.SetDANE(secureTLSA("mx1.example.test", ee311(t, w.certs["valid"])))
	_, err := handshake(t, w.certs["valid"], tls.VersionTLS11, h.TLSConfig(nil))
	d := h.Done(err)
	if err == nil || d.Deliver || d.TLSA.ResultType != tlsrpt.ResultValidationFailure || d.TLSA.Reason != tlsrpt.ReasonTLSVersion {
		t.Fatalf("TLS 1.1 to a DANE host: err %v, decision %+v", err, d)
	}
	if !errors.Is(d.Err, dane.ErrTLSVersion) {
		t.Fatalf("error %v; want dane.ErrTLSVersion", d.Err)
	}
}

// A resumed session is checked against this attempt's records (contract
// section 5): records that no longer match fail the resumption.
func TestDANEResumedSession(t *testing.T) {
	w := world(t)
	cache := tls.NewLRUClientSessionCache(4)
	serverCfg := &tls.Config{Certificates: []tls.Certificate{w.certs["valid"]}}
	run := func(rec resolver.TLSA) (tls.ConnectionState, error) {
		r := &Result{Domain: "example.test"}
		plan := r.Plan([]*net.MX{{Host: "mx1.example.test"}}, PlanOptions{MXSecurity: resolver.Secure})
		plan.Hosts[0].SetDANE(secureTLSA("mx1.example.test", rec))
		return ticketHandshake(t, serverCfg, plan.Hosts[0].TLSConfig(&tls.Config{ClientSessionCache: cache}))
	}
	good := ee311(t, w.certs["valid"])
	if _, err := run(good); err != nil {
		t.Fatal(err)
	}
	if st, err := run(good); err != nil || !st.DidResume {
		t.Fatalf("second handshake: resumed=%v err=%v; want a resumed session", st.DidResume, err)
	}
	if _, err := run(wrongDigest); err == nil {
		t.Fatal("resumed session accepted with records that do not match")
	}
}

// Mandatory DANE (RFC 7672, Section 6): an insecure MX RRset defers the
// delivery; a host goes only with usable records.
func TestRequireDANE(t *testing.T) {
	w := world(t)
	r := &Result{Domain: "example.test", Policy: mustPolicy(t, testingPolicy)}
	mx := []*net.MX{{Host: "mx1.example.test"}, {Host: "mx2.example.test"}, {Host: "mx3.example.test"}, {Host: "mx4.example.test"}}
	plan := r.Plan(mx, PlanOptions{RequireDANE: true})
	for i := range plan.Hosts {
		h := &plan.Hosts[i]
		h.SetDANE(secureTLSA(h.Host, ee311(t, w.certs["valid"])))
		if h.Try {
			t.Fatalf("host %s tried with an insecure MX RRset under mandatory DANE", h.Host)
		}
		if d := h.Skipped(); d.TLSA.ResultType != tlsrpt.ResultDANERequired || !d.TLSA.Counted || d.Counted || !errors.Is(d.Err, dane.ErrRequired) {
			t.Fatalf("skipped %+v", d)
		}
	}
	plan = r.Plan(mx, PlanOptions{RequireDANE: true, MXSecurity: resolver.Secure})
	for i := range plan.Hosts {
		if plan.Hosts[i].Try {
			t.Fatalf("host %s tried before any DANE lookup under mandatory DANE", plan.Hosts[i].Host)
		}
	}
	plan.Hosts[0].SetDANE(secureTLSA("mx1.example.test", ee311(t, w.certs["valid"])))
	plan.Hosts[1].SetDANE(secureTLSA("mx2.example.test", unusable))
	plan.Hosts[2].SetDANE(&dane.Host{Name: "mx3.example.test", Target: "mx3.example.test"})
	want := []tlsrpt.ResultType{"", tlsrpt.ResultTLSAInvalid, tlsrpt.ResultDANERequired, tlsrpt.ResultDANERequired}
	for i, rt := range want {
		h := &plan.Hosts[i]
		if h.Try != (rt == "") {
			t.Fatalf("%s: Try = %v", h.Host, h.Try)
		}
		if rt != "" {
			if d := h.Skipped(); d.TLSA.ResultType != rt {
				t.Fatalf("%s: skipped %+v; want %s", h.Host, d, rt)
			}
		}
	}
}

// RFC 8460, Section 5.3.1: report traffic honors no DANE failure, its
// lookups' included, and counts nothing.
func TestDANEReportTraffic(t *testing.T) {
	r := &Result{Domain: "example.test", Policy: mustPolicy(t, enforcePolicy)}
	plan := r.Plan([]*net.MX{{Host: "mx1.example.test"}, {Host: "mx2.example.test"}}, PlanOptions{ReportTraffic: true, MXSecurity: resolver.Secure, RequireDANE: true})
	plan.Hosts[0].SetDANE(secureTLSA("mx1.example.test", wrongDigest))
	plan.Hosts[1].SetDANE(&dane.Host{Name: "mx2.example.test", Err: lookupFailed("mx2.example.test")})
	plan.FindDANE(context.Background(), nil) // no lookup at all
	for i := range plan.Hosts {
		h := &plan.Hosts[i]
		if !h.Try || h.RequireTLS || h.DANE {
			t.Fatalf("report plan %+v; want opportunistic", h)
		}
		if d := h.Done(ErrSTARTTLSNotSupported); !d.Deliver || d.Counted || d.TLSA.Counted {
			t.Fatalf("report decision %+v", d)
		}
	}
}

// A DANE failure is not the MTA-STS policy's: Replan does not re-check the
// policy id for it (RFC 8461, Section 5.1 concerns MTA-STS refusals).
func TestReplanIgnoresDANEFailures(t *testing.T) {
	w := world(t)
	var lookups int
	c := &Client{Resolver: countingResolver{&lookups}}
	r := &Result{Domain: "example.test", ID: "1", Policy: mustPolicy(t, enforcePolicy)}
	plan := r.Plan([]*net.MX{{Host: "mx1.example.test"}}, PlanOptions{})
	h := &plan.Hosts[0]
	h.SetDANE(secureTLSA("mx1.example.test", wrongDigest))
	_, err := handshake(t, w.certs["valid"], 0, h.TLSConfig(&tls.Config{RootCAs: w.ca.Pool()}))
	if d := h.Done(err); d.Deliver || d.ResultType != "" || d.TLSA.ResultType == "" {
		t.Fatalf("decision %+v; want a DANE failure only", d)
	}
	if p, err := c.Replan(context.Background(), plan); p != nil || err != nil || lookups != 0 {
		t.Fatalf("Replan = %v, %v after %d lookups; want nothing done", p, err, lookups)
	}
}

// countingResolver counts TXT lookups and finds nothing.
type countingResolver struct{ n *int }

func (r countingResolver) LookupTXT(context.Context, string) ([]string, error) {
	*r.n++
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
