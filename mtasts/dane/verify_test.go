package dane_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/testpki"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
)

// now is the time the tests verify at: inside testpki.DefaultValidity.
var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// A node is a certificate with its key.
type node struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serial atomic.Int64

// issue signs tmpl with parent's key (self-signed when parent is nil),
// filling in a fresh P-256 key, a serial and, when zero, the default
// validity.
func issue(t testing.TB, tmpl *x509.Certificate, parent *node) *node {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, _ = testpki.DefaultValidity()
	}
	if tmpl.NotAfter.IsZero() {
		_, tmpl.NotAfter = testpki.DefaultValidity()
	}
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &node{cert: c, key: key}
}

// ca issues a CA certificate named cn under parent (a root when nil).
func ca(t testing.TB, cn string, parent *node) *node {
	return issue(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            -1,
	}, parent)
}

// leaf issues a server certificate for names under parent.
func leaf(t testing.TB, parent *node, names ...string) *node {
	return issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0]},
		DNSNames:    names,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, parent)
}

// chain is a PKI for the tests: root -> inter -> leaf for mx.example.test,
// and an unrelated root.
type chain struct {
	root, inter, leaf, other *node
}

func newChain(t testing.TB) *chain {
	t.Helper()
	c := &chain{root: ca(t, "root", nil)}
	c.inter = ca(t, "inter", c.root)
	c.leaf = leaf(t, c.inter, "mx.example.test")
	c.other = ca(t, "other root", nil)
	return c
}

// content is the selected part of c.
func content(c *x509.Certificate, selector uint8) []byte {
	if selector == dane.SelectorSPKI {
		return c.RawSubjectPublicKeyInfo
	}
	return c.Raw
}

// rec is the record of usage, selector and matching type for c.
func rec(usage, selector, matching uint8, c *x509.Certificate) resolver.TLSA {
	data := content(c, selector)
	switch matching {
	case dane.MatchingSHA256:
		d := sha256.Sum256(data)
		data = d[:]
	case dane.MatchingSHA512:
		d := sha512.Sum512(data)
		data = d[:]
	}
	return resolver.TLSA{Usage: usage, Selector: selector, MatchingType: matching, Data: data}
}

// certs lists nodes' certificates, in order.
func certs(nodes ...*node) []*x509.Certificate {
	out := make([]*x509.Certificate, len(nodes))
	for i, n := range nodes {
		out[i] = n.cert
	}
	return out
}

var ids = []string{"mx.example.test"}

// wantErr checks err against want: nil, or the sentinel err must wrap,
// through a *dane.Error.
func wantErr(t *testing.T, name string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s: Verify = %v, want nil", name, err)
		}
		return
	}
	var de *dane.Error
	if !errors.Is(err, want) || !errors.As(err, &de) {
		t.Errorf("%s: Verify = %v, want a *dane.Error wrapping %v", name, err, want)
	}
}

var (
	selectors = []uint8{dane.SelectorCert, dane.SelectorSPKI}
	matchings = []uint8{dane.MatchingFull, dane.MatchingSHA256, dane.MatchingSHA512}
)

// Contract section 5: DANE-EE(3), every selector and matching type. The
// leaf is expired and for another name: DANE-EE ignores both.
func TestVerifyDANEEE(t *testing.T) {
	c := newChain(t)
	nb, na := testpki.ExpiredValidity()
	stale := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "elsewhere.test"}, DNSNames: []string{"elsewhere.test"},
		NotBefore: nb, NotAfter: na, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, c.other)
	for _, s := range selectors {
		for _, m := range matchings {
			set := dane.NewRRset([]resolver.TLSA{rec(3, s, m, stale.cert)})
			name := string(rune('0'+s)) + " " + string(rune('0'+m))
			wantErr(t, "3 "+name+" expired leaf, other name", set.Verify(certs(stale), ids, now), nil)
			wantErr(t, "3 "+name+" with a chain", set.Verify(certs(stale, c.inter, c.root), ids, now), nil)
			wantErr(t, "3 "+name+" other leaf", set.Verify(certs(c.leaf, c.inter), ids, now), dane.ErrNoMatch)
			// DANE-EE matches the leaf only, not a certificate after it.
			wantErr(t, "3 "+name+" sent after the leaf", set.Verify(certs(c.leaf, stale), ids, now), dane.ErrNoMatch)
			// The same leaf under 2 x x: expired, so it fails.
			ta := dane.NewRRset([]resolver.TLSA{rec(2, s, m, c.other.cert)})
			wantErr(t, "2 "+name+" expired leaf", ta.Verify(certs(stale, c.other), ids, now), dane.ErrExpired)
		}
	}
}

