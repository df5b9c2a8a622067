package mtasts

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name string
		in   string
		id   string
		ext  []Extension
		err  error
	}{
		// RFC 8461, Section 3.1 examples
		{"rfc example", "v=STSv1; id=20160831085700Z;", "20160831085700Z", nil, nil},
		{"no final delimiter", "v=STSv1; id=20160831085700Z", "20160831085700Z", nil, nil},

		// Delimiters: *WSP ";" *WSP, optional final delimiter.
		{"no spaces", "v=STSv1;id=abc", "abc", nil, nil},
		{"tabs and spaces", "v=STSv1 \t;\t id=abc \t; ", "abc", nil, nil},
		{"final delimiter then space", "v=STSv1; id=abc;   ", "abc", nil, nil},
		{"id 32 chars", "v=STSv1; id=" + strings.Repeat("a", 32), strings.Repeat("a", 32), nil, nil},
		{"id digits and letters", "v=STSv1; id=AbC123", "AbC123", nil, nil},

		// Duplicate id: the first wins.
		{"duplicate id", "v=STSv1; id=first; id=second", "first", nil, nil},
		// Extensions are kept in order and otherwise ignored.
		{"extensions", "v=STSv1; foo=bar; id=x; a_b-c.d=v!", "x",
			[]Extension{{"foo", "bar"}, {"a_b-c.d", "v!"}}, nil},
		{"extension name 32 chars", "v=STSv1; id=x; " + strings.Repeat("n", 32) + "=v", "x",
			[]Extension{{strings.Repeat("n", 32), "v"}}, nil},

		// Syntax errors.
		{"empty id", "v=STSv1; id=", "", nil, ErrRecordSyntax},
		{"id with hyphen", "v=STSv1; id=abc-123", "", nil, ErrRecordSyntax},
		{"id 33 chars", "v=STSv1; id=" + strings.Repeat("a", 33), "", nil, ErrRecordSyntax},
		{"no id", "v=STSv1; foo=bar", "", nil, ErrRecordSyntax},
		{"version only", "v=STSv1", "", nil, ErrRecordSyntax},
		{"version and delimiter only", "v=STSv1;", "", nil, ErrRecordSyntax},
		{"extension value with =", "v=STSv1; id=x; ext=a=b", "", nil, ErrRecordSyntax},
		{"double delimiter", "v=STSv1;; id=x", "", nil, ErrRecordSyntax},
		{"double delimiter at end", "v=STSv1; id=x;;", "", nil, ErrRecordSyntax},
		{"trailing space without delimiter", "v=STSv1; id=x ", "", nil, ErrRecordSyntax},
		{"non-ASCII value", "v=STSv1; id=x; e=é", "", nil, ErrRecordSyntax},
		{"non-ASCII id", "v=STSv1; id=é", "", nil, ErrRecordSyntax},
		{"space inside value", "v=STSv1; id=x; e=a b", "", nil, ErrRecordSyntax},
		{"extension name starting with _", "v=STSv1; id=x; _e=a", "", nil, ErrRecordSyntax},
		{"extension name 33 chars", "v=STSv1; id=x; " + strings.Repeat("n", 33) + "=v", "", nil, ErrRecordSyntax},
		{"field without =", "v=STSv1; id", "", nil, ErrRecordSyntax},
		{"upper-case id key is an extension", "v=STSv1; ID=x", "", nil, ErrRecordSyntax},

		// Not a record at all.
		{"leading space", " v=STSv1; id=x", "", nil, ErrNoRecord},
		{"wrong version case", "v=stsv1; id=x", "", nil, ErrNoRecord},
		{"STSv10", "v=STSv10; id=x", "", nil, ErrNoRecord},
		{"empty", "", "", nil, ErrNoRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRecord(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseRecord(%q) = %+v, %v; want error %v", tt.in, r, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRecord(%q): %v", tt.in, err)
			}
			if r.ID != tt.id || !reflect.DeepEqual(r.Extensions, tt.ext) {
				t.Fatalf("ParseRecord(%q) = %+v; want id %q ext %v", tt.in, r, tt.id, tt.ext)
			}
			back, err := ParseRecord(r.String())
			if err != nil || !reflect.DeepEqual(back, r) {
				t.Fatalf("round trip of %q via %q = %+v, %v", tt.in, r.String(), back, err)
			}
		})
	}
}

func TestSelectRecord(t *testing.T) {
	tests := []struct {
		name string
		txts []string
		id   string
		err  error
	}{
		{"one record", []string{"v=STSv1; id=a"}, "a", nil},
		{"others ignored", []string{"v=spf1 -all", "v=STSv1; id=a", "google-site-verification=x"}, "a", nil},
		{"STSv10 is not a candidate", []string{"v=STSv10; id=b", "v=STSv1; id=a"}, "a", nil},
		{"candidate by version alone", []string{"v=STSv1", "v=STSv1; id=a"}, "", ErrMultipleRecords},
		{"none", nil, "", ErrNoRecord},
		{"no candidate", []string{"v=spf1 -all"}, "", ErrNoRecord},
		{"two records", []string{"v=STSv1; id=a", "v=STSv1; id=b"}, "", ErrMultipleRecords},
		{"two identical records are still two", []string{"v=STSv1; id=a", "v=STSv1; id=a"}, "", ErrMultipleRecords},
		{"one candidate with bad syntax", []string{"v=STSv1; id=a-b"}, "", ErrRecordSyntax},
		{"candidate with space before ;", []string{"v=STSv1 ; id=a"}, "a", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := SelectRecord(tt.txts)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("SelectRecord(%q) = %+v, %v; want %v", tt.txts, r, err, tt.err)
				}
				return
			}
			if err != nil || r.ID != tt.id {
				t.Fatalf("SelectRecord(%q) = %+v, %v; want id %q", tt.txts, r, err, tt.id)
			}
		})
	}
}

func FuzzParseRecord(f *testing.F) {
	// RFC 8461, Section 3.1 example.
	f.Add("v=STSv1; id=20160831085700Z;")
	// Extensions, tabs, duplicate id.
	f.Add("v=STSv1\t;id=a; ext=b;id=c")
	// Syntax errors that must stay errors.
	f.Add("v=STSv1; id=abc-123")
	f.Add("v=STSv1;;")
	f.Add("v=STSv10; id=a")
	f.Add("v=STSv1; id=x; e=a=b")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseRecord(in)
		if err != nil {
			if !errors.Is(err, ErrRecordSyntax) && !errors.Is(err, ErrNoRecord) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !validRecordID(r.ID) {
			t.Fatalf("invalid id %q accepted", r.ID)
		}
		back, err := ParseRecord(r.String())
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip of %q via %q = %+v, %v", in, r.String(), back, err)
		}
	})
}
