package rfcref

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// sections lists, for every RFC this module cites, the sections that exist
// in it: each number of its table of contents (appendices as "A", "A.1"),
// plus the subsections its table of contents leaves out, where noted.
//
// An RFC with no sections listed is cited only as a whole, and a list
// marked partial holds only the sections checked against the RFC text so
// far: before citing another section, read the RFC and add its table of
// contents here. A new RFC goes in the same way, with the whole list.
var sections = map[int]string{
	// DOMAIN NAMES - IMPLEMENTATION AND SPECIFICATION.
	1035: `1 2 2.1 2.2 2.3 2.3.1 2.3.2 2.3.3 2.3.4
		3 3.1 3.2 3.2.1 3.2.2 3.2.3 3.2.4 3.2.5
		3.3 3.3.1 3.3.2 3.3.3 3.3.4 3.3.5 3.3.6 3.3.7 3.3.8 3.3.9 3.3.10
		3.3.11 3.3.12 3.3.13 3.3.14 3.4 3.4.1 3.4.2 3.5 3.6
		4 4.1 4.1.1 4.1.2 4.1.3 4.1.4 4.2 4.2.1 4.2.2
		5 5.1 5.2 5.3
		6 6.1 6.1.1 6.1.2 6.1.3 6.2 6.3 6.4 6.4.1 6.4.2 6.4.3 6.5
		7 7.1 7.2 7.3 7.4 8 8.1 8.2 9`,
	// Negative Caching of DNS Queries (DNS NCACHE). It has no table of
	// contents; these are its numbered headings.
	2308: `1 2 2.1 2.1.1 2.2 2.2.1 3 4 5 6 7 7.1 7.2 8 9`,
	// DOMAIN NAMES - CONCEPTS AND FACILITIES. Partial: only the sections
	// checked against the text so far.
	1034: `3 3.6 3.6.2`,
	// Address Allocation for Private Internets.
	1918: ``,
	// The RFCs behind the entries of the IANA special-purpose address
	// registries (internal/dialguard/registry.go), cited only as a whole.
	791:  ``,
	919:  ``,
	1112: ``,
	1122: ``,
	2544: ``,
	2928: ``,
	3056: ``,
	3849: ``,
	3879: ``,
	3927: ``,
	4291: ``,
	4380: ``,
	5180: ``,
	5737: ``,
	5771: ``,
	6052: ``,
	6598: ``,
	6666: ``,
	6890: ``,
	7343: ``,
	7450: ``,
	7526: ``,
	7534: ``,
	7535: ``,
	7723: ``,
	8155: ``,
	8215: ``,
	9374: ``,
	9602: ``,
	9637: ``,
	9665: ``,
	9780: ``,
	// MIME Part Two: Media Types.
	2046: `1 2 3 4 4.1 4.1.1 4.1.2 4.1.3 4.1.4 4.2 4.3 4.4 4.5 4.5.1 4.5.2 4.5.3
		5 5.1 5.1.1 5.1.2 5.1.3 5.1.4 5.1.5 5.1.6 5.1.7
		5.2 5.2.1 5.2.2 5.2.2.1 5.2.2.2 5.2.3 5.2.4
		6 7 8 9 A`,
	// SMTP Service Extension for Secure SMTP over TLS (STARTTLS).
	3207: ``,
	// DNS Extensions to Support IP Version 6 (AAAA). Partial, as 1034.
	3596: `2 2.2`,
	// Protocol Modifications for the DNS Security Extensions. Partial, as
	// 1034.
	4035: `3 3.2 3.2.2 3.2.3 4 4.9 4.9.3`,
	// Indicating Resolver Support of DNSSEC (the DO bit). Partial, as 1034.
	3225: `3`,
	// Extended DNS Errors, cited only as a whole.
	8914: ``,
	// xNAME RCODE and Status Bits Clarification. Partial, as 1034.
	6604: `2 3`,
	// Unique Local IPv6 Unicast Addresses.
	4193: ``,
	// Uniform Resource Identifier (URI): Generic Syntax.
	3986: `1 1.1 1.1.1 1.1.2 1.1.3 1.2 1.2.1 1.2.2 1.2.3 1.3
		2 2.1 2.2 2.3 2.4 2.5
		3 3.1 3.2 3.2.1 3.2.2 3.2.3 3.3 3.4 3.5
		4 4.1 4.2 4.3 4.4 4.5
		5 5.1 5.1.1 5.1.2 5.1.3 5.1.4 5.2 5.2.1 5.2.2 5.2.3 5.2.4
		5.3 5.4 5.4.1 5.4.2
		6 6.1 6.2 6.2.1 6.2.2 6.2.3 6.2.4
		7 7.1 7.2 7.3 7.4 7.5 7.6 8 9 10 10.1 10.2
		A B C D D.1 D.2`,
	// Internet X.509 PKI Certificate and CRL Profile.
	5280: `1 2 2.1 2.2 2.3 2.4 3 3.1 3.2 3.3 3.4 3.5
		4 4.1 4.1.1 4.1.1.1 4.1.1.2 4.1.1.3
		4.1.2 4.1.2.1 4.1.2.2 4.1.2.3 4.1.2.4 4.1.2.5 4.1.2.5.1 4.1.2.5.2
		4.1.2.6 4.1.2.7 4.1.2.8 4.1.2.9
		4.2 4.2.1 4.2.1.1 4.2.1.2 4.2.1.3 4.2.1.4 4.2.1.5 4.2.1.6 4.2.1.7
		4.2.1.8 4.2.1.9 4.2.1.10 4.2.1.11 4.2.1.12 4.2.1.13 4.2.1.14
		4.2.1.15 4.2.2 4.2.2.1 4.2.2.2
		5 5.1 5.1.1 5.1.1.1 5.1.1.2 5.1.1.3
		5.1.2 5.1.2.1 5.1.2.2 5.1.2.3 5.1.2.4 5.1.2.5 5.1.2.6 5.1.2.7
		5.2 5.2.1 5.2.2 5.2.3 5.2.4 5.2.5 5.2.6 5.2.7 5.3 5.3.1 5.3.2 5.3.3
		6 6.1 6.1.1 6.1.2 6.1.3 6.1.4 6.1.5 6.1.6 6.2 6.3 6.3.1 6.3.2 6.3.3
		7 7.1 7.2 7.3 7.4 7.5 8 9 10 11 11.1 11.2
		A A.1 A.2 B C C.1 C.2 C.3 C.4`,
	// Simple Mail Transfer Protocol. 4.5.4.1 and 4.5.4.2 are headings in
	// the text that its table of contents leaves out.
	5321: `1 1.1 1.2 1.3
		2 2.1 2.2 2.2.1 2.2.2 2.2.3 2.3 2.3.1 2.3.2 2.3.3 2.3.4 2.3.5 2.3.6
		2.3.7 2.3.8 2.3.9 2.3.10 2.3.11 2.4
		3 3.1 3.2 3.3 3.4 3.5 3.5.1 3.5.2 3.5.3 3.5.4 3.6 3.6.1 3.6.2 3.6.3
		3.7 3.7.1 3.7.2 3.7.3 3.7.4 3.7.5 3.8 3.9 3.9.1 3.9.2
		4 4.1 4.1.1 4.1.2 4.1.3 4.1.4 4.1.5
		4.2 4.2.1 4.2.2 4.2.3 4.2.4 4.2.5 4.3 4.3.1 4.3.2 4.4
		4.5 4.5.1 4.5.2 4.5.3 4.5.3.1 4.5.3.1.1 4.5.3.1.2 4.5.3.1.3
		4.5.3.1.4 4.5.3.1.5 4.5.3.1.6 4.5.3.1.7 4.5.3.1.8 4.5.3.1.9
		4.5.3.1.10 4.5.3.2 4.5.3.2.1 4.5.3.2.2 4.5.3.2.3 4.5.3.2.4
		4.5.3.2.5 4.5.3.2.6 4.5.3.2.7 4.5.4 4.5.4.1 4.5.4.2 4.5.5
		5 5.1 5.2 6 6.1 6.2 6.3 6.4
		7 7.1 7.2 7.3 7.4 7.5 7.6 7.7 7.8 7.9 8 9 10 10.1 10.2
		A B C D D.1 D.2 D.3 D.4 E F F.1 F.2 F.3 F.4 F.5 F.6`,
	// Enterprise Number for Documentation Use (32473).
	5612: ``,
	// IPv6 Address Text Representation.
	5952: ``,
	// The 'mailto' URI Scheme.
	6068: ``,
	// Clarifications and Implementation Notes for DNS Security (DNSSEC).
	// Partial, as 1034.
	6840: `5 5.7`,
	// Extension Mechanisms for DNS (EDNS(0)). Partial, as 1034.
	6891: `6 6.2 6.2.5`,
	// Representation and Verification of Domain-Based Application Service
	// Identity (the DNS-ID and its wildcard rules).
	6125: ``,
	// Sender Policy Framework (SPF). Partial, as 1034.
	7208: `3 3.3`,
	// Opportunistic Security.
	7435: ``,
	// A "Null MX" No Service Resource Record. Partial, as 1034.
	7505: `3`,
	// SMTP Security via Opportunistic DANE TLS. Partial, as 1034.
	7672: `2 2.1 2.1.1 2.1.2 2.2 2.2.1 2.2.2 2.2.3 3 3.1 3.1.1 3.1.2 3.1.3
		3.2 3.2.1 3.2.2 3.2.3 5 6 8 8.1`,
	// The DANE TLSA record. Partial, as 1034.
	6698: `2 2.1 2.1.1 2.1.2 2.1.3 2.1.4 3`,
	// DANE: Updates and Operational Guidance. Partial, as 1034.
	7671: `5 5.1 5.2 7 9`,
	// TLS raw public keys, SRV DANE and the deprecation of TLS 1.0 and 1.1,
	// cited only as a whole.
	7250: ``,
	7673: ``,
	8996: ``,
	// SMTP TLS Reporting. 4.3.2.1 and 4.3.2.2 are headings in the text
	// that its table of contents leaves out.
	8460: `1 1.1 2 3 3.1 3.1.1 3.1.2
		4 4.1 4.2 4.2.1 4.2.2 4.3 4.3.1 4.3.2 4.3.2.1 4.3.2.2 4.3.3 4.3.4
		4.4 4.5
		5 5.1 5.2 5.3 5.3.1 5.4 5.5 5.6
		6 6.1 6.2 6.3 6.4 6.5 6.6 7 8
		A A.1 A.2 B`,
	// SMTP MTA Strict Transport Security (MTA-STS).
	8461: `1 1.1 2 3 3.1 3.2 3.3 3.4 4 4.1 4.2 5 5.1 6 7 7.1 7.2
		8 8.1 8.2 8.3 8.4 9 9.1 9.2 9.3 10 10.1 10.2 10.3 10.4 10.5 11
		A B`,
}

