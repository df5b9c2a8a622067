package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/tlsrpt"
)

// daneWorld is example.test with one MX host, mx1.example.test, whose
// zone is signed when signed, with the TLSA records specs made from the
// host's own certificate at _25._tcp.mx1.example.test.
func daneWorld(t *testing.T, signed bool, specs ...mtaststest.TLSASpec) (*mtaststest.Server, *mtaststest.MXHost) {
	t.Helper()
	s := mtaststest.NewServer(t)
	s.Domain("example.test").MXHost(10, "mx1.example.test", mtaststest.MXConfig{})
	if signed {
		s.Signed("example.test")
	}
	mx := s.LookupMXHost("mx1.example.test")
	mx.PublishTLSA(0, specs...)
	return s, mx
}

// wrongDigest is "3 1 1" with a digest of no key the host has.
func wrongDigest() mtaststest.TLSASpec {
	sp := mtaststest.DANEEESPKISHA256
	sp.Mismatch = true
	return sp
}

// resultsOf returns the results of policy type pt.
func resultsOf(rs []tlsrpt.Result, pt tlsrpt.PolicyType) []tlsrpt.Result {
	var out []tlsrpt.Result
	for _, r := range rs {
		if r.Policy.Type == pt {
			out = append(out, r)
		}
	}
	return out
}

// RFC 7672: a signed zone with a matching "3 1 1" record: delivered over
// TLS, the session recorded under the tlsa policy of the base domain.
func TestDANEDelivers(t *testing.T) {
	s, mx := daneWorld(t, true, mtaststest.DANEEESPKISHA256)
	code, out, rs := sendTo(t, s, nil, "b@example.test")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"dane: on", "mx for example.test: DNSSEC secure", "delivered over TLS", "[dane: pass]"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	msgs := mx.Messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].ServerName != "mx1.example.test" {
		t.Fatalf("MX received %+v", msgs)
	}
	tlsa := resultsOf(rs, tlsrpt.PolicyTLSA)
	if len(tlsa) != 1 || tlsa[0].ResultType != "" || tlsa[0].Policy.Domain != "mx1.example.test" ||
		tlsa[0].MXHost != "mx1.example.test" || !tlsa[0].ReceivingIP.IsLoopback() {
		t.Fatalf("tlsa results %+v (all %+v)", tlsa, rs)
	}
	want := "3 1 1 " + strings.ToUpper(hex.EncodeToString(mx.TLSAData(3, 1, 1)))
	if !slices.Equal(tlsa[0].Policy.String, []string{want}) {
		t.Errorf("policy-string %q, want [%q]", tlsa[0].Policy.String, want)
	}
	// DANE alone judged the host (secure MX, usable record): no
	// no-policy-found session.
	if len(rs) != 1 {
		t.Errorf("results %+v, want the tlsa one alone", rs)
	}
}

// A record that matches no key of the host: not delivered, temporarily,
// and the output says why.
func TestDANEWrongDigest(t *testing.T) {
	s, mx := daneWorld(t, true, wrongDigest())
	code, out, rs := sendTo(t, s, nil, "b@example.test")
	if code != exitTempFail || !strings.Contains(out, "temporary failure") {
		t.Fatalf("exit %d, want %d:\n%s", code, exitTempFail, out)
	}
	for _, want := range []string{"[dane: certificate-not-trusted dane-no-match]", "no TLSA record matches"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := mx.MessageCount(); n != 0 {
		t.Fatalf("the MX received %d messages", n)
	}
	tlsa := resultsOf(rs, tlsrpt.PolicyTLSA)
	if len(tlsa) != 1 || tlsa[0].ResultType != tlsrpt.ResultCertificateNotTrusted || tlsa[0].ReasonCode != tlsrpt.ReasonDANENoMatch {
		t.Fatalf("tlsa results %+v (all %+v):\n%s", tlsa, rs, out)
	}
}

// An unsigned zone: no TLSA query, and delivery as before DANE, whatever
// records it publishes.
func TestDANEUnsignedZone(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode mtasts.Mode
		cfg  mtaststest.MXConfig
		code int
	}{
		{"no policy", "", mtaststest.MXConfig{}, exitOK},
		{"enforce", mtasts.ModeEnforce, mtaststest.MXConfig{}, exitOK},
		{"enforce, expired certificate", mtasts.ModeEnforce, mtaststest.MXConfig{Certificate: mtaststest.CertExpired}, exitTempFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, mx := daneWorld(t, false, wrongDigest())
			if tc.mode != "" {
				s.Domain("example.test").Record("1").Policy(tc.mode, 86400, "mx1.example.test")
			}
			mx.Configure(tc.cfg)
			code, out, rs := sendTo(t, s, nil, "b@example.test")
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			if n := s.Queries(mx.TLSAName(0), "TLSA"); n != 0 {
				t.Errorf("%d TLSA queries in an unsigned zone", n)
			}
			if !strings.Contains(out, "DNSSEC insecure") || strings.Contains(out, "[dane:") {
				t.Errorf("output:\n%s", out)
			}
			if tlsa := resultsOf(rs, tlsrpt.PolicyTLSA); len(tlsa) != 0 {
				t.Errorf("tlsa results %+v in an unsigned zone", tlsa)
			}
		})
	}
}