// Contract section 5: DANE-TA(2), every selector and matching type, with
// the anchor sent and, for Full(0), only in the record.
func TestVerifyDANETA(t *testing.T) {
	c := newChain(t)
	for _, s := range selectors {
		for _, m := range matchings {
			name := "2 " + string(rune('0'+s)) + " " + string(rune('0'+m))
			for _, anchor := range []*node{c.root, c.inter} {
				set := dane.NewRRset([]resolver.TLSA{rec(2, s, m, anchor.cert)})
				an := name + " of " + anchor.cert.Subject.CommonName
				wantErr(t, an+" sent", set.Verify(certs(c.leaf, c.inter, c.root), ids, now), nil)
				// TLS 1.3 lets the chain come in any order.
				wantErr(t, an+" sent out of order", set.Verify(certs(c.leaf, c.root, c.inter), ids, now), nil)
				wantErr(t, an+" wrong name", set.Verify(certs(c.leaf, c.inter, c.root), []string{"mx.other.test"}, now), dane.ErrNameMismatch)
				wantErr(t, an+" no ids", set.Verify(certs(c.leaf, c.inter, c.root), nil, now), dane.ErrNameMismatch)
			}
			// The root omitted by the server: only Full(0) records,
			// which carry the anchor, still match (RFC 7671, Section 5.2).
			set := dane.NewRRset([]resolver.TLSA{rec(2, s, m, c.root.cert)})
			want := error(nil)
			if m != dane.MatchingFull {
				want = dane.ErrNoMatch // a digest of a certificate not sent
			}
			wantErr(t, name+" of the root, root omitted", set.Verify(certs(c.leaf, c.inter), ids, now), want)
			// The intermediate omitted: no path from the root.
			wantErr(t, name+" of the root, intermediate omitted", set.Verify(certs(c.leaf, c.root), ids, now), dane.ErrNoMatch)
			// The leaf is never its own anchor.
			self := dane.NewRRset([]resolver.TLSA{rec(2, s, m, c.leaf.cert)})
			wantErr(t, name+" of the leaf", self.Verify(certs(c.leaf, c.inter, c.root), ids, now), dane.ErrNoMatch)
			// An unrelated anchor.
			other := dane.NewRRset([]resolver.TLSA{rec(2, s, m, c.other.cert)})
			wantErr(t, name+" of another root", other.Verify(certs(c.leaf, c.inter, c.root, c.other), ids, now), dane.ErrNoMatch)
		}
	}
}

// Contract section 4: digest agility, per (usage, selector).
func TestVerifyDigestAgility(t *testing.T) {
	c := newChain(t)
	sent := certs(c.leaf, c.inter, c.root)
	bad := func(r resolver.TLSA) resolver.TLSA {
		r.Data = append([]byte(nil), r.Data...)
		r.Data[0] ^= 0xff
		return r
	}
	tests := []struct {
		name string
		recs []resolver.TLSA
		want error
	}{
		{"3 1 1 alone", []resolver.TLSA{rec(3, 1, 1, c.leaf.cert)}, nil},
		{"3 1 1 beside a non-matching 3 1 2", []resolver.TLSA{rec(3, 1, 1, c.leaf.cert), bad(rec(3, 1, 2, c.leaf.cert))}, dane.ErrNoMatch},
		{"3 1 2 beside a non-matching 3 1 1", []resolver.TLSA{bad(rec(3, 1, 1, c.leaf.cert)), rec(3, 1, 2, c.leaf.cert)}, nil},
		{"3 1 1 beside a 3 1 2 of the wrong length", []resolver.TLSA{rec(3, 1, 1, c.leaf.cert), {Usage: 3, Selector: 1, MatchingType: 2, Data: make([]byte, 32)}}, nil},
		{"3 0 1 beside a non-matching 3 1 2", []resolver.TLSA{rec(3, 0, 1, c.leaf.cert), bad(rec(3, 1, 2, c.leaf.cert))}, nil},
		{"3 1 1 beside a non-matching 2 1 2", []resolver.TLSA{rec(3, 1, 1, c.leaf.cert), bad(rec(2, 1, 2, c.root.cert))}, nil},
		{"3 1 0 beside a non-matching 3 1 2", []resolver.TLSA{rec(3, 1, 0, c.leaf.cert), bad(rec(3, 1, 2, c.leaf.cert))}, nil},
		{"2 0 1 beside a non-matching 2 0 2", []resolver.TLSA{rec(2, 0, 1, c.root.cert), bad(rec(2, 0, 2, c.root.cert))}, dane.ErrNoMatch},
		{"2 0 0 beside a non-matching 2 0 2", []resolver.TLSA{rec(2, 0, 0, c.root.cert), bad(rec(2, 0, 2, c.root.cert))}, nil},
	}
	for _, tt := range tests {
		wantErr(t, tt.name, dane.NewRRset(tt.recs).Verify(sent, ids, now), tt.want)
	}
}

