package reportcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/strictmx/strictmx/internal/domain"
)

// ErrInvalid is wrapped by every error of this package.
var ErrInvalid = errors.New("tlsrpt: report check failed")

// node is a decoded JSON value that keeps what encoding/json forgets:
// key order, duplicates and number spelling.
type node struct {
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys []string
	obj  map[string]*node
	arr  []*node
	str  string
	num  json.Number
}

// Summary is what JSON learned from a valid report; Message uses it.
type Summary struct {
	ReportID  string
	Submitter string
	// PolicyDomains lists the policy-domain of each policy, in order.
	PolicyDomains []string
	Start, End    string
}

// JSON checks one report document against every rule strictmx report JSON
// follows (RFC 8460, Section 4, as package tlsrpt reads it). It returns all problems found, joined, wrapping ErrInvalid.
func JSON(data []byte) (*Summary, error) {
	c := &checker{}
	c.run(data)
	if len(c.errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(c.errs...))
	}
	return &c.sum, nil
}

type checker struct {
	errs []error
	sum  Summary
}

func (c *checker) bad(format string, args ...any) {
	if len(c.errs) < 100 {
		c.errs = append(c.errs, fmt.Errorf(format, args...))
	}
}

func (c *checker) run(data []byte) {
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		c.bad("byte order mark")
	}
	if !utf8.Valid(data) {
		c.bad("not UTF-8")
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	root, err := c.parse(dec, "$", 0)
	if err != nil {
		c.bad("not JSON: %v", err)
		return
	}
	if _, err := dec.Token(); err == nil {
		c.bad("data after the JSON object")
	}
	c.report(root)
}

