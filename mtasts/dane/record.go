package dane

import (
	"bytes"
	"cmp"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"slices"
	"strconv"

	"github.com/strictmx/strictmx/mtasts/resolver"
)

// TLSA field values (RFC 6698, Sections 2.1.1, 2.1.2 and 2.1.3). Only these are
// usable; every other value makes a record unusable (RFC 7672, Section
// 3.1.3 lets an SMTP client ignore PKIX-TA(0) and PKIX-EE(1), and strictmx
// does).
const (
	// UsageDANETA is DANE-TA(2): the record names a trust anchor.
	UsageDANETA = 2
	// UsageDANEEE is DANE-EE(3): the record names the server's own
	// certificate or key.
	UsageDANEEE = 3

	// SelectorCert is Cert(0): the whole DER certificate.
	SelectorCert = 0
	// SelectorSPKI is SPKI(1): the DER SubjectPublicKeyInfo.
	SelectorSPKI = 1

	// MatchingFull is Full(0): the data is the selected content itself.
	MatchingFull = 0
	// MatchingSHA256 is SHA2-256(1): the data is its SHA-256 digest.
	MatchingSHA256 = 1
	// MatchingSHA512 is SHA2-512(2): the data is its SHA-512 digest.
	MatchingSHA512 = 2
)

// Bounds on what an RRset keeps. A TLSA RRset arrives in one DNS message of
// at most 65535 bytes, and the resolver keeps at most 1000 answer records,
// so no real answer reaches them; a larger slice given to NewRRset is cut
// down to them, the same way whatever the order of the records.
const (
	// MaxRecords is the most distinct records an RRset keeps.
	MaxRecords = 1000
	// MaxData is the most association data, summed over the records, that
	// an RRset keeps.
	MaxData = 65535
)

// Usable reports whether r is usable for SMTP DANE:
// usage DANE-TA(2) or DANE-EE(3), selector Cert(0) or SPKI(1), matching
// type Full(0), SHA2-256(1) or SHA2-512(2), exactly 32 data bytes for
// SHA2-256 and 64 for SHA2-512, and Full(0) data that parses as a
// certificate (selector 0) or a SubjectPublicKeyInfo of a key type
// crypto/x509 knows (selector 1). Digest agility (NewRRset) may still set
// a usable record aside.
func Usable(r resolver.TLSA) bool {
	ok, _, _ := usable(r)
	return ok
}

// usable is Usable, returning the parsed Full(0) data: a certificate for
// selector 0, a public key for selector 1.
func usable(r resolver.TLSA) (ok bool, cert *x509.Certificate, key any) {
	if r.Usage != UsageDANETA && r.Usage != UsageDANEEE {
		return false, nil, nil
	}
	if r.Selector != SelectorCert && r.Selector != SelectorSPKI {
		return false, nil, nil
	}
	switch r.MatchingType {
	case MatchingSHA256:
		return len(r.Data) == sha256.Size, nil, nil
	case MatchingSHA512:
		return len(r.Data) == sha512.Size, nil, nil
	case MatchingFull:
		if len(r.Data) == 0 || len(r.Data) > MaxData {
			return false, nil, nil
		}
		if r.Selector == SelectorCert {
			c, err := x509.ParseCertificate(r.Data)
			if err != nil {
				return false, nil, nil
			}
			return true, c, nil
		}
		k, err := x509.ParsePKIXPublicKey(r.Data)
		if err != nil {
			return false, nil, nil
		}
		return true, nil, k
	}
	return false, nil, nil
}

// An RRset is a secure TLSA RRset made ready for verification: its records
// as kept (for the TLS-RPT policy-string), and the usable ones, after
// digest agility, in the forms Verify compares. It is immutable and safe
// for concurrent use.
type RRset struct {
	records []resolver.TLSA
	policy  []string
	usable  int

	// ee and ta hold, per selector, the usable DANE-EE and the usable
	// DANE-TA digest records. Full(0) DANE-TA records are anchors instead.
	ee, ta [2]matchSet
	// anchorCerts are the certificates of 2 0 0 records, by raw subject.
	anchorCerts map[string][]*x509.Certificate
	// anchorKeys are the keys of 2 1 0 records, each as a certificate that
	// holds only the key, for x509.Certificate.CheckSignatureFrom.
	anchorKeys []*x509.Certificate
}

// A matchSet is what one (usage, selector) pair matches, by matching type.
type matchSet struct {
	full   map[string]struct{}
	sha256 map[[sha256.Size]byte]struct{}
	sha512 map[[sha512.Size]byte]struct{}
}

func (m *matchSet) empty() bool {
	return len(m.full) == 0 && len(m.sha256) == 0 && len(m.sha512) == 0
}

// matches reports whether content, the selected part of a certificate,
// matches a record of m.
func (m *matchSet) matches(content []byte) bool {
	if len(m.full) > 0 {
		if _, ok := m.full[string(content)]; ok {
			return true
		}
	}
	if len(m.sha256) > 0 {
		if _, ok := m.sha256[sha256.Sum256(content)]; ok {
			return true
		}
	}
	if len(m.sha512) > 0 {
		if _, ok := m.sha512[sha512.Sum512(content)]; ok {
			return true
		}
	}
	return false
}