// A TLSA lookup that fails validation skips the host (dnssec-invalid),
// whatever MTA-STS says; another MX host still takes the message.
func TestDANETLSALookupFails(t *testing.T) {
	for _, other := range []bool{false, true} {
		t.Run(map[bool]string{false: "alone", true: "with another MX"}[other], func(t *testing.T) {
			s, mx := daneWorld(t, true, mtaststest.DANEEESPKISHA256)
			s.Domain("example.test").Record("1").Policy(mtasts.ModeTesting, 86400, "*.example.test")
			s.Bogus(mx.TLSAName(0))
			want := exitTempFail
			if other {
				s.Domain("example.test").MXHost(20, "mx2.example.test", mtaststest.MXConfig{})
				want = exitOK
			}
			code, out, rs := sendTo(t, s, nil, "b@example.test")
			if code != want {
				t.Fatalf("exit %d, want %d:\n%s", code, want, out)
			}
			if n := mx.Connections(); n != 0 {
				t.Errorf("%d connections to the host whose TLSA lookup failed", n)
			}
			if !strings.Contains(out, "[dane: dnssec-invalid servfail]") {
				t.Errorf("output:\n%s", out)
			}
			tlsa := resultsOf(rs, tlsrpt.PolicyTLSA)
			if len(tlsa) != 1 || tlsa[0].ResultType != tlsrpt.ResultDNSSECInvalid || tlsa[0].MXHost != "mx1.example.test" {
				t.Fatalf("tlsa results %+v (all %+v):\n%s", tlsa, rs, out)
			}
		})
	}
}

// RFC 8461, Section 2 and contract section 7: with a secure MX RRset and
// usable records DANE alone judges the host, which an enforce policy does
// not list; a failing DANE check is not overridden by a passing MTA-STS
// one.
func TestDANEAndEnforce(t *testing.T) {
	t.Run("host outside the policy", func(t *testing.T) {
		s, mx := daneWorld(t, true, mtaststest.DANEEESPKISHA256)
		s.Domain("example.test").Record("1").Policy(mtasts.ModeEnforce, 86400, "other.example.test")
		code, out, rs := sendTo(t, s, nil, "b@example.test")
		if code != exitOK || mx.MessageCount() != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if sts := resultsOf(rs, tlsrpt.PolicySTS); len(sts) != 0 {
			t.Errorf("sts results %+v for a host DANE alone judged", sts)
		}
	})
	t.Run("wrong digest, valid certificate", func(t *testing.T) {
		s, mx := daneWorld(t, true, wrongDigest())
		s.Domain("example.test").Record("1").Policy(mtasts.ModeEnforce, 86400, "mx1.example.test")
		code, out, _ := sendTo(t, s, nil, "b@example.test")
		if code != exitTempFail || mx.MessageCount() != 0 {
			t.Fatalf("exit %d, want %d:\n%s", code, exitTempFail, out)
		}
	})
}

