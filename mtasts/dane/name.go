package dane

import (
	"crypto/x509"
	"strings"

	"github.com/strictmx/strictmx/internal/domain"
)

// MatchName reports whether cert names one of the reference identifiers
// ids (RFC 7672, Section 3.2.3), by these rules:
//
//   - the presented identifiers are the certificate's DNS-ID subject
//     alternative names, or, only when it has none, its subject common
//     name (crypto/x509 ignores the common name; DANE-TA name checks do
//     not);
//   - IP address subject alternative names are never used;
//   - names are A-labels, compared case-insensitively in ASCII, a
//     trailing dot on either side ignored; a name with a byte outside
//     letters, digits, '-' and '_' (an unconverted U-label, say), or with
//     an empty label, matches nothing;
//   - "*" is a wildcard only as the whole left-most label of a presented
//     identifier, and matches exactly one label: "*.example.com" matches
//     "mx.example.com" but neither "example.com" nor "a.mx.example.com".
//     Partial-label wildcards ("mx*.example.com") and wildcards elsewhere
//     ("*.*.example.com") match nothing. Spec note: exactly one label is
//     strictmx's choice, where an RFC 7672 client may accept more.
//
// It allocates nothing.
func MatchName(cert *x509.Certificate, ids []string) bool {
	if cert == nil {
		return false
	}
	if len(cert.DNSNames) == 0 {
		return cert.Subject.CommonName != "" && matchAny(cert.Subject.CommonName, ids)
	}
	for _, p := range cert.DNSNames {
		if matchAny(p, ids) {
			return true
		}
	}
	return false
}

// matchAny reports whether the presented identifier pattern matches one
// of ids.
func matchAny(pattern string, ids []string) bool {
	pattern = strings.TrimSuffix(pattern, ".")
	wild := strings.HasPrefix(pattern, "*.")
	rest := pattern
	if wild {
		rest = pattern[2:]
	}
	if !domain.ValidDNSName(rest) {
		return false
	}
	for _, id := range ids {
		id = strings.TrimSuffix(id, ".")
		if !domain.ValidDNSName(id) {
			continue
		}
		if !wild {
			if equalASCII(id, rest) {
				return true
			}
			continue
		}
		dot := strings.IndexByte(id, '.')
		if dot > 0 && equalASCII(id[dot+1:], rest) {
			return true
		}
	}
	return false
}

// equalASCII reports whether a and b are equal ignoring ASCII case. Unlike
// strings.EqualFold it folds no other characters (the Kelvin sign is not
// "k"); callers pass names domain.ValidDNSName accepted.
func equalASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
