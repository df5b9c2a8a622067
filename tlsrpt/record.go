package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"

	"github.com/strictmx/strictmx/internal/domain"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// Resolver is the DNS interface Lookup needs. It is satisfied by
// *net.Resolver (and so by net.DefaultResolver).
//
// LookupTXT returns one string per resource record, with the record's
// character-strings already concatenated. Errors follow the convention of
// package net: a *net.DNSError whose IsNotFound is true means the name or
// the record type does not exist (NXDOMAIN or NODATA), which is final; any
// other error is treated as temporary.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Record is a parsed `_smtp._tls` TXT record (RFC 8460, Section 3).
type Record struct {
	// RUA holds the usable report URIs in record order, percent-decoded:
	// "mailto:" followed by a bare addr-spec (its local part exactly as
	// written, quotes included; its domain a lower-case A-label), or an
	// absolute "https:" URL with the record's delimiters "%2C", "%21" and
	// "%3B" decoded and its other escapes kept. It is never empty in a
	// Record returned without error.
	RUA []string
	// Ignored holds rua values that were skipped: other schemes,
	// scheme-less or malformed values. It is informational.
	Ignored []string
}

// recordVersion is the version tag every TLS-RPT record begins with.
const recordVersion = "v=TLSRPTv1"

// RecordName returns the DNS name queried for policyDomain's record:
// "_smtp._tls.<policy domain>" with the domain normalised.
func RecordName(policyDomain string) (string, error) {
	d, err := domain.Normalize(policyDomain)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrRecordSyntax, err)
	}
	return "_smtp._tls." + d, nil
}

// Lookup queries the `_smtp._tls` record of policyDomain and returns the
// selected, parsed record.
//
// A missing name or record, or TXT records none of which is a TLSRPTv1
// record, gives ErrNoRecord; a lookup failure for any other reason gives
// ErrDNSTemporary (retry later). r nil means a *resolver.Stub
// reading /etc/resolv.conf, as for MTA-STS lookups.
func Lookup(ctx context.Context, r Resolver, policyDomain string) (*Record, error) {
	name, err := RecordName(policyDomain)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &resolver.Stub{}
	}
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
			return nil, fmt.Errorf("%w: %s: %w", ErrNoRecord, name, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrDNSTemporary, name, err)
	}
	return SelectRecord(txts)
}

// SelectRecord picks the TLS-RPT record out of the TXT records found at
// `_smtp._tls.<domain>` and parses it.
//
// Records that do not begin with "v=TLSRPTv1" followed by optional
// whitespace and ";" are discarded (RFC 8460, Section 3). Exactly one must
// remain: none gives ErrNoRecord, several give ErrMultipleRecords.
func SelectRecord(txts []string) (*Record, error) {
	var found string
	n := 0
	for _, t := range txts {
		if isTLSRPTRecord(t) {
			found = t
			n++
		}
	}
	switch n {
	case 0:
		return nil, ErrNoRecord
	case 1:
		return ParseRecord(found)
	default:
		return nil, fmt.Errorf("%w: %d records", ErrMultipleRecords, n)
	}
}

func isTLSRPTRecord(s string) bool {
	rest, ok := strings.CutPrefix(s, recordVersion)
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, " \t")
	return strings.HasPrefix(rest, ";")
}