func (c *checker) parse(dec *json.Decoder, path string, depth int) (*node, error) {
	if depth > 16 {
		return nil, fmt.Errorf("%s: nested too deep", path)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			n := &node{kind: 'o', obj: map[string]*node{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := c.parse(dec, path+"."+k, depth+1)
				if err != nil {
					return nil, err
				}
				if _, dup := n.obj[k]; dup {
					c.bad("%s: duplicate key %q", path, k)
				}
				n.keys = append(n.keys, k)
				n.obj[k] = v
			}
			_, err := dec.Token()
			return n, err
		}
		n := &node{kind: 'a'}
		for i := 0; dec.More(); i++ {
			v, err := c.parse(dec, fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			n.arr = append(n.arr, v)
		}
		_, err := dec.Token()
		return n, err
	case string:
		if t == "" {
			c.bad("%s: empty string", path)
		}
		return &node{kind: 's', str: t}, nil
	case json.Number:
		return &node{kind: 'n', num: t}, nil
	case bool:
		return &node{kind: 'b'}, nil
	case nil:
		c.bad("%s: null", path)
		return &node{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("%s: unexpected token", path)
}

// fields checks that o is an object with exactly the required keys and
// some of the optional ones.
func (c *checker) fields(o *node, path string, required, optional []string) bool {
	if o == nil || o.kind != 'o' {
		c.bad("%s: not an object", path)
		return false
	}
	for _, k := range required {
		if _, ok := o.obj[k]; !ok {
			c.bad("%s: missing %q", path, k)
		}
	}
	for _, k := range o.keys {
		if !contains(required, k) && !contains(optional, k) {
			c.bad("%s: unknown key %q", path, k)
		}
	}
	return true
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (c *checker) str(o *node, key, path string) (string, bool) {
	n := o.obj[key]
	if n == nil {
		return "", false
	}
	if n.kind != 's' {
		c.bad("%s.%s: not a string", path, key)
		return "", false
	}
	return n.str, true
}

func (c *checker) integer(o *node, key, path string, min int64) int64 {
	n := o.obj[key]
	if n == nil {
		return 0
	}
	if n.kind != 'n' {
		c.bad("%s.%s: not a number", path, key)
		return 0
	}
	v, err := n.num.Int64()
	if err != nil || strings.ContainsAny(string(n.num), ".eE") {
		c.bad("%s.%s: %s is not an integer", path, key, n.num)
		return 0
	}
	if v < min {
		c.bad("%s.%s: %d < %d", path, key, v, min)
	}
	return v
}

func (c *checker) strings(o *node, key, path string) []string {
	n := o.obj[key]
	if n == nil {
		return nil
	}
	if n.kind != 'a' {
		c.bad("%s.%s: not an array", path, key)
		return nil
	}
	var out []string
	for i, e := range n.arr {
		if e.kind != 's' {
			c.bad("%s.%s[%d]: not a string", path, key, i)
			continue
		}
		out = append(out, e.str)
	}
	return out
}

var (
	startRE     = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})T00:00:00Z$`)
	endRE       = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})T23:59:59Z$`)
	idTokenRE   = regexp.MustCompile(`^[A-Za-z0-9_=+-]+(\.[A-Za-z0-9_=+-]+)*$`)
	tlsaRE      = regexp.MustCompile(`^\d{1,3} \d{1,3} \d{1,3} ([0-9A-Fa-f]{2})+$`)
	reasonRE    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	resultTypes = []string{
		"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
		"certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
		"dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
	}
)

func (c *checker) report(root *node) {
	if !c.fields(root, "$", []string{"organization-name", "date-range", "contact-info", "report-id", "policies"}, nil) {
		return
	}
	c.str(root, "organization-name", "$")
	if dr := root.obj["date-range"]; dr != nil && c.fields(dr, "$.date-range", []string{"start-datetime", "end-datetime"}, nil) {
		s, _ := c.str(dr, "start-datetime", "$.date-range")
		e, _ := c.str(dr, "end-datetime", "$.date-range")
		sm, em := startRE.FindStringSubmatch(s), endRE.FindStringSubmatch(e)
		if sm == nil || em == nil || sm[1] != em[1] {
			c.bad("$.date-range: %q..%q is not one UTC day", s, e)
		}
		c.sum.Start, c.sum.End = s, e
	}
	contact, _ := c.str(root, "contact-info", "$")
	submitter := ""
	if a, err := mail.ParseAddress(contact); err != nil || a.Name != "" || a.Address != contact || !strings.Contains(contact, "@") {
		c.bad("$.contact-info: %q is not an addr-spec", contact)
	} else {
		submitter = contact[strings.LastIndexByte(contact, '@')+1:]
		if n, err := domain.Normalize(submitter); err != nil || n != submitter {
			c.bad("$.contact-info: domain %q not a lower-case A-label", submitter)
		}
	}
	c.sum.Submitter = submitter
	id, _ := c.str(root, "report-id", "$")
	tok, dom, ok := strings.Cut(id, "@")
	if !ok || dom != submitter || !idTokenRE.MatchString(tok) {
		c.bad("$.report-id: %q is not <token>@%s", id, submitter)
	}
	c.sum.ReportID = id
	pols := root.obj["policies"]
	if pols == nil {
		return
	}
	if pols.kind != 'a' || len(pols.arr) == 0 {
		c.bad("$.policies: not a non-empty array")
		return
	}
	seen := map[string]int{}
	for i, p := range pols.arr {
		key := c.policy(p, fmt.Sprintf("$.policies[%d]", i))
		if j, dup := seen[key]; dup && key != "" {
			c.bad("$.policies[%d]: same policy as [%d]", i, j)
		}
		seen[key] = i
	}
}

// policy checks one policies[] element and returns an identity key.
func (c *checker) policy(p *node, path string) string {
	if !c.fields(p, path, []string{"policy", "summary", "failure-details"}, nil) {
		return ""
	}
	key := ""
	if pol := p.obj["policy"]; pol != nil && c.fields(pol, path+".policy", []string{"policy-type", "policy-string", "policy-domain", "mx-host"}, nil) {
		pp := path + ".policy"
		typ, _ := c.str(pol, "policy-type", pp)
		ps := c.strings(pol, "policy-string", pp)
		d, _ := c.str(pol, "policy-domain", pp)
		mx := c.strings(pol, "mx-host", pp)
		if n, err := domain.Normalize(d); err != nil || n != d {
			c.bad("%s.policy-domain: %q not a lower-case A-label", pp, d)
		}
		c.sum.PolicyDomains = append(c.sum.PolicyDomains, d)
		switch typ {
		case "sts":
			if len(mx) == 0 {
				c.bad("%s: sts without mx-host", pp)
			}
			for _, l := range ps {
				if strings.ContainsAny(l, "\r\n") {
					c.bad("%s.policy-string: line with CR/LF", pp)
				}
			}
			for _, m := range mx {
				h := strings.TrimPrefix(m, "*.")
				if n, err := domain.Normalize(h); err != nil || n != h {
					c.bad("%s.mx-host: %q", pp, m)
				}
				found := false
				for _, l := range ps {
					k, v, _ := strings.Cut(l, ":")
					if strings.TrimSpace(k) == "mx" && strings.ToLower(strings.TrimSuffix(strings.TrimSpace(v), ".")) == m {
						found = true
					}
				}
				if !found {
					c.bad("%s.mx-host: %q has no mx: line", pp, m)
				}
			}
		case "tlsa":
			// Contract section 8: [] when no RRset was had
			// (dnssec-invalid, dane-required).
			if len(mx) != 0 {
				c.bad("%s: tlsa with mx-host", pp)
			}
			for _, l := range ps {
				if !tlsaRE.MatchString(l) {
					c.bad("%s.policy-string: %q is not a TLSA record", pp, l)
				}
			}
		case "no-policy-found":
			if len(ps) != 0 || len(mx) != 0 {
				c.bad("%s: no-policy-found with policy-string or mx-host", pp)
			}
		default:
			c.bad("%s.policy-type: %q not registered", pp, typ)
		}
		key = typ + "\x00" + strings.Join(ps, "\x01") + "\x00" + d + "\x00" + strings.Join(mx, "\x01")
	}
	var failures int64
	if s := p.obj["summary"]; s != nil && c.fields(s, path+".summary", []string{"total-successful-session-count", "total-failure-session-count"}, nil) {
		c.integer(s, "total-successful-session-count", path+".summary", 0)
		failures = c.integer(s, "total-failure-session-count", path+".summary", 0)
	}
	fd := p.obj["failure-details"]
	if fd == nil {
		return key
	}
	if fd.kind != 'a' {
		c.bad("%s.failure-details: not an array", path)
		return key
	}
	if (failures > 0) != (len(fd.arr) > 0) {
		c.bad("%s: %d failures but %d failure-details", path, failures, len(fd.arr))
	}
	var sum int64
	seen := map[string]int{}
	for i, d := range fd.arr {
		n, k := c.detail(d, fmt.Sprintf("%s.failure-details[%d]", path, i))
		sum += n
		if j, dup := seen[k]; dup && k != "" {
			c.bad("%s.failure-details[%d]: not merged with [%d]", path, i, j)
		}
		seen[k] = i
	}
	if sum < failures {
		c.bad("%s: failure-details sum %d < total-failure-session-count %d", path, sum, failures)
	}
	return key
}

func (c *checker) detail(d *node, path string) (int64, string) {
	if !c.fields(d, path, []string{"result-type", "failed-session-count"},
		[]string{"sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip", "additional-information", "failure-reason-code"}) {
		return 0, ""
	}
	rt, _ := c.str(d, "result-type", path)
	if !contains(resultTypes, rt) {
		c.bad("%s.result-type: %q not registered", path, rt)
	}
	n := c.integer(d, "failed-session-count", path, 1)
	for _, k := range []string{"sending-mta-ip", "receiving-ip"} {
		if s, ok := c.str(d, k, path); ok {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" || a.Is4In6() || a.String() != s {
				c.bad("%s.%s: %q not a canonical IP address", path, k, s)
			}
		}
	}
	if s, ok := c.str(d, "receiving-mx-hostname", path); ok {
		if h, err := domain.Normalize(s); err != nil || h != s {
			c.bad("%s.receiving-mx-hostname: %q not a lower-case A-label", path, s)
		}
	}
	if s, ok := c.str(d, "receiving-mx-helo", path); ok {
		if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			c.bad("%s.receiving-mx-helo: not a single printable line", path)
		}
	}
	if s, ok := c.str(d, "additional-information", path); ok {
		u, err := url.Parse(s)
		if err != nil || !u.IsAbs() || strings.ContainsAny(s, " \t") {
			c.bad("%s.additional-information: %q not an absolute URI", path, s)
		}
	}
	rc, hasRC := c.str(d, "failure-reason-code", path)
	if hasRC && !reasonRE.MatchString(rc) {
		c.bad("%s.failure-reason-code: %q not a short token", path, rc)
	}
	if !hasRC && (rt == "certificate-not-trusted" || rt == "validation-failure") {
		c.bad("%s: %s without failure-reason-code", path, rt)
	}
	// Identity without the count, for the merge rule.
	var b strings.Builder
	for _, k := range d.keys {
		if k != "failed-session-count" && d.obj[k].kind == 's' {
			b.WriteString(k + "=" + d.obj[k].str + "\x00")
		}
	}
	return n, sortedKey(b.String())
}

func sortedKey(s string) string {
	parts := strings.Split(s, "\x00")
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && parts[j] < parts[j-1]; j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
	return strings.Join(parts, "\x00")
}
