package mtasts

import (
	"fmt"
	"strings"
)

// Record is a parsed `_mta-sts` TXT record (RFC 8461, Section 3.1).
type Record struct {
	// ID identifies the policy version: 1 to 32 letters and digits.
	ID string
	// Extensions are the record's other fields, in order. strictmx knows
	// none and ignores them.
	Extensions []Extension
}

// Extension is an unknown name/value field of a record or a policy.
type Extension struct {
	Name  string
	Value string
}

// String returns the record in canonical form: "v=STSv1; id=ID" followed by
// each extension, separated by "; ". ParseRecord(r.String()) gives back r.
func (r *Record) String() string {
	var b strings.Builder
	b.WriteString(recordVersion)
	b.WriteString("; id=")
	b.WriteString(r.ID)
	for _, e := range r.Extensions {
		b.WriteString("; ")
		b.WriteString(e.Name)
		b.WriteByte('=')
		b.WriteString(e.Value)
	}
	return b.String()
}

const recordVersion = "v=STSv1"

// isRecordCandidate reports whether one TXT RR's text claims to be an
// MTA-STS record: "v=STSv1" followed by *WSP ";" or by the end of the text.
// "v=STSv10" is not a candidate.
func isRecordCandidate(txt string) bool {
	if !strings.HasPrefix(txt, recordVersion) {
		return false
	}
	rest := strings.TrimLeft(txt[len(recordVersion):], " \t")
	return rest == "" || rest[0] == ';'
}

// SelectRecord applies the RRset rule of RFC 8461, Section 3.1 to the TXT
// RRs of `_mta-sts.<domain>`, one string per RR with its character-strings
// already concatenated. RRs that do not start with v=STSv1 are ignored.
//
// It returns ErrNoRecord when no RR is a candidate, ErrMultipleRecords when
// more than one is (even identical ones), and an error wrapping
// ErrRecordSyntax when the one candidate does not parse.
func SelectRecord(txts []string) (*Record, error) {
	found := -1
	for i, t := range txts {
		if !isRecordCandidate(t) {
			continue
		}
		if found >= 0 {
			return nil, ErrMultipleRecords
		}
		found = i
	}
	if found < 0 {
		return nil, ErrNoRecord
	}
	return ParseRecord(txts[found])
}

// ParseRecord parses the text of one `_mta-sts` TXT RR (its strings
// concatenated) with the strict grammar of RFC 8461, Section 3.1. A record
// that does not start with v=STSv1 wraps ErrNoRecord; any other grammar
// violation wraps ErrRecordSyntax. A repeated id= is ignored (the first one
// wins); unknown extensions are kept in order.
func ParseRecord(txt string) (*Record, error) {
	if !isRecordCandidate(txt) {
		return nil, fmt.Errorf("%w: does not start with %q", ErrNoRecord, recordVersion)
	}
	s := txt[len(recordVersion):]
	r := &Record{}
	haveID := false
	for s != "" {
		// sts-field-delim = *WSP ";" *WSP
		s = trimWSP(s)
		if s == "" {
			return nil, recordSyntax(txt, "white space after the last field")
		}
		if s[0] != ';' {
			return nil, recordSyntax(txt, "expected ';'")
		}
		s = trimWSP(s[1:])
		if s == "" {
			break // optional final delimiter
		}
		end := strings.IndexAny(s, " \t;")
		if end < 0 {
			end = len(s)
		}
		field := s[:end]
		s = s[end:]
		name, value, ok := strings.Cut(field, "=")
		if !ok {
			return nil, recordSyntax(txt, "field without '='")
		}
		if name == "id" {
			if !validRecordID(value) {
				return nil, recordSyntax(txt, "id must be 1 to 32 letters and digits")
			}
			if !haveID {
				r.ID, haveID = value, true
			}
			continue
		}
		if !validExtName(name) {
			return nil, recordSyntax(txt, "bad extension name")
		}
		if !validRecordExtValue(value) {
			return nil, recordSyntax(txt, "bad extension value")
		}
		r.Extensions = append(r.Extensions, Extension{Name: name, Value: value})
	}
	if !haveID {
		return nil, recordSyntax(txt, "no id field")
	}
	return r, nil
}

func recordSyntax(txt, why string) error {
	const max = 80
	if len(txt) > max {
		txt = txt[:max] + "..."
	}
	return fmt.Errorf("%w: %s in %q", ErrRecordSyntax, why, txt)
}

func trimWSP(s string) string { return strings.TrimLeft(s, " \t") }

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// validRecordID: sts-id-value = 1*32(ALPHA / DIGIT).
func validRecordID(v string) bool {
	if len(v) < 1 || len(v) > 32 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isAlnum(v[i]) {
			return false
		}
	}
	return true
}

// validExtName: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."),
// shared by record and policy extensions.
func validExtName(n string) bool {
	if len(n) < 1 || len(n) > 32 || !isAlnum(n[0]) {
		return false
	}
	for i := 1; i < len(n); i++ {
		c := n[i]
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validRecordExtValue: 1*(%x21-3A / %x3C / %x3E-7E), that is visible ASCII
// but ';' and '='.
func validRecordExtValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c > 0x7e || c == ';' || c == '=' {
			return false
		}
	}
	return true
}