// Contract section 5: path validation from the anchor down.
func TestVerifyPath(t *testing.T) {
	c := newChain(t)
	expNB, expNA := testpki.ExpiredValidity()

	expiredInter := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "expired inter"}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: expNB, NotAfter: expNA,
	}, c.root)
	leafUnderExpired := leaf(t, expiredInter, "mx.example.test")

	notYet := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "future inter"}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(time.Hour),
	}, c.root)
	leafUnderNotYet := leaf(t, notYet, "mx.example.test")

	expiredRoot := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "expired root"}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: expNB, NotAfter: expNA,
	}, nil)
	leafUnderExpiredRoot := leaf(t, expiredRoot, "mx.example.test")

	nonCA := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "not a CA"}, BasicConstraintsValid: true, IsCA: false,
	}, c.root)
	leafUnderNonCA := leaf(t, nonCA, "mx.example.test")

	noBC := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "no basic constraints"}}, c.root)
	leafUnderNoBC := leaf(t, noBC, "mx.example.test")

	noCertSign := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "no keyCertSign"}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}, c.root)
	leafUnderNoCertSign := leaf(t, noCertSign, "mx.example.test")

	pathLen0 := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "pathlen 0 root"}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, MaxPathLen: 0, MaxPathLenZero: true,
	}, nil)
	interUnderPathLen0 := ca(t, "inter under pathlen 0", pathLen0)
	leafUnderPathLen0 := leaf(t, interUnderPathLen0, "mx.example.test")
	directUnderPathLen0 := leaf(t, pathLen0, "mx.example.test")

	constrained := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "constrained"}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, PermittedDNSDomainsCritical: true, PermittedDNSDomains: []string{"example.org"},
	}, c.root)
	leafOutsideConstraint := leaf(t, constrained, "mx.example.test")
	leafInsideConstraint := leaf(t, constrained, "mx.example.org")

	clientOnly := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "mx.example.test"}, DNSNames: []string{"mx.example.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, c.inter)
	noEKU := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "mx.example.test"}, DNSNames: []string{"mx.example.test"},
	}, c.inter)
	anyEKU := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "mx.example.test"}, DNSNames: []string{"mx.example.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}, c.inter)
	cnOnly := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "mx.example.test"}}, c.inter)
	expiredLeaf := issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "mx.example.test"}, DNSNames: []string{"mx.example.test"},
		NotBefore: expNB, NotAfter: expNA,
	}, c.inter)

	ta := func(n *node) []resolver.TLSA { return []resolver.TLSA{rec(2, 1, 1, n.cert)} }
	tests := []struct {
		name  string
		recs  []resolver.TLSA
		chain []*x509.Certificate
		ids   []string
		want  error
	}{
		{"valid chain, anchor the root", ta(c.root), certs(c.leaf, c.inter, c.root), ids, nil},
		{"valid chain, ids with one matching", ta(c.root), certs(c.leaf, c.inter, c.root), []string{"a.test", "MX.Example.Test."}, nil},
		{"expired intermediate", ta(c.root), certs(leafUnderExpired, expiredInter, c.root), ids, dane.ErrExpired},
		{"intermediate not yet valid", ta(c.root), certs(leafUnderNotYet, notYet, c.root), ids, dane.ErrExpired},
		{"expired anchor certificate", ta(expiredRoot), certs(leafUnderExpiredRoot, expiredRoot), ids, dane.ErrExpired},
		{"expired anchor's bare key (2 1 0)", []resolver.TLSA{rec(2, 1, 0, expiredRoot.cert)}, certs(leafUnderExpiredRoot), ids, nil},
		{"expired anchor's bare key, the certificate sent too", []resolver.TLSA{rec(2, 1, 0, expiredRoot.cert)}, certs(leafUnderExpiredRoot, expiredRoot), ids, nil},
		{"expired anchor in a 2 0 0 record", []resolver.TLSA{rec(2, 0, 0, expiredRoot.cert)}, certs(leafUnderExpiredRoot), ids, dane.ErrExpired},
		{"expired leaf", ta(c.root), certs(expiredLeaf, c.inter, c.root), ids, dane.ErrExpired},
		{"issuer not a CA", ta(c.root), certs(leafUnderNonCA, nonCA, c.root), ids, dane.ErrChain},
		{"issuer without basic constraints", ta(c.root), certs(leafUnderNoBC, noBC, c.root), ids, dane.ErrChain},
		{"issuer without keyCertSign", ta(c.root), certs(leafUnderNoCertSign, noCertSign, c.root), ids, dane.ErrChain},
		{"anchor not a CA", ta(nonCA), certs(leafUnderNonCA, nonCA, c.root), ids, dane.ErrChain},
		{"bare key of a non-CA issuer (2 1 0)", []resolver.TLSA{rec(2, 1, 0, nonCA.cert)}, certs(leafUnderNonCA), ids, nil},
		{"path length over the anchor's constraint", ta(pathLen0), certs(leafUnderPathLen0, interUnderPathLen0, pathLen0), ids, dane.ErrChain},
		{"path length within the anchor's constraint", ta(pathLen0), certs(directUnderPathLen0, pathLen0), ids, nil},
		{"leaf outside a name constraint", ta(c.root), certs(leafOutsideConstraint, constrained, c.root), ids, dane.ErrChain},
		{"leaf inside a name constraint", ta(c.root), certs(leafInsideConstraint, constrained, c.root), []string{"mx.example.org"}, nil},
		{"leaf EKU clientAuth only", ta(c.root), certs(clientOnly, c.inter, c.root), ids, dane.ErrChain},
		{"leaf EKU clientAuth only under 3 1 1", []resolver.TLSA{rec(3, 1, 1, clientOnly.cert)}, certs(clientOnly), ids, nil},
		{"leaf without EKU", ta(c.root), certs(noEKU, c.inter, c.root), ids, nil},
		{"leaf EKU any", ta(c.root), certs(anyEKU, c.inter, c.root), ids, nil},
		{"CN-only leaf", ta(c.root), certs(cnOnly, c.inter, c.root), ids, nil},
		{"CN-only leaf, other name", ta(c.root), certs(cnOnly, c.inter, c.root), []string{"mx.other.test"}, dane.ErrNameMismatch},
		{"certificate signed by another key with the issuer's name", ta(c.root), certs(leaf(t, ca(t, "inter", nil), "mx.example.test"), c.inter, c.root), ids, dane.ErrNoMatch},
		{"nothing after the leaf", ta(c.root), certs(c.leaf), ids, dane.ErrNoMatch},
		{"no certificates", ta(c.root), nil, ids, dane.ErrNoMatch},
	}
	for _, tt := range tests {
		wantErr(t, tt.name, dane.NewRRset(tt.recs).Verify(tt.chain, tt.ids, now), tt.want)
	}
}