// NewRRset prepares the records of a secure TLSA RRset. It never fails: a
// set whose records are all unusable has Usable() == 0.
//
// Duplicate records are kept once (an RRset holds no two identical
// records). The rest are put in a fixed order, by usage, selector,
// matching type and data, and kept in that order up to MaxRecords records
// and MaxData bytes of data; a record that would pass either bound is
// dropped. The work is O(n log n) in the records given, and the parsing of
// Full(0) data is bounded by MaxData.
//
// Digest agility (RFC 7672, Section 5; RFC 7671, Section 9): within each
// (usage, selector) pair only the usable records of the strongest digest
// present count, SHA2-512 over SHA2-256; Full(0) records always count.
func NewRRset(recs []resolver.TLSA) *RRset {
	s := &RRset{}
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return compareTLSA(recs[a], recs[b]) })
	total := 0
	for i, j := range order {
		r := recs[j]
		if i > 0 && compareTLSA(recs[order[i-1]], r) == 0 {
			continue // a duplicate
		}
		if len(s.records) == MaxRecords {
			break
		}
		if len(r.Data) > MaxData-total {
			continue
		}
		total += len(r.Data)
		s.records = append(s.records, resolver.TLSA{
			Usage: r.Usage, Selector: r.Selector, MatchingType: r.MatchingType,
			Data: bytes.Clone(r.Data),
		})
	}

	// Digest agility: the strongest digest present per (usage, selector).
	type parsed struct {
		ok   bool
		cert *x509.Certificate
		key  any
	}
	ps := make([]parsed, len(s.records))
	var strongest [2][2]uint8 // [usage-2][selector]
	for i, r := range s.records {
		p := &ps[i]
		p.ok, p.cert, p.key = usable(r)
		if p.ok && r.MatchingType != MatchingFull {
			st := &strongest[r.Usage-UsageDANETA][r.Selector]
			*st = max(*st, r.MatchingType)
		}
	}
	for i, r := range s.records {
		ok, cert, key := ps[i].ok, ps[i].cert, ps[i].key
		if !ok {
			continue
		}
		if r.MatchingType != MatchingFull && r.MatchingType != strongest[r.Usage-UsageDANETA][r.Selector] {
			continue
		}
		s.usable++
		m := &s.ee[r.Selector]
		if r.Usage == UsageDANETA {
			m = &s.ta[r.Selector]
		}
		switch {
		case r.Usage == UsageDANETA && cert != nil:
			if s.anchorCerts == nil {
				s.anchorCerts = make(map[string][]*x509.Certificate)
			}
			s.anchorCerts[string(cert.RawSubject)] = append(s.anchorCerts[string(cert.RawSubject)], cert)
		case r.Usage == UsageDANETA && key != nil:
			s.anchorKeys = append(s.anchorKeys, keyHolder(key))
		case r.MatchingType == MatchingFull:
			if m.full == nil {
				m.full = make(map[string]struct{})
			}
			m.full[string(r.Data)] = struct{}{}
		case r.MatchingType == MatchingSHA256:
			if m.sha256 == nil {
				m.sha256 = make(map[[sha256.Size]byte]struct{})
			}
			m.sha256[[sha256.Size]byte(r.Data)] = struct{}{}
		case r.MatchingType == MatchingSHA512:
			if m.sha512 == nil {
				m.sha512 = make(map[[sha512.Size]byte]struct{})
			}
			m.sha512[[sha512.Size]byte(r.Data)] = struct{}{}
		}
	}

	for _, r := range s.records {
		if len(r.Data) > 0 {
			s.policy = append(s.policy, policyString(r))
		}
	}
	slices.Sort(s.policy)
	return s
}

// keyHolder returns a certificate that holds only key: with no version
// and no basic constraints, CheckSignatureFrom checks the signature alone
// against it, as a bare-key trust anchor needs (RFC 7671, Section 5.2).
func keyHolder(key any) *x509.Certificate {
	c := &x509.Certificate{PublicKey: key}
	switch key.(type) {
	case *rsa.PublicKey:
		c.PublicKeyAlgorithm = x509.RSA
	case *ecdsa.PublicKey:
		c.PublicKeyAlgorithm = x509.ECDSA
	case ed25519.PublicKey:
		c.PublicKeyAlgorithm = x509.Ed25519
	}
	// Other keys (X25519, DSA) cannot anchor: PublicKeyAlgorithm stays
	// unknown and CheckSignatureFrom refuses them.
	return c
}

func compareTLSA(a, b resolver.TLSA) int {
	return cmp.Or(
		cmp.Compare(a.Usage, b.Usage),
		cmp.Compare(a.Selector, b.Selector),
		cmp.Compare(a.MatchingType, b.MatchingType),
		bytes.Compare(a.Data, b.Data),
	)
}

// policyString is r as "u s m HEX", the hex in upper case.
func policyString(r resolver.TLSA) string {
	b := make([]byte, 0, 12+2*len(r.Data))
	b = strconv.AppendUint(b, uint64(r.Usage), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(r.Selector), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(r.MatchingType), 10)
	b = append(b, ' ')
	n := len(b)
	b = hex.AppendEncode(b, r.Data)
	for i := n; i < len(b); i++ {
		if 'a' <= b[i] && b[i] <= 'f' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

// Usable returns the number of usable records after digest agility; 0
// means the RRset has no usable record (see ErrNoUsable).
func (s *RRset) Usable() int {
	if s == nil {
		return 0
	}
	return s.usable
}

// Records returns the records kept (see NewRRset), usable or not, in their
// fixed order. The slice is shared: do not modify it.
func (s *RRset) Records() []resolver.TLSA {
	if s == nil {
		return nil
	}
	return s.records
}

// PolicyStrings returns the TLS-RPT policy-string of the RRset (RFC 8460,
// Section 4.4): each record kept, usable or not, as "u s m HEX" with
// upper-case hex, sorted, records with empty data left out. It is computed
// once, by NewRRset; the slice is shared: do not modify it.
func (s *RRset) PolicyStrings() []string {
	if s == nil {
		return nil
	}
	return s.policy
}
