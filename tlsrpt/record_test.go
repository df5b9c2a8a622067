package tlsrpt

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		rua     []string
		ignored []string
		err     error
	}{
		// RFC 8460, Section 3.1 examples.
		{"rfc mailto", "v=TLSRPTv1; rua=mailto:reports@example.com", []string{"mailto:reports@example.com"}, nil, nil},
		{"rfc https", "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", []string{"https://reporting.example.com/v1/tlsrpt"}, nil, nil},
		{"rfc both", "v=TLSRPTv1; rua=mailto:reports@example.com,https://reporting.example.com/v1/tlsrpt",
			[]string{"mailto:reports@example.com", "https://reporting.example.com/v1/tlsrpt"}, nil, nil},

		// Whitespace tolerance around ";" and ",".
		{"wsp around delims", "v=TLSRPTv1 ;\trua=mailto:a@example.com , \thttps://r.example.com/x ; ",
			[]string{"mailto:a@example.com", "https://r.example.com/x"}, nil, nil},
		{"trailing semicolon", "v=TLSRPTv1;rua=mailto:a@example.com;", []string{"mailto:a@example.com"}, nil, nil},
		{"empty fields", "v=TLSRPTv1;;rua=mailto:a@example.com;;", []string{"mailto:a@example.com"}, nil, nil},

		// Extensions before or after rua; several rua fields.
		{"ext before", "v=TLSRPTv1; ext=1; rua=mailto:a@example.com", []string{"mailto:a@example.com"}, nil, nil},
		{"ext after", "v=TLSRPTv1; rua=mailto:a@example.com; x-foo.bar=baz", []string{"mailto:a@example.com"}, nil, nil},
		{"two rua fields", "v=TLSRPTv1; rua=mailto:a@example.com; rua=https://r.example.com/",
			[]string{"mailto:a@example.com", "https://r.example.com/"}, nil, nil},
		{"upper-case RUA is an extension", "v=TLSRPTv1; RUA=mailto:a@example.com", nil, nil, ErrNoRUA},

		// Percent-decoding (RFC 8460, Section 3: "," and "!" must be encoded).
		{"pct comma splits nothing", "v=TLSRPTv1; rua=https://r.example.com/x?a=1%2C2,mailto:a@example.com",
			[]string{"https://r.example.com/x?a=1,2", "mailto:a@example.com"}, nil, nil},
		{"pct comma in mailto is not an addr-spec", "v=TLSRPTv1; rua=mailto:a%2Cb@example.com", nil, nil, ErrNoRUA},
		{"pct plus", "v=TLSRPTv1; rua=mailto:tls%2Brpt@example.com", []string{"mailto:tls+rpt@example.com"}, nil, nil},
		{"pct bang", "v=TLSRPTv1; rua=mailto:tls%21rpt@example.com", []string{"mailto:tls!rpt@example.com"}, nil, nil},
		{"pct semicolon", "v=TLSRPTv1; rua=mailto:a%3Bb@example.com", nil, []string{"mailto:a%3Bb@example.com"}, ErrNoRUA},
		{"mailto hfields dropped", "v=TLSRPTv1; rua=mailto:a@Example.COM?subject=x", []string{"mailto:a@example.com"}, nil, nil},
		{"https delimiters decoded", "v=TLSRPTv1; rua=https://r.example.com/a%2Cb", []string{"https://r.example.com/a,b"}, nil, nil},
		{"https semicolon decoded", "v=TLSRPTv1; rua=https://r.example.com/r/wrong%3Bname", []string{"https://r.example.com/r/wrong;name"}, nil, nil},
		{"https bang decoded", "v=TLSRPTv1; rua=https://r.example.com/r/a%21b", []string{"https://r.example.com/r/a!b"}, nil, nil},
		{"https other escapes kept", "v=TLSRPTv1; rua=https://r.example.com/a%2Fb%20c", []string{"https://r.example.com/a%2Fb%20c"}, nil, nil},
		{"mailto quoted local part kept", `v=TLSRPTv1; rua=mailto:"a@evil.test"@Example.com`, []string{`mailto:"a@evil.test"@example.com`}, nil, nil},
		{"mailto encoded quotes kept", "v=TLSRPTv1; rua=mailto:%22a@evil.test%22@example.com", []string{`mailto:"a@evil.test"@example.com`}, nil, nil},

		// Only mailto: and https:; others ignored without failing.
		{"http ignored", "v=TLSRPTv1; rua=http://r.example.com/,mailto:a@example.com",
			[]string{"mailto:a@example.com"}, []string{"http://r.example.com/"}, nil},
		{"scheme-less ignored", "v=TLSRPTv1; rua=reports@example.com,mailto:a@example.com",
			[]string{"mailto:a@example.com"}, []string{"reports@example.com"}, nil},
		{"only unusable", "v=TLSRPTv1; rua=ftp://x.example.com/", nil, nil, ErrNoRUA},
		{"mailto without domain", "v=TLSRPTv1; rua=mailto:reports", nil, nil, ErrNoRUA},
		{"https without host", "v=TLSRPTv1; rua=https:///x", nil, nil, ErrNoRUA},
		{"upper-case scheme", "v=TLSRPTv1; rua=MAILTO:a@example.com,HTTPS://R.example.com/",
			[]string{"mailto:a@example.com", "https://R.example.com/"}, nil, nil},

		// Errors.
		{"no rua", "v=TLSRPTv1; ext=1", nil, nil, ErrNoRUA},
		{"empty rua", "v=TLSRPTv1; rua=", nil, nil, ErrNoRUA},
		{"wrong version", "v=TLSRPTv2; rua=mailto:a@example.com", nil, nil, ErrRecordSyntax},
		{"no delimiter after version", "v=TLSRPTv1 rua=mailto:a@example.com", nil, nil, ErrRecordSyntax},
		{"field without =", "v=TLSRPTv1; rua=mailto:a@example.com; junk", nil, nil, ErrRecordSyntax},
		{"bad field name", "v=TLSRPTv1; _x=1; rua=mailto:a@example.com", nil, nil, ErrRecordSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRecord(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseRecord(%q) error = %v, want %v", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRecord(%q): %v", tt.in, err)
			}
			if !slices.Equal(r.RUA, tt.rua) {
				t.Errorf("RUA = %q, want %q", r.RUA, tt.rua)
			}
			if !slices.Equal(r.Ignored, tt.ignored) {
				t.Errorf("Ignored = %q, want %q", r.Ignored, tt.ignored)
			}
		})
	}
}