// Contract section 4: unusable records are ignored, whatever their kind.
func TestVerifyUnusable(t *testing.T) {
	c := newChain(t)
	sent := certs(c.leaf, c.inter, c.root)
	good := rec(3, 1, 1, c.leaf.cert)
	with := func(f func(*resolver.TLSA)) resolver.TLSA {
		r := rec(3, 1, 1, c.leaf.cert)
		f(&r)
		return r
	}
	unusable := map[string]resolver.TLSA{
		"PKIX-TA(0)":              with(func(r *resolver.TLSA) { r.Usage = 0 }),
		"PKIX-EE(1)":              with(func(r *resolver.TLSA) { r.Usage = 1 }),
		"usage 4":                 with(func(r *resolver.TLSA) { r.Usage = 4 }),
		"usage 255":               with(func(r *resolver.TLSA) { r.Usage = 255 }),
		"selector 2":              with(func(r *resolver.TLSA) { r.Selector = 2 }),
		"selector 255":            with(func(r *resolver.TLSA) { r.Selector = 255 }),
		"matching 3":              with(func(r *resolver.TLSA) { r.MatchingType = 3 }),
		"matching 255":            with(func(r *resolver.TLSA) { r.MatchingType = 255 }),
		"SHA2-256 of 31 bytes":    with(func(r *resolver.TLSA) { r.Data = r.Data[:31] }),
		"SHA2-256 of 33 bytes":    with(func(r *resolver.TLSA) { r.Data = append(r.Data, 0) }),
		"SHA2-512 of 32 bytes":    with(func(r *resolver.TLSA) { r.MatchingType = 2 }),
		"SHA2-256 of no data":     with(func(r *resolver.TLSA) { r.Data = nil }),
		"Full(0) of no data":      with(func(r *resolver.TLSA) { r.MatchingType, r.Data = 0, nil }),
		"Full(0) garbage, cert":   with(func(r *resolver.TLSA) { r.Selector, r.MatchingType = 0, 0 }),
		"Full(0) garbage, SPKI":   with(func(r *resolver.TLSA) { r.MatchingType = 0 }),
		"Full(0) cert, trailing":  {Usage: 3, Selector: 0, MatchingType: 0, Data: append(append([]byte(nil), c.leaf.cert.Raw...), 0)},
		"Full(0) SPKI, trailing":  {Usage: 3, Selector: 1, MatchingType: 0, Data: append(append([]byte(nil), c.leaf.cert.RawSubjectPublicKeyInfo...), 0)},
		"Full(0) SPKI as cert":    {Usage: 3, Selector: 0, MatchingType: 0, Data: c.leaf.cert.RawSubjectPublicKeyInfo},
		"Full(0) cert as SPKI":    {Usage: 2, Selector: 1, MatchingType: 0, Data: c.root.cert.Raw},
		"PKIX-EE(1) 1 1 of leaf":  rec(1, 1, 1, c.leaf.cert),
		"PKIX-TA(0) 0 1 of root":  rec(0, 0, 1, c.root.cert),
		"DANE-TA(2) 9 1 of root":  {Usage: 2, Selector: 9, MatchingType: 1, Data: rec(2, 1, 1, c.root.cert).Data},
		"DANE-EE(3) 1 9 of leaf":  {Usage: 3, Selector: 1, MatchingType: 9, Data: good.Data},
		"DANE-EE(3) 1 2, 63 byte": {Usage: 3, Selector: 1, MatchingType: 2, Data: rec(3, 1, 2, c.leaf.cert).Data[:63]},
	}
	for name, r := range unusable {
		if dane.Usable(r) {
			t.Errorf("%s: Usable = true", name)
		}
		set := dane.NewRRset([]resolver.TLSA{r})
		if set.Usable() != 0 {
			t.Errorf("%s alone: Usable() = %d", name, set.Usable())
		}
		err := set.Verify(sent, ids, now)
		wantErr(t, name+" alone", err, dane.ErrNoUsable)
		var de *dane.Error
		if errors.As(err, &de) && (de.ResultType != tlsrpt.ResultTLSAInvalid || de.Reason != tlsrpt.ReasonTLSAUnusable) {
			t.Errorf("%s alone: reported as %s/%s", name, de.ResultType, de.Reason)
		}
		set = dane.NewRRset([]resolver.TLSA{r, good})
		if set.Usable() != 1 {
			t.Errorf("%s beside 3 1 1: Usable() = %d, want 1", name, set.Usable())
		}
		wantErr(t, name+" beside a matching 3 1 1", set.Verify(sent, ids, now), nil)
	}
	if !dane.Usable(good) {
		t.Error("Usable(3 1 1 of the leaf) = false")
	}
	wantErr(t, "empty RRset", dane.NewRRset(nil).Verify(sent, ids, now), dane.ErrNoUsable)
	var nilSet *dane.RRset
	wantErr(t, "nil RRset", nilSet.Verify(sent, ids, now), dane.ErrNoUsable)
}

