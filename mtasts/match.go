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
	//
	// Each comparison tries the bytes as they are first: a host as it
	// comes from DNS is already in lower case.
	for _, pat := range p.MX {
		if len(pat) > 2 && pat[0] == '*' {
			suffix := pat[1:] // ".example.com"
			if len(host) <= len(suffix) {
				continue
			}
			label, rest := host[:len(host)-len(suffix)], host[len(host)-len(suffix):]
			if (rest == suffix || equalFoldLower(rest, suffix)) && validLeftLabel(label) {
				return true
			}
		} else if len(host) == len(pat) && (host == pat || equalFoldLower(host, pat)) {
			return true
		}
	}
	if ascii, _ := scanHost(host); ascii {
		return false
	}
	// A non-ASCII host cannot match as it is: the patterns are ASCII.
	h, err := domain.Normalize(host)
	return err == nil && p.Match(h) // h is ASCII: one level deep
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
// already lower case, eight bytes at a time.
func equalFoldLower(s, lower string) bool {
	n := len(s)
	if n != len(lower) {
		return false
	}
	if n < 8 {
		for i := 0; i < n; i++ {
			if toLower[s[i]] != lower[i] {
				return false
			}
		}
		return true
	}
	for i := 0; i < n-8; i += 8 {
		if lower64(load64(s, i)) != load64(lower, i) {
			return false
		}
	}
	return lower64(load64(s, n-8)) == load64(lower, n-8) // overlapping
}

// Eight-byte words, one byte a lane, for scanning and comparing names a
// word at a time: a name is a few dozen bytes, and a byte loop would cost
// more than everything else Match does.
const (
	lanes    = 0x0101010101010101
	highBits = 0x8080808080808080
)

// upper64 returns the high bit of each lane of w that holds an ASCII
// upper-case letter. For a byte b < 0x80, b+(0x80-'A') has its high bit set
// iff b >= 'A' and b+(0x7f-'Z') iff b > 'Z', neither carrying into the next
// lane; their XOR has it iff b is upper case. A lane with its own high bit
// (non-ASCII) is left out, and the lanes above it may be wrong: callers
// check for non-ASCII bytes separately, or compare with an ASCII word, which
// such a lane never equals.
func upper64(w uint64) uint64 {
	return ((w + (0x80-'A')*lanes) ^ (w + (0x7f-'Z')*lanes)) &^ w & highBits
}

// lower64 maps the ASCII upper-case letters of w to lower case, with the
// caveat of upper64 for words with non-ASCII bytes.
func lower64(w uint64) uint64 { return w | upper64(w)>>2 }

// scanHost reports whether s has only ASCII bytes and whether it has, in
// addition, no upper-case letters.
func scanHost(s string) (ascii, lower bool) {
	var all, upper uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := load64(s, i)
		all, upper = all|w, upper|upper64(w)
	}
	if i < len(s) {
		if len(s) >= 8 {
			w := load64(s, len(s)-8) // the last eight bytes, overlapping
			all, upper = all|w, upper|upper64(w)
		} else {
			for ; i < len(s); i++ {
				c := s[i]
				all |= uint64(c)
				if 'A' <= c && c <= 'Z' {
					upper = highBits
				}
			}
		}
	}
	ascii = all&highBits == 0
	return ascii, ascii && upper == 0
}

// load64 returns s[i:i+8] as a little-endian word; the compiler turns it
// into one load.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
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