// ParseRecord parses one TLS-RPT TXT record.
//
// It follows the grammar of RFC 8460, Section 3, with tolerances seen in
// the wild: whitespace around ";" and ",", empty fields, extensions before
// or after rua, and several rua= fields whose URIs all count. Unknown
// extensions are ignored. URIs are percent-decoded; only mailto: and https:
// URIs are kept, others are listed in Record.Ignored. A record without a
// usable URI gives ErrNoRUA; a structural error gives ErrRecordSyntax.
func ParseRecord(s string) (*Record, error) {
	if !isTLSRPTRecord(s) {
		return nil, fmt.Errorf("%w: does not begin with %q", ErrRecordSyntax, recordVersion+";")
	}
	rest := s[len(recordVersion):]
	rec := &Record{}
	sawRUA := false
	// Field values never contain a raw ";" (RFC 8460, Section 3: it must
	// be percent-encoded in URIs and is excluded from extension values).
	for f := range strings.SplitSeq(rest, ";") {
		f = strings.Trim(f, " \t")
		if f == "" {
			continue // leading delimiter, trailing delimiter or ";;"
		}
		name, value, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("%w: field %q has no '='", ErrRecordSyntax, truncate(f))
		}
		name = strings.TrimRight(name, " \t")
		value = strings.TrimLeft(value, " \t")
		if !validExtName(name) {
			return nil, fmt.Errorf("%w: bad field name %q", ErrRecordSyntax, truncate(name))
		}
		if name != "rua" {
			// Spec note: RFC 8460 makes field names case-sensitive
			// (%s"rua="); "RUA=" is an unknown extension and ignored.
			continue
		}
		sawRUA = true
		for u := range strings.SplitSeq(value, ",") {
			u = strings.Trim(u, " \t")
			if u == "" {
				continue
			}
			if norm, ok := parseRUA(u); ok {
				rec.RUA = append(rec.RUA, norm)
			} else {
				rec.Ignored = append(rec.Ignored, u)
			}
		}
	}
	if !sawRUA {
		return nil, fmt.Errorf("%w: no rua field", ErrNoRUA)
	}
	if len(rec.RUA) == 0 {
		return nil, fmt.Errorf("%w: no mailto: or https: URI", ErrNoRUA)
	}
	return rec, nil
}

// validExtName checks tlsrpt-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT /
// "_" / "-" / ".").
func validExtName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-' && c != '.') {
			return false
		}
	}
	return true
}

// parseRUA returns the normalised form of one rua URI, or false if it is not
// a usable mailto: or https: URI.
func parseRUA(raw string) (string, bool) {
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok {
		return "", false
	}
	switch strings.ToLower(scheme) {
	case "mailto":
		// Drop hfields (RFC 6068 "?subject=..."): reports have their own.
		addr, _, _ := strings.Cut(rest, "?")
		addr, err := url.PathUnescape(addr)
		if err != nil {
			return "", false
		}
		a, ok := normalizeAddr(addr)
		if !ok {
			return "", false
		}
		return "mailto:" + a, true
	case "https":
		// The record had to encode the characters that delimit its own
		// syntax (RFC 8460, Section 3); the URI to use has them decoded.
		// Other escapes are the URI's own and stay as they are. The URI is
		// checked by parsing it, and kept as written (re-encoding it would
		// change escapes the receiver may rely on, and not idempotently).
		dec := recordUnescaper.Replace(raw)
		u, err := url.Parse(dec)
		if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
			return "", false
		}
		if _, err := domain.Normalize(u.Hostname()); err != nil {
			// IP-literal hosts are allowed for https.
			if u.Hostname() == "" || net.ParseIP(u.Hostname()) == nil {
				return "", false
			}
		}
		out := "https" + dec[len(scheme):]
		if i := strings.IndexByte(out, '#'); i >= 0 {
			out = out[:i] // the fragment is the client's, never sent
		}
		return out, true
	}
	return "", false
}

// recordUnescaper decodes the percent-encoded delimiters of the record
// syntax: ",", "!" and ";".
var recordUnescaper = strings.NewReplacer("%2C", ",", "%2c", ",", "%21", "!", "%3B", ";", "%3b", ";")

// normalizeAddr checks that s is one bare addr-spec and returns it with its
// domain normalised and its local part exactly as written: a quoted local
// part stays quoted (`"a@b"@example.com` is one mailbox at example.com, not
// a@b@example.com).
func normalizeAddr(s string) (string, bool) {
	if s == "" || strings.ContainsAny(s, "<>, \t\r\n") {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" {
		return "", false
	}
	// The domain cannot hold "@", so the last one ends the local part,
	// quoted or not.
	i := strings.LastIndexByte(s, '@')
	if i <= 0 {
		return "", false
	}
	d, err := domain.Normalize(s[i+1:])
	if err != nil {
		return "", false
	}
	return s[:i+1] + d, true
}

func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