// -no-dane: no TLSA query, and a wrong record does not matter.
func TestNoDANEFlag(t *testing.T) {
	s, mx := daneWorld(t, true, wrongDigest())
	code, out, rs := sendTo(t, s, nil, "b@example.test", "-no-dane")
	if code != exitOK || mx.MessageCount() != 1 || !strings.Contains(out, "dane: off (-no-dane)") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if n := s.Queries(mx.TLSAName(0), "TLSA"); n != 0 {
		t.Errorf("%d TLSA queries with -no-dane", n)
	}
	if tlsa := resultsOf(rs, tlsrpt.PolicyTLSA); len(tlsa) != 0 {
		t.Errorf("tlsa results %+v with -no-dane", tlsa)
	}
}

// -require-dane (RFC 7672, Section 6): a host without DANE is not tried.
func TestRequireDANE(t *testing.T) {
	t.Run("signed, matching record", func(t *testing.T) {
		s, mx := daneWorld(t, true, mtaststest.DANEEESPKISHA256)
		code, out, _ := sendTo(t, s, nil, "b@example.test", "-require-dane")
		if code != exitOK || mx.MessageCount() != 1 || !strings.Contains(out, "dane: on, mandatory") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("unsigned zone", func(t *testing.T) {
		s, mx := daneWorld(t, false)
		code, out, rs := sendTo(t, s, nil, "b@example.test", "-require-dane")
		if code != exitTempFail || mx.Connections() != 0 {
			t.Fatalf("exit %d, want %d:\n%s", code, exitTempFail, out)
		}
		tlsa := resultsOf(rs, tlsrpt.PolicyTLSA)
		if len(tlsa) != 1 || tlsa[0].ResultType != tlsrpt.ResultDANERequired {
			t.Fatalf("tlsa results %+v (all %+v):\n%s", tlsa, rs, out)
		}
	})
	t.Run("usage", func(t *testing.T) {
		s := mtaststest.NewServer(t)
		for _, tc := range []struct {
			args []string
			e    *env
		}{
			{[]string{"-no-dane", "-require-dane"}, testEnv(s)},
			// No resolver whose AD bit can be believed.
			{[]string{"-require-dane"}, &env{client: s.Client(), mx: s.Resolver(), dial: s.DialContext}},
		} {
			var out, errOut bytes.Buffer
			args := append([]string{"-from", "a@sender.test", "-to", "b@example.test"}, tc.args...)
			if code := run(context.Background(), args, strings.NewReader(message), &out, &errOut, tc.e); code != exitUsage || errOut.Len() == 0 {
				t.Errorf("%q: exit %d, stderr %q; want %d and a message", tc.args, code, errOut.String(), exitUsage)
			}
		}
	})
}

// RFC 8460, Section 5.3.1: a TLS-RPT report ignores DANE failures and is
// not recorded.
func TestDANEReportTraffic(t *testing.T) {
	s, mx := daneWorld(t, true, wrongDigest())
	code, out, rs := sendTo(t, s, nil, "tlsrpt@example.test", "-report")
	if code != exitOK || mx.MessageCount() != 1 || len(rs) != 0 {
		t.Fatalf("exit %d, results %+v:\n%s", code, rs, out)
	}
}

// The same through the flags alone: -dns on loopback is a trusted
// resolver, so DANE is on; the TLSA records are those of -port.
func TestFlagsDANE(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec mtaststest.TLSASpec
		code int
	}{
		{"matching", mtaststest.DANEEESPKISHA256, exitOK},
		{"wrong digest", wrongDigest(), exitTempFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFlagWorld(t, "", mtaststest.MXConfig{})
			w.s.Signed("example.test")
			_, port, err := net.SplitHostPort(w.mx.Addr())
			if err != nil {
				t.Fatal(err)
			}
			p, err := strconv.Atoi(port)
			if err != nil {
				t.Fatal(err)
			}
			w.mx.PublishTLSA(p, tc.spec)
			code, out := w.send(t, "-allow-private")
			if code != tc.code || !strings.Contains(out, "dane: on") {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			if n := w.s.Queries(w.mx.TLSAName(p), "TLSA"); n == 0 {
				t.Error("no TLSA query for the -port records")
			}
		})
	}
}