func TestSelectRecord(t *testing.T) {
	const good = "v=TLSRPTv1; rua=mailto:a@example.com"
	tests := []struct {
		name string
		txts []string
		err  error
	}{
		{"one", []string{good}, nil},
		{"other TXT ignored", []string{"v=spf1 -all", good, "v=TLSRPTv10; rua=mailto:b@example.com"}, nil},
		{"version then wsp then ;", []string{"v=TLSRPTv1 \t; rua=mailto:a@example.com"}, nil},
		{"none", []string{"v=spf1 -all"}, ErrNoRecord},
		{"empty", nil, ErrNoRecord},
		{"two", []string{good, good}, ErrMultipleRecords},
		{"one selected but bad", []string{"v=TLSRPTv1; x=y"}, ErrNoRUA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SelectRecord(tt.txts)
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("SelectRecord(%q) error = %v, want %v", tt.txts, err, tt.err)
			}
		})
	}
}

type fakeResolver struct {
	txt map[string][]string
	err map[string]error
	got []string
}

func (f *fakeResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	f.got = append(f.got, name)
	if err := f.err[name]; err != nil {
		return nil, err
	}
	if v, ok := f.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func TestLookup(t *testing.T) {
	r := &fakeResolver{
		txt: map[string][]string{"_smtp._tls.example.com": {"v=TLSRPTv1;rua=https://r.example.com/"}},
		err: map[string]error{
			"_smtp._tls.servfail.example": &net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true},
			"_smtp._tls.timeout.example":  &net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true},
		},
	}
	ctx := context.Background()
	rec, err := Lookup(ctx, r, "EXAMPLE.com.")
	if err != nil || len(rec.RUA) != 1 {
		t.Fatalf("Lookup(EXAMPLE.com.) = %v, %v", rec, err)
	}
	if r.got[0] != "_smtp._tls.example.com" {
		t.Errorf("queried %q, want the normalised name", r.got[0])
	}
	for d, want := range map[string]error{
		"missing.example":  ErrNoRecord,
		"servfail.example": ErrDNSTemporary,
		"timeout.example":  ErrDNSTemporary,
		"bad..example":     ErrRecordSyntax,
	} {
		if _, err := Lookup(ctx, r, d); !errors.Is(err, want) {
			t.Errorf("Lookup(%s) error = %v, want %v", d, err, want)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	// RFC 8460, Section 3.1 examples.
	f.Add("v=TLSRPTv1; rua=mailto:reports@example.com")
	f.Add("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt")
	// Several URIs, whitespace and extensions.
	f.Add("v=TLSRPTv1 ; ext=1;rua=mailto:a%2Cb@example.com , https://r.example.com/;rua=x")
	// Malformed.
	f.Add("v=TLSRPTv1;;=;rua=mailto:%zz")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			if r != nil {
				t.Fatal("record returned with error")
			}
			return
		}
		if len(r.RUA) == 0 {
			t.Fatal("no rua without error")
		}
		for _, u := range r.RUA {
			if !strings.HasPrefix(u, "mailto:") && !strings.HasPrefix(u, "https://") {
				t.Fatalf("kept %q", u)
			}
			// A kept URI is stable: it parses again to itself.
			if strings.HasPrefix(u, "https://") {
				if again, ok := parseRUA(u); !ok || again != u {
					t.Fatalf("rua %q re-parses to %q, %v", u, again, ok)
				}
			}
		}
	})
}
