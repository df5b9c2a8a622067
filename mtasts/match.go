package mtasts

import (
	"strings"

	"github.com/strictmx/strictmx/internal/domain"
)

// Match reports whether an MX host name matches one of the policy's mx
// patterns (RFC 8461, Section 4.1).
//
// Names are compared as A-labels, ignoring ASCII case and one trailing dot
// on host; a U-label host is converted first. A pattern "*.example.com"
// matches exactly one further, non-empty left-most label:
// "mail.example.com", but not "example.com" or "a.b.example.com". An IP
// literal never matches. Match does not allocate for ASCII input.
//
// Match ignores the mode: under a testing policy a mismatch must still be
// seen and reported.
func (p *Policy) Match(host string) bool {
	host = strings.TrimSuffix(host, ".")
	// Patterns are valid lower-case A-label names, so a host that equals
	// one, or one left label in front of a wildcard's suffix, is itself a
	// valid name and never an IP literal: no separate validation is needed
	// on the way to a match.
	if p.matchASCII(host) {
		return true
	}
	if domain.IsASCII(host) {
		return false
	}
	h, err := domain.Normalize(host)
	return err == nil && p.matchASCII(h)
}

func (p *Policy) matchASCII(host string) bool {
	for _, pat := range p.MX {
		if matchPattern(pat, host) {
			return true
		}
	}
	return false
}

// matchPattern matches an ASCII host against one lower-case pattern.
func matchPattern(pat, host string) bool {
	if len(pat) > 2 && pat[0] == '*' {
		suffix := pat[1:] // ".example.com"
		if len(host) <= len(suffix) {
			return false
		}
		label := host[:len(host)-len(suffix)]
		if !validLeftLabel(label) {
			return false
		}
		return equalFoldLower(host[len(label):], suffix)
	}
	return equalFoldLower(host, pat)
}

// validLeftLabel reports whether a wildcard's label is one host-name label.
func validLeftLabel(l string) bool {
	if l == "" || len(l) > domain.MaxLabelLength || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i] | 0x20
		if !('a' <= c && c <= 'z' || '0' <= l[i] && l[i] <= '9' || l[i] == '-') {
			return false
		}
	}
	return true
}

// equalFoldLower compares s, in any ASCII case, with lower, which is
// already lower case.
func equalFoldLower(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if toLower[s[i]] != lower[i] {
			return false
		}
	}
	return true
}

// toLower maps ASCII upper-case letters to lower case and every other byte
// to itself.
var toLower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()