// Contract section 8: each failure is reported under its result type.
func TestErrorMapping(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		class  error
		rt     tlsrpt.ResultType
		reason string
	}{
		{dane.ErrLookup, tlsrpt.ResultDNSSECInvalid, ""},
		{dane.ErrRequired, tlsrpt.ResultDANERequired, ""},
		{dane.ErrNoUsable, tlsrpt.ResultTLSAInvalid, "all-tlsa-records-unusable"},
		{dane.ErrNoMatch, tlsrpt.ResultCertificateNotTrusted, "dane-no-match"},
		{dane.ErrNameMismatch, tlsrpt.ResultCertificateHostMismatch, ""},
		{dane.ErrExpired, tlsrpt.ResultCertificateExpired, ""},
		{dane.ErrChain, tlsrpt.ResultValidationFailure, "certificate-invalid"},
		{dane.ErrTLSVersion, tlsrpt.ResultValidationFailure, "tls-version"},
	}
	for _, tt := range tests {
		e := dane.NewError("mx.example.test", tt.class, cause)
		if e.ResultType != tt.rt || e.Reason != tt.reason {
			t.Errorf("%v: %s/%s, want %s/%s", tt.class, e.ResultType, e.Reason, tt.rt, tt.reason)
		}
		if !errors.Is(e, tt.class) || !errors.Is(e, cause) {
			t.Errorf("%v: errors.Is misses the class or the cause", tt.class)
		}
		if want := "dane: mx.example.test: " + tt.class.Error() + ": cause"; e.Error() != want {
			t.Errorf("Error() = %q, want %q", e.Error(), want)
		}
	}
	cs := tls.ConnectionState{Version: tls.VersionTLS11}
	set := dane.NewRRset([]resolver.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}})
	wantErr(t, "TLS 1.1", set.VerifyConnection(cs, ids, now), dane.ErrTLSVersion)
}

