package mtasts

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/domain"
)

// Seen in the wild, as served on the day these tests were written.
const (
	gmailPolicy = "version: STSv1\nmode: enforce\nmx: gmail-smtp-in.l.google.com\nmx: *.gmail-smtp-in.l.google.com\nmax_age: 86400\n"
	// Outlook uses CRLF and no final line end.
	outlookPolicy = "version: STSv1\r\nmode: enforce\r\nmx: *.mail.protection.outlook.com\r\nmax_age: 604800"
)

func TestParsePolicy(t *testing.T) {
	type want struct {
		mode     Mode
		mx       []string
		maxAge   time.Duration
		ext      []Extension
		warnings int
	}
	tests := []struct {
		name string
		in   string
		want want
		err  error
	}{
		// RFC 8461, Section 3.2 example.
		{"rfc example",
			"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n",
			want{ModeEnforce, []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, 604800 * time.Second, nil, 0}, nil},

		// Seen in the wild.
		{"gmail", gmailPolicy,
			want{ModeEnforce, []string{"gmail-smtp-in.l.google.com", "*.gmail-smtp-in.l.google.com"}, 86400 * time.Second, nil, 0}, nil},
		{"outlook", outlookPolicy,
			want{ModeEnforce, []string{"*.mail.protection.outlook.com"}, 604800 * time.Second, nil, 0}, nil},
		{"only mx is an IP literal", "version: STSv1\nmode: enforce\nmx: 192.0.2.1\nmax_age: 86400\n",
			want{}, ErrPolicyInvalid},
		{"typo'd mx key in enforce", "version: STSv1\nmode: enforce\nnmx: mail.example.com\nmax_age: 86400\n",
			want{}, ErrPolicyInvalid},
		{"typo'd mx key in none", "version: STSv1\nmode: none\nnmx: mail.example.com\nmax_age: 86400\n",
			want{ModeNone, nil, 86400 * time.Second, []Extension{{"nmx", "mail.example.com"}}, 0}, nil},

		// Accepted with no warning.
		{"mixed line ends", "version: STSv1\r\nmode: testing\nmx: a.example\r\nmax_age: 1",
			want{ModeTesting, []string{"a.example"}, time.Second, nil, 0}, nil},
		{"white space after colon and at line end", "version:\tSTSv1 \nmode:   enforce\t\nmx:a.example \nmax_age:  5 \n",
			want{ModeEnforce, []string{"a.example"}, 5 * time.Second, nil, 0}, nil},
		{"any order", "max_age: 7\nmx: a.example\nmode: enforce\nversion: STSv1\n",
			want{ModeEnforce, []string{"a.example"}, 7 * time.Second, nil, 0}, nil},
		{"unknown fields", "version: STSv1\nmode: none\nmax_age: 1\nfoo: bar baz\nx.y-z_1: ünïcode ok\n",
			want{ModeNone, nil, time.Second, []Extension{{"foo", "bar baz"}, {"x.y-z_1", "ünïcode ok"}}, 0}, nil},
		{"duplicate fields: first wins", "version: STSv1\nmode: testing\nmode: enforce\nmax_age: 10\nmax_age: 20\nmx: a.example\nfoo: 1\nfoo: 2\n",
			want{ModeTesting, []string{"a.example"}, 10 * time.Second, []Extension{{"foo", "1"}}, 0}, nil},
		{"duplicate field with a bad value is ignored", "version: STSv1\nmode: none\nmode: bogus\nmax_age: 1\n",
			want{ModeNone, nil, time.Second, nil, 0}, nil},
		{"upper-case mx stored lower case", "version: STSv1\nmode: enforce\nmx: *.MX.Example.COM\nmax_age: 1\n",
			want{ModeEnforce, []string{"*.mx.example.com"}, time.Second, nil, 0}, nil},
		{"mode none needs no mx", "version: STSv1\nmode: none\nmax_age: 86400\n",
			want{ModeNone, nil, 86400 * time.Second, nil, 0}, nil},

		// max_age bounds.
		{"max_age 0", "version: STSv1\nmode: none\nmax_age: 0\n", want{ModeNone, nil, 0, nil, 0}, nil},
		{"max_age leading zeros", "version: STSv1\nmode: none\nmax_age: 0086400\n", want{ModeNone, nil, 86400 * time.Second, nil, 0}, nil},
		{"max_age at the cap", "version: STSv1\nmode: none\nmax_age: 31557600\n", want{ModeNone, nil, MaxMaxAge, nil, 0}, nil},
		{"max_age one over the cap", "version: STSv1\nmode: none\nmax_age: 31557601\n", want{ModeNone, nil, MaxMaxAge, nil, 1}, nil},
		{"max_age 10 digits", "version: STSv1\nmode: none\nmax_age: 9999999999\n", want{ModeNone, nil, MaxMaxAge, nil, 1}, nil},
		{"max_age 11 digits", "version: STSv1\nmode: none\nmax_age: 00000000001\n", want{}, ErrPolicyInvalid},
		{"max_age negative", "version: STSv1\nmode: none\nmax_age: -1\n", want{}, ErrPolicyInvalid},
		{"max_age plus sign", "version: STSv1\nmode: none\nmax_age: +5\n", want{}, ErrPolicyInvalid},
		{"max_age with unit", "version: STSv1\nmode: none\nmax_age: 86400s\n", want{}, ErrPolicyInvalid},
		{"max_age empty", "version: STSv1\nmode: none\nmax_age:\n", want{}, ErrPolicyInvalid},

		// Accepted with a warning.
		{"byte order mark", "\ufeffversion: STSv1\nmode: none\nmax_age: 1\n", want{ModeNone, nil, time.Second, nil, 1}, nil},
		{"blank lines", "version: STSv1\n\nmode: none\n\r\nmax_age: 1\n\n", want{ModeNone, nil, time.Second, nil, 3}, nil},
		{"not name: value", "version: STSv1\nmode: none\njunk\nmode : enforce\nmax_age: 1\n", want{ModeNone, nil, time.Second, nil, 2}, nil},
		{"bad extension name", "version: STSv1\nmode: none\n_x: 1\nmax_age: 1\n", want{ModeNone, nil, time.Second, nil, 1}, nil},
		{"bad extension value", "version: STSv1\nmode: none\nx: a\tb\ny:\nmax_age: 1\n", want{ModeNone, nil, time.Second, nil, 2}, nil},
		{"mx with trailing dot", "version: STSv1\nmode: enforce\nmx: mail.example.com.\nmax_age: 1\n",
			want{ModeEnforce, []string{"mail.example.com"}, time.Second, nil, 1}, nil},
		{"invalid mx patterns dropped", "version: STSv1\nmode: testing\n" +
			"mx: 192.0.2.1\nmx: bücher.example\nmx: .example.com\nmx: *.*.example.com\nmx: *\n" +
			"mx: mail.example.com:25\nmx: mail example.com\nmx: _mail.example.com\nmx: -mail.example.com\n" +
			"mx: mail-.example.com\nmx:\nmx: [2001:db8::1]\nmx: ok.example.com\nmax_age: 1\n",
			want{ModeTesting, []string{"ok.example.com"}, time.Second, nil, 12}, nil},
		{"wildcard not at the start", "version: STSv1\nmode: enforce\nmx: mail.*.example.com\nmx: a.example\nmax_age: 1\n",
			want{ModeEnforce, []string{"a.example"}, time.Second, nil, 1}, nil},

		// Refused.
		{"empty body", "", want{}, ErrPolicyInvalid},
		{"only a byte order mark", "\ufeff", want{}, ErrPolicyInvalid},
		{"only blank lines", "\n\n", want{}, ErrPolicyInvalid},
		{"CR-only line ends", "version: STSv1\rmode: none\rmax_age: 1\r", want{}, ErrPolicyInvalid},
		{"CR at the end", "version: STSv1\nmode: none\nmax_age: 1\r", want{}, ErrPolicyInvalid},
		{"missing version", "mode: none\nmax_age: 1\n", want{}, ErrPolicyInvalid},
		{"wrong version", "version: STSv2\nmode: none\nmax_age: 1\n", want{}, ErrPolicyInvalid},
		{"version case", "version: stsv1\nmode: none\nmax_age: 1\n", want{}, ErrPolicyInvalid},
		{"missing mode", "version: STSv1\nmax_age: 1\n", want{}, ErrPolicyInvalid},
		{"mode case", "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", want{}, ErrPolicyInvalid},
		{"unknown mode", "version: STSv1\nmode: report\nmx: a.example\nmax_age: 1\n", want{}, ErrPolicyInvalid},
		{"missing max_age", "version: STSv1\nmode: none\n", want{}, ErrPolicyInvalid},
		{"enforce with no mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", want{}, ErrPolicyInvalid},
		{"testing with only invalid mx", "version: STSv1\nmode: testing\nmx: *\nmax_age: 1\n", want{}, ErrPolicyInvalid},
		{"field name case", "Version: STSv1\nmode: none\nmax_age: 1\n", want{}, ErrPolicyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tt.in))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParsePolicy(%q) = %+v, %v; want %v", tt.in, p, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePolicy(%q): %v", tt.in, err)
			}
			got := want{p.Mode, p.MX, p.MaxAge, p.Extensions, len(p.Warnings)}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParsePolicy(%q) = %+v (warnings %q); want %+v", tt.in, got, p.Warnings, tt.want)
			}
			if p.Version != "STSv1" || p.Raw != tt.in {
				t.Fatalf("Version %q, Raw %q", p.Version, p.Raw)
			}
			checkRoundTrip(t, p)
		})
	}
}

