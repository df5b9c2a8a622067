// Package domain normalises domain names for strictmx: every name that the
// library compares, stores or reports goes through Normalize first, so that
// "Mail.Example.COM.", "mail.example.com" and a U-label spelling of the same
// name all become one A-label string.
package domain

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits from RFC 1035, Section 2.3.4, for the textual form without the
// trailing dot.
const (
	MaxLength      = 253
	MaxLabelLength = 63
)

// ErrInvalid is wrapped by every error Normalize returns.
var ErrInvalid = errors.New("invalid domain name")

// profile converts U-labels to A-labels with the rules used for lookups
// (UTS #46 non-transitional, as browsers and resolvers do) and validates
// A-labels that are already in punycode.
var profile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
)

// Normalize returns name as a lower-case A-label with no trailing dot.
//
// It rejects the empty name, empty labels, names and labels over the DNS
// length limits, characters outside letters, digits and hyphens, labels that
// begin or end with a hyphen, and IP literals (a name whose last label is
// all digits, or anything with brackets or colons). A name that is already
// normalised is returned as it is, without allocating.
func Normalize(name string) (string, error) {
	if normal(name) {
		return name, nil // the hot path: one pass, nothing to do
	}
	return normalize(name)
}

// normal reports, in one pass and without allocating, whether name is
// already what Normalize returns: lower-case letter-digit-hyphen labels of
// 1 to 63 octets, at most 253 octets, no trailing dot, no label beginning
// or ending with a hyphen, a last label that is not all digits, and no
// label beginning "xn-" (an A-label must be decoded to be checked, which
// normalize does). A false answer only means normalize has work to do.
func normal(name string) bool {
	if len(name) == 0 || len(name) > MaxLength {
		return false
	}
	start, digits := 0, true // the current label's start; all digits so far
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z':
			digits = false
		case '0' <= c && c <= '9':
		case c == '-':
			if i == start || (i-start == 2 && name[start] == 'x' && name[start+1] == 'n') {
				return false // a leading hyphen, or a possible A-label
			}
			digits = false
		case c == '.':
			if i == start || i-start > MaxLabelLength || name[i-1] == '-' {
				return false
			}
			start, digits = i+1, true
		default:
			return false // upper case, non-LDH, non-ASCII
		}
	}
	n := len(name)
	return start < n && n-start <= MaxLabelLength && name[n-1] != '-' && !digits
}

// normalize is Normalize for a name that is not already normal.
func normalize(name string) (string, error) {
	n := strings.TrimSuffix(name, ".")
	ascii, lower := scan(n)
	if ascii {
		if err := checkLDH(n); err != nil {
			return "", fmt.Errorf("%w %q: %s", ErrInvalid, name, err.Error())
		}
		if !lower {
			n = strings.ToLower(n)
		}
		if hasALabel(n) {
			// Punycode must decode to a valid U-label; idna checks that.
			if _, err := profile.ToUnicode(n); err != nil {
				return "", fmt.Errorf("%w %q: bad A-label", ErrInvalid, name)
			}
		}
		return n, nil
	}
	if !utf8.ValidString(n) {
		return "", fmt.Errorf("%w %q: not UTF-8", ErrInvalid, name)
	}
	a, err := profile.ToASCII(n)
	if err != nil {
		return "", fmt.Errorf("%w %q: %s", ErrInvalid, name, "cannot convert to an A-label")
	}
	a = strings.ToLower(a)
	if err := checkLDH(a); err != nil {
		return "", fmt.Errorf("%w %q: %s", ErrInvalid, name, err.Error())
	}
	return a, nil
}

// IsASCII reports whether s has only ASCII bytes.
func IsASCII(s string) bool {
	ascii, _ := scan(s)
	return ascii
}

// scan reports whether s is all ASCII and whether it has no upper-case
// letters.
func scan(s string) (ascii, lower bool) {
	ascii, lower = true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return false, false
		}
		if 'A' <= c && c <= 'Z' {
			lower = false
		}
	}
	return ascii, lower
}

type checkError string

func (e checkError) Error() string { return string(e) }

// checkLDH validates an ASCII name (no trailing dot) against the
// letter-digit-hyphen rules and the length limits. It does not allocate.
func checkLDH(n string) error {
	switch {
	case n == "":
		return checkError("empty name")
	case len(n) > MaxLength:
		return checkError("name longer than 253 octets")
	}
	start := 0
	for i := 0; i <= len(n); i++ {
		if i < len(n) && n[i] != '.' {
			c := n[i]
			if !isLDH(c) {
				if c == '[' || c == ']' || c == ':' {
					return checkError("IP literal")
				}
				return checkError("character not allowed in a host name")
			}
			continue
		}
		label := n[start:i]
		switch {
		case label == "":
			return checkError("empty label")
		case len(label) > MaxLabelLength:
			return checkError("label longer than 63 octets")
		case label[0] == '-' || label[len(label)-1] == '-':
			return checkError("label begins or ends with a hyphen")
		}
		start = i + 1
	}
	if allDigits(n[strings.LastIndexByte(n, '.')+1:]) {
		return checkError("IP literal or all-numeric top-level label")
	}
	return nil
}

// ValidASCII reports whether n (ASCII, no trailing dot, any case) is a
// valid host name under the same rules as Normalize. It does not allocate.
func ValidASCII(n string) bool {
	ascii, _ := scan(n)
	return ascii && checkLDH(n) == nil
}

// ValidDNSName reports whether n (no trailing dot) is a DNS name as this
// module asks for and compares them: a non-empty dot-separated sequence of
// non-empty labels of at most MaxLabelLength letters, digits, hyphens or
// underscores (`_mta-sts`, `_25._tcp`), at most MaxLength bytes in all. It
// does not allocate.
func ValidDNSName(n string) bool {
	if n == "" || len(n) > MaxLength {
		return false
	}
	label := 0
	for i := 0; i < len(n); i++ {
		switch c := n[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case isLDH(c), c == '_':
		default:
			return false
		}
		label++
		if label > MaxLabelLength {
			return false
		}
	}
	return label > 0
}

func isLDH(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// hasALabel reports whether a lower-case name has a label starting "xn--".
func hasALabel(n string) bool {
	return strings.HasPrefix(n, "xn--") || strings.Contains(n, ".xn--")
}