// A successful verification allocates nothing beyond what its signature
// checks cost crypto/x509: none for DANE-EE, one check per link of a
// DANE-TA path.
func TestVerifyAllocs(t *testing.T) {
	c := newChain(t)
	sent := certs(c.leaf, c.inter, c.root)
	perCheck := testing.AllocsPerRun(20, func() { _ = c.leaf.cert.CheckSignatureFrom(c.inter.cert) })
	tests := []struct {
		r      resolver.TLSA
		checks float64
	}{
		{rec(3, 1, 1, c.leaf.cert), 0},
		{rec(3, 0, 2, c.leaf.cert), 0},
		{rec(3, 0, 0, c.leaf.cert), 0},
		{rec(2, 1, 1, c.root.cert), 2},
		{rec(2, 0, 2, c.inter.cert), 1},
		{rec(2, 0, 0, c.inter.cert), 1},
		{rec(2, 1, 0, c.inter.cert), 1},
	}
	for _, tt := range tests {
		set := dane.NewRRset([]resolver.TLSA{tt.r})
		if err := set.Verify(sent, ids, now); err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(20, func() { _ = set.Verify(sent, ids, now) })
		if want := tt.checks * perCheck; n != want {
			t.Errorf("%d %d %d: %v allocations per Verify, want %v (%v signature checks)", tt.r.Usage, tt.r.Selector, tt.r.MatchingType, n, want, tt.checks)
		}
	}
}