func checkRoundTrip(t *testing.T, p *Policy) {
	t.Helper()
	back, err := ParsePolicy([]byte(p.String()))
	if err != nil {
		t.Fatalf("canonical form %q does not parse: %v", p.String(), err)
	}
	if len(back.Warnings) != 0 {
		t.Fatalf("canonical form %q has warnings %q", p.String(), back.Warnings)
	}
	back.Raw, back.Warnings = p.Raw, p.Warnings
	if !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip: %+v != %+v", back, p)
	}
}

func TestPolicyWarningsBounded(t *testing.T) {
	in := "version: STSv1\nmode: none\nmax_age: 1\n" + strings.Repeat("\n", 10000)
	p, err := ParsePolicy([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != maxWarnings+1 {
		t.Fatalf("%d warnings; want %d", len(p.Warnings), maxWarnings+1)
	}
}

func TestPolicyLines(t *testing.T) {
	p, err := ParsePolicy([]byte("\ufeffversion: STSv1\r\nmode: enforce\r\n\r\nmx: a.example\nmax_age: 5"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"version: STSv1", "mode: enforce", "mx: a.example", "max_age: 5"}
	if got := p.Lines(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Lines() = %q; want %q", got, want)
	}
}

func FuzzParsePolicy(f *testing.F) {
	// Seen in the wild.
	f.Add([]byte(gmailPolicy))
	f.Add([]byte(outlookPolicy))
	// Leniencies: BOM, blank lines, trailing dot, cap, junk lines.
	f.Add([]byte("\ufeffversion: STSv1\n\nmode: testing\nmx: A.example.\nmax_age: 99999999999\njunk\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\nx: ünï code\n"))
	// Refused: CR-only, bad mode, no mx.
	f.Add([]byte("version: STSv1\rmode: none\rmax_age: 1"))
	f.Add([]byte("version: STSv1\nmode: enforce\nmx: 192.0.2.1\nmax_age: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			if !errors.Is(err, ErrPolicyInvalid) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge {
			t.Fatalf("MaxAge %v out of range", p.MaxAge)
		}
		for _, mx := range p.MX {
			if n, why := normalizePattern(mx); why != "" || n != mx {
				t.Fatalf("MX %q is not a valid lower-case pattern (%s)", mx, why)
			}
			if strings.ToLower(mx) != mx {
				t.Fatalf("MX %q not lower case", mx)
			}
			name := strings.TrimPrefix(mx, "*.")
			if _, err := domain.Normalize(name); err != nil {
				t.Fatalf("MX %q: %v", mx, err)
			}
		}
		if len(p.Warnings) > maxWarnings+1 {
			t.Fatalf("%d warnings", len(p.Warnings))
		}
		checkRoundTrip(t, p)
	})
}

func BenchmarkParsePolicy(b *testing.B) {
	data := []byte(gmailPolicy)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePolicy(data); err != nil {
			b.Fatal(err)
		}
	}
}

// Any input costs allocations of a small multiple of its size: the worst
// cases are many mx patterns (one string header each) and many junk lines
// (warnings are capped).
func TestParsePolicyAllocationBounded(t *testing.T) {
	head := "version: STSv1\nmode: enforce\nmax_age: 1\n"
	for name, line := range map[string]string{
		"mx":    "mx: a.bc\n",
		"junk":  "x\n",
		"blank": "\n",
		"ext":   "e: v\n",
		"badmx": "mx: *\n",
	} {
		input := []byte(head + strings.Repeat(line, (1<<20)/len(line)))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _ = ParsePolicy(input)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 8*uint64(len(input)) {
			t.Errorf("%s: %d bytes allocated for %d bytes of input", name, got, len(input))
		}
	}
}
