package mtasts

import (
	"fmt"
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
		{rfc, "é.example.net", true}, // the label is "xn--9ca"
		{rfc, "é.é.example.net", false},

		// Case on each path: none, only in a wildcard's label (found by
		// byte comparison), only in the last bytes (the last, overlapping
		// eight-byte word of the case check), everywhere.
		{gmail, "gmail-smtp-in.l.google.coM", true},
		{gmail, "Gmail-smtp-in.l.google.com.", true},
		{gmail, "ALT1.gmail-smtp-in.l.google.com", true},
		{gmail, "alt1.gmail-smtp-in.l.google.cOm.", true},
		{gmail, "A.B.gmail-smtp-in.l.google.com", false},
		{gmail, "gmail-smtp-in.l.google.coM.org", false},
		{gmail, "GMAIL-SMTP-IN.L.GOOGLE.ORG", false},
		{gmail, "alt1.gmail-smtp-in.l.google.com.", true},
		{gmail, "alt1.gmail-smtp-in.l.google.com..", false},
		{gmail, "gmail-smtp-in.l.google.com\x80", false},
		{gmail, "gmail-smtp-in.l.google.com\xff.", false},
		{gmail, "\xffgmail-smtp-in.l.google.com", false},
		{rfc, "a.example.net", true},
		{rfc, "A.example.net", true},
		{rfc, "A.", false},
	}
	for _, tt := range tests {
		if got := tt.p.Match(tt.host); got != tt.want {
			t.Errorf("Match(%q) with %q = %v; want %v", tt.host, tt.p.MX, got, tt.want)
		}
		checkMatchPaths(t, tt.p, tt.host)
	}
}

// checkMatchPaths checks that Match, whatever shortcut it takes, agrees with
// the case-folding comparison it must be equivalent to.
func checkMatchPaths(t *testing.T, p *Policy, host string) {
	t.Helper()
	if got, want := p.Match(host), matchReference(p, host); got != want {
		t.Errorf("Match(%q) with %q = %v; case-folding comparison says %v", host, p.MX, got, want)
	}
}

// matchReference is Match without shortcuts: every pattern compared with
// the host in lower case, then after IDNA conversion.
func matchReference(p *Policy, host string) bool {
	host = strings.TrimSuffix(host, ".")
	h := strings.ToLower(host)
	if !isASCIIString(host) {
		var err error
		if h, err = domain.Normalize(host); err != nil {
			return false
		}
	}
	for _, pat := range p.MX {
		if suffix, ok := strings.CutPrefix(pat, "*"); ok {
			if label, found := strings.CutSuffix(h, suffix); found && validLeftLabel(label) {
				return true
			}
		} else if h == pat {
			return true
		}
	}
	return false
}

func TestMatchManyPatterns(t *testing.T) {
	var text strings.Builder
	text.WriteString("version: STSv1\nmode: enforce\nmax_age: 1\n")
	for i := range 50 {
		fmt.Fprintf(&text, "mx: mx%d.Example.COM\nmx: *.pool%d.example.net.\n", i, i)
	}
	p := mustPolicy(t, text.String())
	if len(p.MX) != 100 {
		t.Fatalf("%d patterns; want 100", len(p.MX))
	}
	for i := range 50 {
		for host, want := range map[string]bool{
			fmt.Sprintf("mx%d.example.com", i):           true,
			fmt.Sprintf("MX%d.EXAMPLE.COM.", i):          true,
			fmt.Sprintf("a.pool%d.example.net", i):       true,
			fmt.Sprintf("Z.POOL%d.example.NET.", i):      true,
			fmt.Sprintf("mx%d.example.com.x", i):         false,
			fmt.Sprintf("pool%d.example.net", i):         false,
			fmt.Sprintf("a.b.pool%d.example.net", i):     false,
			fmt.Sprintf("mx%d.pool%d.example.com", i, i): false,
		} {
			if got := p.Match(host); got != want {
				t.Errorf("Match(%q) = %v; want %v", host, got, want)
			}
			checkMatchPaths(t, p, host)
		}
	}
	for _, host := range []string{"mx50.example.com", "a.pool50.example.net", "example.com"} {
		if p.Match(host) {
			t.Errorf("Match(%q) = true; want false", host)
		}
	}
}

func TestScanHost(t *testing.T) {
	want := func(s string) (ascii, lower bool) {
		ascii, lower = true, true
		for i := 0; i < len(s); i++ {
			ascii = ascii && s[i] < 0x80
			lower = lower && !('A' <= s[i] && s[i] <= 'Z')
		}
		return ascii, ascii && lower
	}
	// Every length up to three words and a bit, with each boundary byte of
	// the upper-case range and the high bit at every position.
	for n := 0; n <= 27; n++ {
		base := strings.Repeat("a.b-9", 6)[:n]
		if ascii, lower := scanHost(base); !ascii || !lower {
			t.Fatalf("scanHost(%q) = %v, %v", base, ascii, lower)
		}
		for i := range n {
			for _, c := range []byte{'@', 'A', 'M', 'Z', '[', '`', 'a', 'z', '{', 0x7f, 0x80, 0xc3, 0xff} {
				s := []byte(base)
				s[i] = c
				a, l := scanHost(string(s))
				if wa, wl := want(string(s)); a != wa || l != wl {
					t.Errorf("scanHost(%q) = %v, %v; want %v, %v", s, a, l, wa, wl)
				}
				// The fold comparison, on the same variants.
				if got, want := equalFoldLower(string(s), base), a && strings.ToLower(string(s)) == base; got != want {
					t.Errorf("equalFoldLower(%q, %q) = %v; want %v", s, base, got, want)
				}
			}
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
		checkMatchPaths(t, p, host)
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
		{"upper-case-hit", "Gmail-SMTP-In.L.Google.COM"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Match(bc.host)
			}
		})
	}
}

// BenchmarkMatchManyPatterns matches against the last of 20 patterns, half
// of them wildcards.
func BenchmarkMatchManyPatterns(b *testing.B) {
	var text strings.Builder
	text.WriteString("version: STSv1\nmode: enforce\nmax_age: 1\n")
	for i := range 10 {
		fmt.Fprintf(&text, "mx: *.pool%d.example.net\nmx: mx%d.example.com\n", i, i)
	}
	p := mustPolicy(b, text.String())
	b.ReportAllocs()
	for b.Loop() {
		p.Match("mx9.example.com")
	}
}