// A citation is one RFC mention, with the sections it names (none for the
// RFC as a whole).
type citation struct {
	line     int
	rfc      int
	sections []string
}

var (
	// rfcMention finds "RFC 8461" and "RFC8461"; identifiers such as
	// time.RFC3339 or time.RFC1123Z are sorted out by the caller.
	rfcMention = regexp.MustCompile(`RFC ?([0-9]{3,5})\b`)
	// item is one section or appendix number.
	item = `(?:[0-9]+(?:\.[0-9]+)*|[A-Z](?:\.[0-9]+)*)\b`
	// list is one or more items: "3.3", "3.3 and 5.1", "3, 5.1 and 5.2",
	// "5.3 and Section 5.4".
	list = item + `(?:(?:,? and|,| or)[ \t]+(?:(?:Section|Appendix)[ \t]+)?` + item + `)*`
	// after is what may follow "RFC NNNN": ", Section 4.1", " Section 4",
	// ", Sections 3.3 and 5.1", ", Appendix B", and after a doc link
	// "[RFC 1034]", "], Section 3.6.2".
	after = regexp.MustCompile(`^\]?,?[ \t]+(?:Sections?|Appendix|Appendices)[ \t]+(` + list + `)`)
	// before is "Section 6.4.3 of RFC 6125" and "Section 4 of [RFC8460]".
	before = regexp.MustCompile(`(?:Sections?|Appendix|Appendices)[ \t]+(` + list + `)[ \t]+of[ \t]+\[?RFC ?([0-9]{3,5})\b`)
	// splitItems takes the items out of a list.
	splitItems = regexp.MustCompile(item)
)

