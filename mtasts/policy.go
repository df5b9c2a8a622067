package mtasts

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/strictmx/strictmx/internal/domain"
)

// Mode is a policy's mode (RFC 8461, Section 5).
type Mode string

// The three modes. Comparison is case-sensitive, as in the RFC grammar.
const (
	// ModeEnforce: deliver only to MX hosts that match the policy and pass
	// TLS validation.
	ModeEnforce Mode = "enforce"
	// ModeTesting: validate and report as for enforce, but deliver anyway.
	ModeTesting Mode = "testing"
	// ModeNone: the domain has withdrawn its policy.
	ModeNone Mode = "none"
)

// Policy limits.
const (
	// MaxMaxAge is the largest lifetime a policy gets, 31,557,600 seconds
	// (about a year; RFC 8461, Section 3.2). Larger max_age values are
	// capped to it.
	MaxMaxAge = 31557600 * time.Second
	// maxWarnings bounds Policy.Warnings so that hostile input cannot make
	// ParsePolicy allocate more than a small multiple of its size.
	maxWarnings = 64
)

// Policy is a parsed MTA-STS policy file (RFC 8461, Section 3.2).
//
// A Policy is immutable once returned: the Client shares one value among
// all callers, so do not modify it.
type Policy struct {
	// Version is always "STSv1".
	Version string
	// Mode is enforce, testing or none.
	Mode Mode
	// MX holds the valid mx patterns in file order, lower case, without a
	// trailing dot: "mail.example.com" or "*.example.net".
	MX []string
	// MaxAge is the policy's lifetime from the time it was fetched, capped
	// at MaxMaxAge. Zero is valid: the policy applies to the attempt in hand
	// and is not cached.
	MaxAge time.Duration
	// Extensions are the unknown fields, in order, first occurrence only.
	Extensions []Extension
	// Warnings lists every leniency ParsePolicy applied, one sentence each,
	// starting with the line number. A policy with no warnings is strictly
	// valid; a checker shows warnings to the publisher as problems.
	Warnings []string
	// Raw is the policy body as received (TLS-RPT reports quote it).
	Raw string
}

// ParsePolicy parses a policy body.
//
// It follows the grammar of RFC 8461, Section 3.2 and is lenient in exactly
// these ways, each recorded in Warnings: a leading UTF-8 byte order mark;
// blank lines; lines that are not "name: value" or break the extension
// grammar (ignored); mx values that are not valid patterns (dropped); an mx
// with a trailing dot (the dot is removed); max_age above MaxMaxAge (capped).
// Accepted without a warning: LF, CRLF or mixed line ends, no final newline,
// white space after the colon and at the end of a line, fields in any order,
// repeated non-mx fields (the first counts), max_age 0 and leading zeros.
//
// Errors wrap ErrPolicyInvalid: a missing or invalid version, mode or
// max_age; an enforce or testing policy without a valid mx; carriage returns
// not followed by a line feed; an empty body.
func ParsePolicy(data []byte) (*Policy, error) {
	return parsePolicy(string(data))
}

func parsePolicy(raw string) (*Policy, error) {
	p := &Policy{Raw: raw}
	s := raw
	if strings.HasPrefix(s, "\ufeff") {
		s = s[3:]
		p.warn(0, "starts with a UTF-8 byte order mark")
	}
	if s == "" {
		return nil, fmt.Errorf("%w: empty body", ErrPolicyInvalid)
	}
	// A final line feed ends the last line; it does not start a blank one.
	s, endsLF := strings.CutSuffix(s, "\n")
	// One allocation, however many patterns: every mx line but a first
	// one follows a line feed.
	n := strings.Count(s, "\nmx:")
	if strings.HasPrefix(s, "mx:") {
		n++
	}
	if n > 1 {
		p.MX = make([]string, 0, n)
	}
	var seenVersion, seenMode, seenMaxAge bool
	seenExt := func(name string) bool {
		for _, e := range p.Extensions {
			if e.Name == name {
				return true
			}
		}
		return false
	}
	for n := 1; ; n++ {
		line, rest, more := strings.Cut(s, "\n")
		if more || endsLF {
			line = strings.TrimSuffix(line, "\r") // CRLF
		}
		if strings.IndexByte(line, '\r') >= 0 {
			return nil, fmt.Errorf("%w: line %d: carriage return without line feed", ErrPolicyInvalid, n)
		}
		if err := p.parseLine(n, line, &seenVersion, &seenMode, &seenMaxAge, seenExt); err != nil {
			return nil, err
		}
		if !more {
			break
		}
		s = rest
	}
	switch {
	case !seenVersion:
		return nil, fmt.Errorf("%w: no version field", ErrPolicyInvalid)
	case !seenMode:
		return nil, fmt.Errorf("%w: no mode field", ErrPolicyInvalid)
	case !seenMaxAge:
		return nil, fmt.Errorf("%w: no max_age field", ErrPolicyInvalid)
	case p.Mode != ModeNone && len(p.MX) == 0:
		return nil, fmt.Errorf("%w: mode %s needs at least one valid mx", ErrPolicyInvalid, p.Mode)
	}
	return p, nil
}

