package dane_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"

	"github.com/strictmx/strictmx/mtasts/dane"
)

// Contract section 5: name matching for DANE-TA (RFC 7672, Section 3.2.3).
func TestMatchName(t *testing.T) {
	san := func(names ...string) *x509.Certificate {
		return &x509.Certificate{DNSNames: names, Subject: pkix.Name{CommonName: "cn.example.test"}}
	}
	cn := func(name string, ips ...string) *x509.Certificate {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: name}}
		for _, ip := range ips {
			c.IPAddresses = append(c.IPAddresses, net.ParseIP(ip))
		}
		return c
	}
	tests := []struct {
		name string
		cert *x509.Certificate
		ids  []string
		want bool
	}{
		// DNS-ID subject alternative names.
		{"exact", san("mx.example.test"), []string{"mx.example.test"}, true},
		{"second SAN", san("a.test", "mx.example.test"), []string{"mx.example.test"}, true},
		{"second id", san("mx.example.test"), []string{"a.test", "mx.example.test"}, true},
		{"other name", san("mx.example.test"), []string{"mx2.example.test"}, false},
		{"no ids", san("mx.example.test"), nil, false},
		{"suffix is not a match", san("example.test"), []string{"mx.example.test"}, false},
		{"prefix is not a match", san("mx.example.test"), []string{"mx.example"}, false},

		// Upper case and trailing dots.
		{"upper-case id", san("mx.example.test"), []string{"MX.EXAMPLE.TEST"}, true},
		{"upper-case SAN", san("Mx.Example.Test"), []string{"mx.example.test"}, true},
		{"trailing dot on the id", san("mx.example.test"), []string{"mx.example.test."}, true},
		{"trailing dot on the SAN", san("mx.example.test."), []string{"mx.example.test"}, true},
		{"two trailing dots", san("mx.example.test"), []string{"mx.example.test.."}, false},
		{"empty label", san("mx..example.test"), []string{"mx..example.test"}, false},
		{"empty id", san("mx.example.test"), []string{"", "."}, false},

		// A-labels only: no Unicode folding, no U-labels.
		{"A-label", san("xn--bcher-kva.example.test"), []string{"XN--BCHER-KVA.example.test"}, true},
		{"U-label id", san("xn--bcher-kva.example.test"), []string{"bücher.example.test"}, false},
		{"U-label SAN", san("bücher.example.test"), []string{"bücher.example.test"}, false},
		{"Kelvin sign is not k", san("k.example.test"), []string{"\u212a.example.test"}, false},

		// Wildcards: the whole left-most label, exactly one label.
		{"wildcard", san("*.example.test"), []string{"mx.example.test"}, true},
		{"wildcard, upper case", san("*.EXAMPLE.test"), []string{"Mx.Example.TEST."}, true},
		{"wildcard is not the parent", san("*.example.test"), []string{"example.test"}, false},
		{"wildcard is one label only", san("*.example.test"), []string{"a.mx.example.test"}, false},
		{"no *.*", san("*.*.test"), []string{"mx.example.test"}, false},
		{"no wildcard inside", san("mx.*.test"), []string{"mx.example.test"}, false},
		{"no partial label, prefix", san("m*.example.test"), []string{"mx.example.test"}, false},
		{"no partial label, suffix", san("*x.example.test"), []string{"mx.example.test"}, false},
		{"no bare *", san("*"), []string{"mx"}, false},
		{"a wildcard id matches nothing", san("*.example.test"), []string{"*.example.test"}, false},
		{"wildcard over one label", san("*.test"), []string{"example.test"}, true},

		// The subject CN, only without any DNS-ID.
		{"CN-only", cn("mx.example.test"), []string{"mx.example.test"}, true},
		{"CN-only, case and dot", cn("MX.example.test."), []string{"mx.example.TEST"}, true},
		{"CN-only, wildcard", cn("*.example.test"), []string{"mx.example.test"}, true},
		{"CN-only, other name", cn("mx.example.test"), []string{"mx.other.test"}, false},
		{"CN ignored beside a DNS-ID", san("other.test"), []string{"cn.example.test"}, false},
		{"CN used beside IP SANs only", cn("mx.example.test", "192.0.2.1"), []string{"mx.example.test"}, true},
		{"empty CN", cn(""), []string{""}, false},

		// IP SANs are never used.
		{"IP SAN", cn("", "192.0.2.1"), []string{"192.0.2.1"}, false},
		{"IPv6 SAN", cn("", "2001:db8::1"), []string{"2001:db8::1"}, false},

		{"nil certificate", nil, []string{"mx.example.test"}, false},
	}
	for _, tt := range tests {
		if got := dane.MatchName(tt.cert, tt.ids); got != tt.want {
			t.Errorf("%s: MatchName = %v, want %v", tt.name, got, tt.want)
		}
	}
	c := san("a.test", "*.example.test")
	if n := testing.AllocsPerRun(100, func() { dane.MatchName(c, []string{"MX.example.test."}) }); n != 0 {
		t.Errorf("MatchName: %v allocations", n)
	}
}