// cleanup makes one stretch of text from the lines of a file, so that a
// citation broken over two comment lines is found whole: consecutive
// comment lines of a Go file, or consecutive non-blank lines of a Markdown
// file, are joined with a space. starts holds each line's offset.
func cleanup(name, src string) (text string, starts []int) {
	var b strings.Builder
	lines := strings.Split(src, "\n")
	goFile := strings.HasSuffix(name, ".go")
	prevJoinable := false
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		joinable := trimmed != ""
		if goFile {
			after, ok := strings.CutPrefix(trimmed, "//")
			joinable = ok
			if ok {
				trimmed = strings.TrimSpace(after)
			}
		}
		if i > 0 {
			if prevJoinable && joinable {
				b.WriteByte(' ')
			} else {
				b.WriteByte('\n')
			}
		}
		starts = append(starts, b.Len())
		b.WriteString(trimmed)
		prevJoinable = joinable
	}
	return b.String(), starts
}

// extract returns the citations in src, the contents of file name.
func extract(name, src string) []citation {
	text, starts := cleanup(name, src)
	lineOf := func(off int) int {
		return sort.Search(len(starts), func(i int) bool { return starts[i] > off })
	}
	var out []citation
	for _, m := range rfcMention.FindAllStringSubmatchIndex(text, -1) {
		if m[0] > 0 {
			// An identifier (time.RFC3339), not a citation.
			if c := text[m[0]-1]; c == '.' || c == '_' || isAlnum(c) {
				continue
			}
		}
		n, _ := strconv.Atoi(text[m[2]:m[3]])
		c := citation{line: lineOf(m[0]), rfc: n}
		if a := after.FindStringSubmatch(text[m[1]:]); a != nil {
			c.sections = splitItems.FindAllString(a[1], -1)
		}
		out = append(out, c)
	}
	for _, m := range before.FindAllStringSubmatchIndex(text, -1) {
		n, _ := strconv.Atoi(text[m[4]:m[5]])
		out = append(out, citation{
			line:     lineOf(m[0]),
			rfc:      n,
			sections: splitItems.FindAllString(text[m[2]:m[3]], -1),
		})
	}
	return out
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// moduleRoot walks up from the working directory to the go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// TestCitations checks every RFC citation in the module's .go and .md
// files against the sections table.
func TestCitations(t *testing.T) {
	known := make(map[int]map[string]bool, len(sections))
	for rfc, list := range sections {
		known[rfc] = make(map[string]bool)
		for _, s := range strings.Fields(list) {
			known[rfc][s] = true
		}
	}
	_, self, _, _ := runtime.Caller(0)
	root := moduleRoot(t)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == root {
				return nil
			}
			if d.Name() == ".git" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, ".md") {
			return nil
		}
		if same, _ := sameFile(path, self); same {
			return nil // this table names sections on purpose
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, c := range extract(path, string(src)) {
			checked++
			secs, ok := known[c.rfc]
			if !ok {
				t.Errorf("%s:%d: RFC %d is not in the sections table of internal/rfcref: add it with the sections of its table of contents", rel, c.line, c.rfc)
				continue
			}
			for _, s := range c.sections {
				if !secs[s] {
					t.Errorf("%s:%d: RFC %d has no section %s (or the sections table of internal/rfcref lacks it: check the RFC's table of contents)", rel, c.line, c.rfc, s)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no RFC citation found: is the walk starting at the module root?")
	}
}

func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

// TestExtract pins the citation forms the walk understands.
func TestExtract(t *testing.T) {
	tests := []struct {
		name, file, src string
		want            []citation
	}{
		{"whole RFC", "a.go", "// MTA-STS (RFC 8461) and [RFC 8460].",
			[]citation{{1, 8461, nil}, {1, 8460, nil}}},
		{"one section", "a.go", "// the policy (RFC 8461, Section 3.2).",
			[]citation{{1, 8461, []string{"3.2"}}}},
		{"no comma", "a.go", "// RFC 8461 Section 3 says",
			[]citation{{1, 8461, []string{"3"}}}},
		{"deep section and final dot", "a.go", "// see RFC 8460, Section 4.3.2.2.",
			[]citation{{1, 8460, []string{"4.3.2.2"}}}},
		{"two sections", "a.go", "// RFC 8461, Sections 3.3 and 5.1: refresh",
			[]citation{{1, 8461, []string{"3.3", "5.1"}}}},
		{"Section X and Y", "a.go", "// (RFC 8460, Section 5.3 and 5.4)",
			[]citation{{1, 8460, []string{"5.3", "5.4"}}}},
		{"list", "a.go", "// RFC 8460, Sections 3, 5.1, and 5.2",
			[]citation{{1, 8460, []string{"3", "5.1", "5.2"}}}},
		{"after a doc link", "a.go", "// loops refused ([RFC 1034], Section 3.6.2);",
			[]citation{{1, 1034, []string{"3.6.2"}}}},
		{"appendix", "a.go", "// the example of RFC 8460, Appendix B is",
			[]citation{{1, 8460, []string{"B"}}}},
		{"over two comment lines", "a.go", "x := 1\n// checks (RFC 8461,\n//\tSection 4.1) first",
			[]citation{{2, 8461, []string{"4.1"}}}},
		{"code line ends a comment run", "a.go", "// RFC 8461,\nSection := 4",
			[]citation{{1, 8461, nil}}},
		{"plain string", "a.go", `s := "RFC 8461, Section 3.3"`,
			[]citation{{1, 8461, []string{"3.3"}}}},
		{"section of RFC", "a.go", "// Section 6.4.3 of RFC 6125 and Section 4 of [RFC8460]",
			[]citation{{1, 6125, nil}, {1, 8460, nil}, {1, 6125, []string{"6.4.3"}}, {1, 8460, []string{"4"}}}},
		{"identifiers", "a.go", "t.Format(time.RFC3339); time.RFC1123Z",
			nil},
		{"markdown paragraph", "a.md", "Where RFC 8461 or RFC\n8460, Section 5 leave room\n\nRFC 8461",
			[]citation{{1, 8461, nil}, {1, 8460, []string{"5"}}, {4, 8461, nil}}},
	}
	for _, tt := range tests {
		got := extract(tt.file, tt.src)
		if !slices.EqualFunc(got, tt.want, func(a, b citation) bool {
			return a.line == b.line && a.rfc == b.rfc && slices.Equal(a.sections, b.sections)
		}) {
			t.Errorf("%s: extract = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestTable keeps the table readable: section numbers only, each once.
func TestTable(t *testing.T) {
	valid := regexp.MustCompile(`^` + item + `$`)
	for rfc, list := range sections {
		seen := map[string]bool{}
		for _, s := range strings.Fields(list) {
			if !valid.MatchString(s) {
				t.Errorf("RFC %d: %q is not a section number", rfc, s)
			}
			if seen[s] {
				t.Errorf("RFC %d: section %s listed twice", rfc, s)
			}
			seen[s] = true
		}
	}
}
