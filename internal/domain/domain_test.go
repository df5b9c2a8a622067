package domain

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		// Already normal, case, trailing dot.
		{"example.com", "example.com", true},
		{"Mail.Example.COM.", "mail.example.com", true},
		{"localhost", "localhost", true},
		{"a-b.example", "a-b.example", true},
		// U-labels become A-labels; A-labels are validated.
		{"bücher.example", "xn--bcher-kva.example", true},
		{"BÜCHER.example.", "xn--bcher-kva.example", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example", true},
		{"xn--zz.example", "", false},
		// Length limits.
		{strings.Repeat("a", 63) + ".example", strings.Repeat("a", 63) + ".example", true},
		{strings.Repeat("a", 64) + ".example", "", false},
		{strings.Repeat("a.", 126) + "b", strings.Repeat("a.", 126) + "b", true}, // 253
		{strings.Repeat("a.", 126) + "bc", "", false},                            // 254
		// Not names.
		{"", "", false},
		{".", "", false},
		{"a..b", "", false},
		{".example.com", "", false},
		{"example.com..", "", false},
		{"-a.example", "", false},
		{"a-.example", "", false},
		{"a_b.example", "", false},
		{"a b.example", "", false},
		{"*.example", "", false},
		{"192.0.2.1", "", false},
		{"[192.0.2.1]", "", false},
		{"2001:db8::1", "", false},
		{"mail.example.com:25", "", false},
		{"\xff.example", "", false},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Normalize(%q): error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}

func TestNormalizeNoAllocWhenNormal(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = Normalize("mail.example.com") }); n != 0 {
		t.Fatalf("Normalize of a normal name allocates %v times", n)
	}
}

func FuzzNormalize(f *testing.F) {
	// Plain, upper case, trailing dot, U-label, bad A-label, IP literal.
	for _, s := range []string{"example.com", "MAIL.Example.com.", "bücher.example", "xn--zz.example", "192.0.2.1", "a..b"} {
		f.Add(s)
	}
	// Shapes at the edges of the fast check.
	for _, s := range []string{"a-.example", "-a.example", "xn-a.example", "a.xn--x", "a.123", "a.b1", strings.Repeat("a", 64) + ".example", "a.example-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// The fast check never says "normal" of a name the full path would
		// change or refuse.
		if normal(in) {
			if n, err := normalize(in); err != nil || n != in {
				t.Fatalf("normal(%q) but normalize gives %q, %v", in, n, err)
			}
		}
		n, err := Normalize(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !ValidASCII(n) || strings.ToLower(n) != n {
			t.Fatalf("Normalize(%q) = %q, not a lower-case LDH name", in, n)
		}
		if again, err := Normalize(n); err != nil || again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, n, again, err)
		}
	})
}

// The fast check agrees with the full path on every shape it decides.
func TestNormalFastCheck(t *testing.T) {
	for _, tt := range []struct {
		in     string
		normal bool
	}{
		{"example.com", true},
		{"mail-1.example.co.uk", true},
		{"a.b1", true},
		{"x.example", true},
		{"xnb.example", true},
		{"Example.com", false},           // upper case
		{"example.com.", false},          // trailing dot
		{"-a.example", false},            // leading hyphen
		{"a-.example", false},            // trailing hyphen
		{"a.example-", false},            // trailing hyphen, last label
		{"a..example", false},            // empty label
		{".example", false},              // empty first label
		{"a.123", false},                 // all-digit last label
		{"xn--bcher-kva.example", false}, // A-label: full path decodes it
		{"a.xn--x", false},
		{"bücher.example", false}, // U-label
		{strings.Repeat("a", 63) + ".example", true},
		{strings.Repeat("a", 64) + ".example", false},
		{"", false},
	} {
		if got := normal(tt.in); got != tt.normal {
			t.Errorf("normal(%q) = %v, want %v", tt.in, got, tt.normal)
		}
		if tt.normal {
			if n, err := normalize(tt.in); err != nil || n != tt.in {
				t.Errorf("normal(%q), but normalize gives %q, %v", tt.in, n, err)
			}
		}
	}
}

func TestValidDNSName(t *testing.T) {
	long := strings.Repeat("a", 63)
	for n, want := range map[string]bool{
		"example.com": true, "_25._tcp.mx.example": true, "A-b.C": true, long + ".x": true,
		"": false, ".": false, "a..b": false, ".a": false, "a.": false, "a b": false,
		"ü.example": false, long + "a.x": false, strings.Repeat("a.", 127) + "ab": false,
	} {
		if got := ValidDNSName(n); got != want {
			t.Errorf("ValidDNSName(%q) = %v; want %v", n, got, want)
		}
	}
}