// A server sending many certificates costs a bounded number of signature
// checks, and an RRset with many anchors too.
func TestVerifyBounded(t *testing.T) {
	c := newChain(t)
	// 40 intermediates with the issuer's name, none signing the leaf, then
	// the real one: beyond the certificates looked at.
	sent := certs(c.leaf)
	for range 40 {
		sent = append(sent, ca(t, "inter", nil).cert)
	}
	sent = append(sent, c.inter.cert, c.root.cert)
	set := dane.NewRRset([]resolver.TLSA{rec(2, 1, 1, c.root.cert)})
	start := time.Now()
	wantErr(t, "real issuer beyond the certificates looked at", set.Verify(sent, ids, now), dane.ErrNoMatch)
	// 500 bare-key anchors that sign nothing: the signature check limit.
	var recs []resolver.TLSA
	for range 500 {
		recs = append(recs, rec(2, 1, 0, ca(t, "k", nil).cert))
	}
	real := rec(2, 1, 0, c.inter.cert)
	many := dane.NewRRset(append(recs, real))
	// The keys are tried in the RRset's fixed order, one signature check
	// each, at most 100 of them.
	pos := slices.IndexFunc(many.Records(), func(r resolver.TLSA) bool { return bytes.Equal(r.Data, real.Data) })
	want := error(nil)
	if pos >= 100 {
		want = dane.ErrChain
	}
	wantErr(t, "500 keys that sign nothing", many.Verify(certs(c.leaf, c.inter), ids, now), want)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// A real handshake over loopback per usage, with VerifyConnection, and a
// resumed session checked against the records of its own attempt.
func TestHandshake(t *testing.T) {
	c := newChain(t)
	serverCert := tls.Certificate{
		Certificate: [][]byte{c.leaf.cert.Raw, c.inter.cert.Raw},
		PrivateKey:  c.leaf.key,
		Leaf:        c.leaf.cert,
	}
	server := &tls.Config{Certificates: []tls.Certificate{serverCert}}
	dial := func(set *dane.RRset, cache tls.ClientSessionCache) (tls.ConnectionState, error) {
		client := &tls.Config{
			ServerName:         "mx.example.test",
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true,
			ClientSessionCache: cache,
			VerifyConnection: func(cs tls.ConnectionState) error {
				return set.VerifyConnection(cs, ids, now)
			},
		}
		cc, sc := net.Pipe()
		defer cc.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer sc.Close()
			s := tls.Server(sc, server)
			if s.Handshake() == nil {
				_, _ = s.Write([]byte("x")) // carries the session ticket first
			}
		}()
		cl := tls.Client(cc, client)
		err := cl.Handshake()
		if err == nil {
			_, err = cl.Read(make([]byte, 1))
		}
		cc.Close()
		<-done
		return cl.ConnectionState(), err
	}
	tests := []struct {
		name string
		recs []resolver.TLSA
		want error
	}{
		{"3 1 1", []resolver.TLSA{rec(3, 1, 1, c.leaf.cert)}, nil},
		{"3 0 2", []resolver.TLSA{rec(3, 0, 2, c.leaf.cert)}, nil},
		{"2 1 1 of the intermediate", []resolver.TLSA{rec(2, 1, 1, c.inter.cert)}, nil},
		{"2 0 0 of the root, not sent", []resolver.TLSA{rec(2, 0, 0, c.root.cert)}, nil},
		{"2 1 0 of the root, not sent", []resolver.TLSA{rec(2, 1, 0, c.root.cert)}, nil},
		{"3 1 1 of another key", []resolver.TLSA{rec(3, 1, 1, c.other.cert)}, dane.ErrNoMatch},
		{"2 1 1 of the root, not sent", []resolver.TLSA{rec(2, 1, 1, c.root.cert)}, dane.ErrNoMatch},
	}
	for _, tt := range tests {
		_, err := dial(dane.NewRRset(tt.recs), nil)
		wantErr(t, tt.name, err, tt.want)
	}

	// Resumption: the first handshake passes and leaves a ticket; the
	// resumed one is checked against the records given then.
	cache := tls.NewLRUClientSessionCache(4)
	if _, err := dial(dane.NewRRset([]resolver.TLSA{rec(3, 1, 1, c.leaf.cert)}), cache); err != nil {
		t.Fatal(err)
	}
	cs, err := dial(dane.NewRRset([]resolver.TLSA{rec(2, 1, 1, c.inter.cert)}), cache)
	if err != nil || !cs.DidResume {
		t.Fatalf("resumed with matching records: DidResume %v, err %v", cs.DidResume, err)
	}
	_, err = dial(dane.NewRRset([]resolver.TLSA{rec(3, 1, 1, c.other.cert)}), cache)
	wantErr(t, "resumed session, records no longer matching", err, dane.ErrNoMatch)
	_, err = dial(dane.NewRRset([]resolver.TLSA{{Usage: 1, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}}), cache)
	wantErr(t, "resumed session, no usable record", err, dane.ErrNoUsable)
}
