package mtaststest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/strictmx/strictmx/internal/testpki"
	"github.com/strictmx/strictmx/mtasts"
)

// CertMode chooses the certificate a policy host or MX host presents.
type CertMode int

const (
	// CertValid is issued by the harness CA for the host's name, valid
	// from 1999 to 2099 (so also inside a testing/synctest bubble).
	CertValid CertMode = iota
	// CertExpired is issued by the harness CA for the host's name, but
	// expired in 1999, for the real clock and for a testing/synctest
	// bubble alike.
	CertExpired
	// CertWrongName is issued by the harness CA for "wrong-name.<name>",
	// which does not cover the host.
	CertWrongName
	// CertSelfSigned is for the host's name but signed by its own key.
	CertSelfSigned
	// CertNoSAN is issued by the harness CA with the host's name as its
	// subject common name and no subject alternative names at all, which
	// crypto/x509 (and so MTA-STS) never matches but a DANE-TA name check
	// falls back to.
	CertNoSAN
)

func (m CertMode) String() string {
	switch m {
	case CertValid:
		return "valid"
	case CertExpired:
		return "expired"
	case CertWrongName:
		return "wrong-name"
	case CertSelfSigned:
		return "self-signed"
	case CertNoSAN:
		return "no-san"
	}
	return "CertMode(" + strconv.Itoa(int(m)) + ")"
}

// certKey names an issued certificate.
type certKey struct {
	host string // names, joined by ","
	mode CertMode
	// MX hosts' extras (MXConfig); zero for policy hosts.
	cn            string // subject CN in place of the first name
	issuer        Issuer
	issuerExpired bool
}

// issued is a certificate with its chain parsed.
type issued struct {
	cert  tls.Certificate
	chain []*x509.Certificate // leaf first, up to the root; just the leaf if self-signed
}

// cert returns the certificate of host in mode, issuing it on first use.
// s.mu is held.
func (s *Server) cert(host string, mode CertMode) (tls.Certificate, error) {
	c, err := s.issue(certKey{host: host, mode: mode})
	return c.cert, err
}

// issue returns the certificate k names, issuing it on first use. s.mu is
// held.
func (s *Server) issue(k certKey) (issued, error) {
	if c, ok := s.certs[k]; ok {
		return c, nil
	}
	names := strings.Split(k.host, ",")
	opts := testpki.LeafOptions{DNSNames: names, CommonName: k.cn}
	switch k.mode {
	case CertExpired:
		opts.NotBefore, opts.NotAfter = testpki.ExpiredValidity()
	case CertWrongName:
		opts.DNSNames = []string{"wrong-name." + k.host}
	case CertSelfSigned:
		opts.SelfSigned = true
	case CertNoSAN:
		opts.DNSNames = nil
		if opts.CommonName == "" {
			opts.CommonName = names[0]
		}
	}
	ca, err := s.issuerCA(k.issuer, k.issuerExpired)
	if err != nil {
		return issued{}, err
	}
	c, err := ca.Leaf(opts)
	if err != nil {
		return issued{}, err
	}
	is := issued{cert: c, chain: []*x509.Certificate{c.Leaf}}
	if !opts.SelfSigned {
		is.chain = append(is.chain, ca.Chain()...)
	}
	s.certs[k] = is
	return is, nil
}

// domainState is how the policy host of one domain behaves.
type domainState struct {
	policy      string
	hasPolicy   bool
	status      int
	location    string
	contentType string
	noCT        bool
	size        int64
	trickle     time.Duration
	headers     int
	certMode    CertMode
	certPad     int
	tls11       bool
	hang        bool
}

// A Domain is a handle for setting up one policy domain: its `_mta-sts`
// record, its MX records, and its policy host mta-sts.<domain>. Its
// methods return the receiver, so a whole domain reads as one statement:
//
//	s.Domain("example.test").
//		Record("20240101").
//		Policy(mtasts.ModeEnforce, 86400, "mx1.example.test").
//		MX(10, "mx1.example.test")
//
// Failure switches (Status, Redirect, ContentType, PolicySize, Trickle,
// ExtraHeaders, Certificate, CertificatePadding, TLS11Only, Hang, DNSFault)
// stay on until changed or until Reset. Everything is safe to change while lookups run.
type Domain struct {
	s    *Server
	name string
}

