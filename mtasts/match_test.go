package mtasts

import (
	"strings"
	"testing"

	"github.com/strictmx/strictmx/internal/domain"
)

func mustPolicy(t testing.TB, text string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMatch(t *testing.T) {
	rfc := mustPolicy(t, "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n")
	gmail := mustPolicy(t, gmailPolicy)
	outlook := mustPolicy(t, outlookPolicy)
	idn := mustPolicy(t, "version: STSv1\nmode: enforce\nmx: mx.xn--bcher-kva.example\nmx: *.xn--caf-dma.example\nmax_age: 1\n")
	tests := []struct {
		p    *Policy
		host string
		want bool
	}{
		// RFC 8461, Section 4.1: exact names.
		{rfc, "mail.example.com", true},
		{rfc, "backupmx.example.com", true},
		{rfc, "other.example.com", false},
		// Case and one trailing dot are ignored.
		{rfc, "MAIL.Example.COM", true},
		{rfc, "mail.example.com.", true},
		{rfc, "mail.example.com..", false},
		// RFC 8461, Section 4.1: a wildcard matches one left-most label.
		{rfc, "mx1.example.net", true},
		{rfc, "MX1.EXAMPLE.NET.", true},
		{rfc, "example.net", false},
		{rfc, "a.b.example.net", false},
		{rfc, ".example.net", false},
		{rfc, "xexample.net", false},
		{rfc, "*.example.net", false},
		{rfc, "a_b.example.net", false},
		{rfc, "-a.example.net", false},
		{rfc, "", false},
		{rfc, ".", false},
		// IP literals never match.
		{rfc, "192.0.2.1", false},
		{rfc, "[192.0.2.1]", false},
		{rfc, "2001:db8::1", false},
		// Seen in the wild.
		{gmail, "gmail-smtp-in.l.google.com", true},
		{gmail, "alt1.gmail-smtp-in.l.google.com.", true},
		{gmail, "alt1.alt2.gmail-smtp-in.l.google.com", false}, // two labels deep
		{outlook, "example-com.mail.protection.outlook.com", true},
		{outlook, "mail.protection.outlook.com", false},
		// U-label hosts are compared as A-labels.
		{idn, "mx.bücher.example", true},
		{idn, "MX.xn--BCHER-kva.example", true},
		{idn, "smtp.café.example", true},
		{idn, "mx.bucher.example", false},
	}
	for _, tt := range tests {
		if got := tt.p.Match(tt.host); got != tt.want {
			t.Errorf("Match(%q) with %q = %v; want %v", tt.host, tt.p.MX, got, tt.want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p := mustPolicy(t, gmailPolicy)
	for _, host := range []string{"gmail-smtp-in.l.google.com", "ALT1.gmail-smtp-in.l.google.com.", "mx.example.com", "192.0.2.1"} {
		if n := testing.AllocsPerRun(100, func() { p.Match(host) }); n != 0 {
			t.Errorf("Match(%q) allocates %v times", host, n)
		}
	}
}

func FuzzMatch(f *testing.F) {
	// Exact, wildcard, case, trailing dot, too deep, IP literal, U-label.
	f.Add("*.example.net", "mx1.example.net")
	f.Add("mail.example.com", "MAIL.example.com.")
	f.Add("*.example.net", "a.b.example.net")
	f.Add("*.0.2.1", "192.0.2.1")
	f.Add("mx.xn--bcher-kva.example", "mx.bücher.example")
	f.Fuzz(func(t *testing.T, pattern, host string) {
		p, err := ParsePolicy([]byte("version: STSv1\nmode: testing\nmx: " + pattern + "\nmax_age: 1\n"))
		if err != nil {
			return
		}
		got := p.Match(host)
		if !got {
			return
		}
		// A match implies the host is, ignoring case and one trailing dot,
		// the pattern itself or one label in front of its wildcard suffix.
		h := strings.ToLower(strings.TrimSuffix(host, "."))
		if !isASCIIString(host) {
			return // compared after IDNA conversion
		}
		pat := p.MX[0]
		if suffix, ok := strings.CutPrefix(pat, "*"); ok {
			label, found := strings.CutSuffix(h, suffix)
			if !found || label == "" || strings.ContainsAny(label, ".*") {
				t.Fatalf("%q matched %q", host, pat)
			}
		} else if h != pat {
			t.Fatalf("%q matched %q", host, pat)
		}
		if _, err := domain.Normalize(h); err != nil {
			t.Fatalf("invalid host %q matched %q: %v", host, pat, err)
		}
	})
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func BenchmarkMatch(b *testing.B) {
	p := mustPolicy(b, gmailPolicy)
	for _, bc := range []struct{ name, host string }{
		{"exact-hit", "gmail-smtp-in.l.google.com"},
		{"wildcard-hit", "alt4.gmail-smtp-in.l.google.com."},
		{"exact-miss", "gmail-smtp-in.l.google.org"},
		{"wildcard-miss", "a.b.gmail-smtp-in.l.google.com"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Match(bc.host)
			}
		})
	}
}