func (p *Policy) parseLine(n int, line string, seenVersion, seenMode, seenMaxAge *bool, seenExt func(string) bool) error {
	if line == "" {
		p.warn(n, "blank line")
		return nil
	}
	name, value, ok := strings.Cut(line, ":")
	if !ok || !validExtName(name) {
		p.warn(n, "not a \"name: value\" line; ignored")
		return nil
	}
	value = strings.TrimRight(trimWSP(value), " \t")
	switch name {
	case "version":
		if *seenVersion {
			return nil
		}
		if value != "STSv1" {
			return fmt.Errorf("%w: line %d: version must be STSv1", ErrPolicyInvalid, n)
		}
		p.Version, *seenVersion = value, true
	case "mode":
		if *seenMode {
			return nil
		}
		switch m := Mode(value); m {
		case ModeEnforce, ModeTesting, ModeNone:
			p.Mode, *seenMode = m, true
		default:
			return fmt.Errorf("%w: line %d: mode must be enforce, testing or none", ErrPolicyInvalid, n)
		}
	case "max_age":
		if *seenMaxAge {
			return nil
		}
		secs, ok := parseMaxAge(value)
		if !ok {
			return fmt.Errorf("%w: line %d: max_age must be 1 to 10 digits", ErrPolicyInvalid, n)
		}
		if secs > uint64(MaxMaxAge/time.Second) {
			p.warn(n, "max_age above 31557600 capped")
			secs = uint64(MaxMaxAge / time.Second)
		}
		p.MaxAge, *seenMaxAge = time.Duration(secs)*time.Second, true
	case "mx":
		pat, why := normalizePattern(value)
		if why != "" {
			if p.warnRoom() {
				p.warn(n, "mx "+strconv.Quote(value)+" "+why+"; dropped")
			}
			return nil
		}
		if strings.HasSuffix(value, ".") && p.warnRoom() {
			p.warn(n, "mx "+strconv.Quote(value)+" has a trailing dot; removed")
		}
		p.MX = append(p.MX, pat)
	default:
		if !validPolicyExtValue(value) {
			if p.warnRoom() {
				p.warn(n, "field "+strconv.Quote(name)+" has an invalid value; ignored")
			}
			return nil
		}
		if !seenExt(name) {
			p.Extensions = append(p.Extensions, Extension{Name: name, Value: value})
		}
	}
	return nil
}

// warnRoom reports whether another warning would still be kept, so that
// callers build warning text only then.
func (p *Policy) warnRoom() bool { return len(p.Warnings) <= maxWarnings }

func (p *Policy) warn(n int, msg string) {
	switch {
	case len(p.Warnings) < maxWarnings:
		if n > 0 {
			msg = "line " + strconv.Itoa(n) + ": " + msg
		}
		p.Warnings = append(p.Warnings, msg)
	case len(p.Warnings) == maxWarnings:
		p.Warnings = append(p.Warnings, "more warnings omitted")
	}
}

// parseMaxAge: sts-policy-max-age-value = 1*10(DIGIT).
func parseMaxAge(v string) (uint64, bool) {
	if len(v) < 1 || len(v) > 10 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// normalizePattern validates an mx value (["*."] Domain) and returns it in
// lower case without a trailing dot, or a reason it is not a pattern.
func normalizePattern(v string) (pattern, why string) {
	if v == "" {
		return "", "is empty"
	}
	if !domain.IsASCII(v) {
		return "", "is not ASCII (U-labels must be written as A-labels)"
	}
	name, wild := strings.CutPrefix(v, "*.")
	if strings.IndexByte(name, '*') >= 0 {
		return "", "has a wildcard other than one leading \"*.\""
	}
	if !domain.ValidASCII(strings.TrimSuffix(name, ".")) {
		return "", "is not a valid host name or pattern" // without allocating an error
	}
	n, err := domain.Normalize(name)
	if err != nil {
		return "", "is not a valid host name or pattern"
	}
	if !wild {
		return n, ""
	}
	if n == v[2:] { // already lower case, no dot: no allocation
		return v, ""
	}
	return "*." + n, ""
}

// validPolicyExtValue: sts-policy-vchar [*(%x20 / sts-policy-vchar)
// sts-policy-vchar], where vchar is visible ASCII or a UTF-8 sequence of two
// to four bytes.
func validPolicyExtValue(v string) bool {
	if v == "" || !utf8.ValidString(v) {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return v[0] != ' ' && v[len(v)-1] != ' '
}

// String returns the policy in canonical form: version, mode, each mx,
// max_age in seconds, then the extensions, one "name: value" line each,
// every line ending in LF. ParsePolicy(p.String()) gives back the same
// fields with no warnings.
func (p *Policy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\nmode: ")
	b.WriteString(string(p.Mode))
	b.WriteByte('\n')
	for _, mx := range p.MX {
		b.WriteString("mx: ")
		b.WriteString(mx)
		b.WriteByte('\n')
	}
	b.WriteString("max_age: ")
	b.WriteString(strconv.FormatInt(int64(p.MaxAge/time.Second), 10))
	b.WriteByte('\n')
	for _, e := range p.Extensions {
		b.WriteString(e.Name)
		b.WriteString(": ")
		b.WriteString(e.Value)
		b.WriteByte('\n')
	}
	return b.String()
}

// Lines returns the policy as received, one string per non-blank line in
// file order, without line ends or a byte order mark: the form a TLS-RPT
// report's policy-string takes (RFC 8460, Section 4.5).
func (p *Policy) Lines() []string {
	s := strings.TrimPrefix(p.Raw, "\ufeff")
	out := make([]string, 0, strings.Count(s, "\n")+1)
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}