// Domain returns the handle for domain (any case, trailing dot optional).
// Handles are cheap; two for one name set up the same domain.
func (s *Server) Domain(domain string) *Domain {
	return &Domain{s: s, name: normName(domain)}
}

// Name returns the domain, lower case without a trailing dot.
func (d *Domain) Name() string { return d.name }

// RecordName returns "_mta-sts.<domain>".
func (d *Domain) RecordName() string { return "_mta-sts." + d.name }

// PolicyHost returns "mta-sts.<domain>".
func (d *Domain) PolicyHost() string { return "mta-sts." + d.name }

// Server returns the Server the domain belongs to.
func (d *Domain) Server() *Server { return d.s }

// Record publishes `_mta-sts.<domain> TXT "v=STSv1; id=<id>"`, replacing any
// TXT records there.
func (d *Domain) Record(id string) *Domain {
	d.s.TXT(d.RecordName(), "v=STSv1; id="+id)
	return d
}

// RecordTXT replaces the TXT records of `_mta-sts.<domain>` with the given
// values, one record each, written as given (for invalid or multiple
// records). With no values it removes them, so the name answers NODATA or
// NXDOMAIN.
func (d *Domain) RecordTXT(values ...string) *Domain {
	d.s.TXT(d.RecordName(), values...)
	return d
}

// DNSFault makes queries for `_mta-sts.<domain>` fail; DNSNormal undoes it.
func (d *Domain) DNSFault(f DNSFault) *Domain {
	d.s.DNSFault(d.RecordName(), f)
	return d
}

// MX adds an MX record to the domain.
func (d *Domain) MX(pref uint16, host string) *Domain {
	d.s.MX(d.name, pref, host)
	return d
}

// Policy serves a policy built from its fields, with CRLF line ends as in
// RFC 8461, Section 3.2:
//
//	version: STSv1
//	mode: <mode>
//	mx: <mx>          (one line per pattern)
//	max_age: <maxAge>
func (d *Domain) Policy(mode mtasts.Mode, maxAge int64, mx ...string) *Domain {
	var b strings.Builder
	fmt.Fprintf(&b, "version: STSv1\r\nmode: %s\r\n", mode)
	for _, m := range mx {
		fmt.Fprintf(&b, "mx: %s\r\n", m)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", maxAge)
	return d.PolicyText(b.String())
}

// PolicyText serves body, exactly as given, as the policy.
func (d *Domain) PolicyText(body string) *Domain {
	return d.edit(func(st *domainState) { st.policy, st.hasPolicy = body, true })
}

// NoPolicy stops serving a policy: the policy host answers 404.
func (d *Domain) NoPolicy() *Domain {
	return d.edit(func(st *domainState) { st.policy, st.hasPolicy = "", false })
}

// Status makes the policy host answer with code (404, 500, ...) and a
// short text body instead of the policy. 0 or 200 serves the policy.
func (d *Domain) Status(code int) *Domain {
	return d.edit(func(st *domainState) { st.status = code })
}

// Redirect makes the policy host answer 302 Found with Location url.
// An empty url undoes it.
func (d *Domain) Redirect(url string) *Domain {
	return d.edit(func(st *domainState) { st.location = url })
}

// ContentType sets the policy's Content-Type header; the default is
// "text/plain". An empty ct sends no Content-Type header at all.
func (d *Domain) ContentType(ct string) *Domain {
	return d.edit(func(st *domainState) { st.contentType, st.noCT = ct, ct == "" })
}

// PolicySize pads the policy body to exactly n bytes, to test the 64 KiB
// limit (RFC 8461, Section 3.3). The padding is extension lines
// "x-pad: aaa...", at most 1000 bytes each, which leave the policy valid
// and free of warnings; when fewer than 10 bytes are missing, blank lines
// are used instead (a warning). A body already n bytes or longer is served
// as it is. The body is generated as it is sent, so a huge n is an endless
// body that costs the harness no memory. 0 undoes it.
func (d *Domain) PolicySize(n int64) *Domain {
	return d.edit(func(st *domainState) { st.size = n })
}

// Trickle makes the policy host send the body one byte at a time, waiting
// delay before each byte, after the headers; the whole response then takes
// about len(body)*delay, or until the client goes away or the Server is
// closed. 0 undoes it.
func (d *Domain) Trickle(delay time.Duration) *Domain {
	return d.edit(func(st *domainState) { st.trickle = delay })
}

// ExtraHeaders adds n response headers (X-Pad-1: ...) to the policy
// response, to test header limits. 0 undoes it.
func (d *Domain) ExtraHeaders(n int) *Domain {
	return d.edit(func(st *domainState) { st.headers = n })
}

// Certificate chooses the policy host's certificate.
func (d *Domain) Certificate(m CertMode) *Domain {
	return d.edit(func(st *domainState) { st.certMode = m })
}

// CertificatePadding adds to the policy host's certificate chain, after the
// leaf, a filler certificate of about n bytes: self-signed, with an unknown
// non-critical extension holding the padding. The filler is made afresh for
// every handshake, so no two handshakes, and no two domains, present the
// same chain, and the harness keeps none of them. Verification ignores the
// filler (the chain is as good as the Certificate mode makes it); a client
// that keeps the chain it was shown, in an error say, keeps n bytes or more
// per handshake. crypto/tls refuses a certificate message over 256 KiB, so
// an n above about 250,000 fails every handshake. 0 undoes it.
func (d *Domain) CertificatePadding(n int) *Domain {
	return d.edit(func(st *domainState) { st.certPad = max(n, 0) })
}

// TLS11Only makes the policy host speak TLS 1.1 and nothing else.
func (d *Domain) TLS11Only() *Domain {
	return d.edit(func(st *domainState) { st.tls11 = true })
}

// Hang makes the policy host complete the TLS handshake, read the request
// and never answer it, until the client goes away or the Server is closed:
// a policy host that holds every connection for as long as the client
// waits. The request is counted in Fetches. Reset undoes it.
func (d *Domain) Hang() *Domain {
	return d.edit(func(st *domainState) { st.hang = true })
}

// Reset turns every failure switch of the domain off (DNS fault included)
// and keeps its records and policy.
func (d *Domain) Reset() *Domain {
	d.DNSFault(DNSNormal)
	return d.edit(func(st *domainState) {
		*st = domainState{policy: st.policy, hasPolicy: st.hasPolicy}
	})
}

// Fetches returns how many HTTPS requests the policy host has received.
func (d *Domain) Fetches() int { return d.s.Fetches(d.name) }

// RecordQueries returns how many TXT queries for `_mta-sts.<domain>` the
// DNS server has received.
func (d *Domain) RecordQueries() int { return d.s.Queries(d.RecordName(), "TXT") }

// edit changes the domain's state under the lock.
func (d *Domain) edit(f func(*domainState)) *Domain {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	f(d.s.domain(d.name))
	return d
}

// domain returns the state of a domain, made on first use. s.mu is held.
func (s *Server) domain(name string) *domainState {
	st := s.domains[name]
	if st == nil {
		st = &domainState{}
		s.domains[name] = st
	}
	return st
}

// policyTLSConfig picks the policy host by SNI.
func (s *Server) policyTLSConfig(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	host := normName(hello.ServerName)
	name, ok := strings.CutPrefix(host, "mta-sts.")
	if !ok || name == "" {
		return nil, fmt.Errorf("mtaststest: no policy host for SNI %q", hello.ServerName)
	}
	s.mu.Lock()
	st := *s.domain(name)
	cert, err := s.cert(host, st.certMode)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if st.certPad > 0 {
		filler, err := paddingCert(st.certPad)
		if err != nil {
			return nil, err
		}
		chain := make([][]byte, 0, len(cert.Certificate)+1)
		chain = append(chain, cert.Certificate[0], filler)
		cert.Certificate = append(chain, cert.Certificate[1:]...)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if st.tls11 {
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	}
	return cfg, nil
}

// paddingOID names the extension that pads a filler certificate: an arc
// under 1.3.6.1.4.1.32473, the enterprise number RFC 5612 reserves for
// documentation.
var paddingOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1}

// paddingCert returns the DER of a new self-signed certificate of about n
// bytes (see Domain.CertificatePadding).
func paddingCert(n int) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("mtaststest: padding key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("mtaststest: padding serial: %w", err)
	}
	const overhead = 400 // the rest of a small self-signed certificate
	notBefore, notAfter := testpki.DefaultValidity()
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: "mtaststest certificate padding"},
		NotBefore:       notBefore,
		NotAfter:        notAfter,
		ExtraExtensions: []pkix.Extension{{Id: paddingOID, Value: make([]byte, max(n-overhead, 1))}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("mtaststest: padding certificate: %w", err)
	}
	return der, nil
}

// PolicyPath is where policy hosts serve the policy (RFC 8461, Section 3.2).
const PolicyPath = "/.well-known/mta-sts.txt"

func (s *Server) servePolicy(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(normName(r.TLS.ServerName), "mta-sts.")
	s.mu.Lock()
	s.fetches[name]++
	s.totalFetches++
	st := *s.domain(name)
	s.mu.Unlock()

	switch {
	case st.hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	case r.URL.Path != PolicyPath:
		http.NotFound(w, r)
		return
	case st.location != "":
		http.Redirect(w, r, st.location, http.StatusFound)
		return
	case st.status != 0 && st.status != http.StatusOK:
		http.Error(w, http.StatusText(st.status), st.status)
		return
	case !st.hasPolicy:
		http.NotFound(w, r)
		return
	}

	h := w.Header()
	switch {
	case st.noCT:
		h["Content-Type"] = nil // stops net/http from sniffing one
	case st.contentType != "":
		h.Set("Content-Type", st.contentType)
	default:
		h.Set("Content-Type", "text/plain")
	}
	for i := range st.headers {
		h.Set("X-Pad-"+strconv.Itoa(i+1), "padding")
	}
	size := max(int64(len(st.policy)), st.size)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}

	var out writer = w
	if st.trickle > 0 {
		out = &trickler{w: w, rc: http.NewResponseController(w), delay: st.trickle, stop: r.Context().Done(), done: s.done}
	}
	bw := bufio.NewWriterSize(out, 32<<10)
	if st.trickle > 0 {
		bw = bufio.NewWriterSize(out, 16) // the smallest; trickler splits further
	}
	if _, err := bw.WriteString(st.policy); err != nil {
		return
	}
	if err := writePadding(bw, size-int64(len(st.policy)), s.done); err != nil {
		return
	}
	bw.Flush()
}

type writer interface {
	Write([]byte) (int, error)
}

// padLineMax is the longest padding line, CRLF included.
const padLineMax = 1000

// writePadding writes n bytes of padding lines (see Domain.PolicySize).
func writePadding(w *bufio.Writer, n int64, done <-chan struct{}) error {
	var line [padLineMax]byte
	copy(line[:], "x-pad: ")
	for i := len("x-pad: "); i < padLineMax; i++ {
		line[i] = 'a'
	}
	const minLine = len("x-pad: a\r\n")
	for n > 0 {
		select {
		case <-done:
			return http.ErrServerClosed
		default:
		}
		if n < int64(minLine) {
			for ; n >= 2; n -= 2 {
				w.WriteString("\r\n")
			}
			if n == 1 {
				w.WriteString("\n")
			}
			return nil
		}
		l := int64(padLineMax)
		if n < l {
			l = n
		} else if rest := n - l; rest > 0 && rest < int64(minLine) {
			l = n - int64(minLine)
		}
		w.Write(line[:l-2])
		if _, err := w.WriteString("\r\n"); err != nil {
			return err
		}
		n -= l
	}
	return nil
}

// trickler writes one byte per delay, flushing each.
type trickler struct {
	w     writer
	rc    *http.ResponseController
	delay time.Duration
	stop  <-chan struct{} // the request's end
	done  <-chan struct{} // the Server's end
}

func (t *trickler) Write(p []byte) (int, error) {
	timer := time.NewTimer(t.delay)
	defer timer.Stop()
	for i := range p {
		select {
		case <-timer.C:
		case <-t.stop:
			return i, http.ErrAbortHandler
		case <-t.done:
			return i, http.ErrServerClosed
		}
		if _, err := t.w.Write(p[i : i+1]); err != nil {
			return i, err
		}
		if err := t.rc.Flush(); err != nil {
			return i, err
		}
		timer.Reset(t.delay)
	}
	return len(p), nil
}
