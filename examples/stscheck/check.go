package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/smtp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strictmx/strictmx/internal/domain"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/tlsrpt"
)

// Verdicts and decisions as printed and in JSON.
const (
	verdictDeliver       = "deliver"
	verdictTempFail      = "temporary-failure"
	verdictOpportunisic  = "opportunistic"
	verdictUndeliverable = "undeliverable"

	decisionDeliver = "deliver"
	decisionSkip    = "skip"
)

// helloName is the name stscheck gives in EHLO.
const helloName = "localhost"

// maxProbesPerDomain bounds the MX hosts of one domain probed at once.
const maxProbesPerDomain = 4

// dnsLookups is the DNS a check needs; *resolver.Stub satisfies it.
type dnsLookups interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// checker checks domains as a sender would. It is made once per run and
// used by several goroutines; it is not changed after it is made.
type checker struct {
	dns    dnsLookups
	client *mtasts.Client
	// finder looks up the MX RRset and each MX host's TLSA records with
	// their DNSSEC states, through the same resolver as dns.
	finder *dane.Finder
	// trusted says whether that resolver's AD bit is believed
	// (resolver.Stub.Trusted): if not, no answer is secure and DANE
	// cannot be judged.
	trusted bool
	// roots verifies MX certificates; nil means the system roots.
	roots *x509.CertPool
	// dial connects to MX hosts.
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	smtpPort string
	timeout  time.Duration
	noSMTP   bool
	now      func() time.Time
}

// report is what the check of one domain found. Its exported fields are
// the JSON document; see the package documentation.
type report struct {
	Domain  string       `json:"domain"`
	Record  recordReport `json:"record"`
	Policy  policyReport `json:"policy"`
	MXError string       `json:"mx_error"`
	// ResolverTrusted and MXDNSSEC are DANE's view of the MX lookup.
	ResolverTrusted bool         `json:"resolver_trusted"`
	MXDNSSEC        string       `json:"mx_dnssec"`
	MX              []mxReport   `json:"mx"`
	TLSRPT          tlsrptReport `json:"tlsrpt"`
	Verdict         string       `json:"verdict"`
	Problems        []string     `json:"problems"`

	mode       mtasts.Mode // of the plan: ModeNone without a policy
	implicitMX bool        // the domain has no MX records
	nullMX     bool        // the domain accepts no mail (RFC 7505)
	mxErr      error       // the MX lookup failed: the error of mtasts.ResolveMX
	mxNote     string      // mxErr for people
	viaDANE    bool        // the host the verdict rests on passed DANE
}

type recordReport struct {
	Found bool   `json:"found"`
	ID    string `json:"id"`
	Error string `json:"error"`

	txts   []string // the TXT RRs at _mta-sts.<domain>
	absent bool     // no candidate record at all: not a problem
}

type policyReport struct {
	Found      bool     `json:"found"`
	Mode       string   `json:"mode"`
	MX         []string `json:"mx"`
	MaxAge     int64    `json:"max_age"`
	Warnings   []string `json:"warnings"`
	Error      string   `json:"error"`
	ResultType string   `json:"result_type"`

	fetch *mtasts.PolicyFetch // nil when no fetch was made
}

type mxReport struct {
	Host          string     `json:"host"`
	Preference    uint16     `json:"preference"`
	MatchesPolicy bool       `json:"matches_policy"`
	STARTTLS      bool       `json:"starttls"`
	TLSVersion    string     `json:"tls_version"`
	CertValid     bool       `json:"cert_valid"`
	Decision      string     `json:"decision"`
	ResultType    string     `json:"result_type"`
	Reason        string     `json:"reason"`
	GovernedBy    string     `json:"governed_by"`
	DANE          daneReport `json:"dane"`

	note     string // the plan's reason for a mismatch or a null MX
	tried    bool   // the plan allowed a connection
	probed   bool   // an SMTP session reached EHLO
	probeErr error  // the host could not be probed
	err      error  // the decision's failure
	certs    []*x509.Certificate
	certErr  error // why cert_valid is false, when a certificate was seen
	daneErr  error // the DANE verification's failure in the handshake
}

type tlsrptReport struct {
	Found bool     `json:"found"`
	RUA   []string `json:"rua"`

	ignored []string
	err     error
}

// check runs every step for one domain, normalised already.
func (c *checker) check(ctx context.Context, domain string) *report {
	r := &report{Domain: domain, MX: []mxReport{}, ResolverTrusted: c.trusted}
	r.Policy.MX, r.Policy.Warnings, r.TLSRPT.RUA = []string{}, []string{}, []string{}

	rec := c.checkRecord(ctx, r)
	var pol *mtasts.Policy
	if rec != nil {
		pol = c.checkPolicy(ctx, r)
	}
	res := &mtasts.Result{Domain: domain, Policy: pol}
	if rec != nil {
		res.ID = rec.ID
	}
	c.checkMX(ctx, r, res)
	c.checkTLSRPT(ctx, r)
	r.Verdict = r.verdict(c.noSMTP)
	r.Problems = r.findProblems()
	return r
}

// checkRecord looks up and selects the `_mta-sts` record
// (RFC 8461, Section 3.1).
func (c *checker) checkRecord(ctx context.Context, r *report) *mtasts.Record {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	name := "_mta-sts." + r.Domain
	txts, err := c.dns.LookupTXT(ctx, name)
	var rec *mtasts.Record
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		err = fmt.Errorf("%w: %s: %w", mtasts.ErrNoRecord, name, err)
		r.Record.absent = true
	case err != nil:
		err = fmt.Errorf("%w: %s: %w", mtasts.ErrDNSTemporary, name, err)
	default:
		r.Record.txts = txts
		rec, err = mtasts.SelectRecord(txts)
		// SelectRecord returns ErrNoRecord itself only when no RR is a
		// candidate; a syntax error is a problem to show.
		r.Record.absent = err == mtasts.ErrNoRecord
	}
	if err != nil {
		r.Record.Error = err.Error()
		return nil
	}
	r.Record.Found, r.Record.ID = true, rec.ID
	return rec
}

// checkPolicy fetches and parses the policy (RFC 8461, Sections 3.2 and 3.3).
func (c *checker) checkPolicy(ctx context.Context, r *report) *mtasts.Policy {
	f, err := c.client.FetchPolicy(ctx, r.Domain)
	if err != nil { // only for an invalid domain, checked before
		r.Policy.Error = err.Error()
		return nil
	}
	r.Policy.fetch = f
	if f.Err != nil {
		r.Policy.Error = f.Err.Error()
		rt, _ := mtasts.ResultTypeOf(f.Err)
		r.Policy.ResultType = string(rt)
		return nil
	}
	p := f.Policy
	r.Policy.Found = true
	r.Policy.Mode = string(p.Mode)
	r.Policy.MX = append(r.Policy.MX, p.MX...)
	r.Policy.MaxAge = int64(p.MaxAge / time.Second)
	r.Policy.Warnings = append(r.Policy.Warnings, p.Warnings...)
	return p
}

// checkMX looks up the MX hosts and probes each one the plan allows
// (RFC 8461, Section 4).
func (c *checker) checkMX(ctx context.Context, r *report, res *mtasts.Result) {
	lctx, cancel := context.WithTimeout(ctx, c.timeout)
	// With no MX records, the implicit MX is the domain itself (RFC 5321,
	// Section 5.1), and it must match the policy too (a Spec note of
	// package mtasts). The MX RRset comes with its DNSSEC state.
	mxs, implicit, sec, err := mtasts.ResolveMXSecure(lctx, c.finder.Resolver, r.Domain)
	r.implicitMX = implicit
	cancel()
	var failed error // the failed state: not a denial or a null MX
	if errors.Is(err, mtasts.ErrDNSTemporary) {
		failed = err
	}
	r.MXDNSSEC = state(sec, failed, c.trusted)
	switch {
	case err == nil:
	case errors.Is(err, mtasts.ErrNullMX):
		// Shown as the null MX host, which the plan never tries.
		mxs = []*net.MX{{Host: ".", Pref: 0}}
		r.nullMX = true
	case errors.Is(err, mtasts.ErrNoSuchDomain):
		r.mxErr, r.MXError = err, err.Error()
		r.mxNote = fmt.Sprintf("%s does not exist: %v", r.Domain, dnsCause(err))
	default:
		r.mxErr, r.MXError = err, err.Error()
		r.mxNote = fmt.Sprintf("MX lookup for %s failed: %v", r.Domain, dnsCause(err))
	}
	plan := res.Plan(mxs, mtasts.PlanOptions{MXSecurity: sec})
	r.mode = plan.Mode
	r.MX = make([]mxReport, len(plan.Hosts))
	// A sender tries the hosts one after the other; the checker looks up
	// and probes them at once (each HostPlan records only its own
	// outcome), so that unreachable hosts cost one timeout, not one each.
	sem := make(chan struct{}, maxProbesPerDomain)
	var wg sync.WaitGroup
	for i := range plan.Hosts {
		h, m := &plan.Hosts[i], &r.MX[i]
		// Whether the host matches the policy is MTA-STS's view, shown
		// even when DANE alone judges the host.
		*m = mxReport{Host: h.Host, Preference: h.Preference, MatchesPolicy: !h.Mismatch,
			DANE: daneReport{Steps: []stepReport{}, TLSA: []tlsaReport{}}}
		if h.Host == "" {
			m.GovernedBy, m.note = governsNone, h.Reason
			m.setDecision(h.Skipped()) // the null MX
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.checkHost(ctx, h, m, plan.Mode)
		})
	}
	wg.Wait()
}

// checkHost finds the DANE state of one MX host, applies it to the plan,
// and probes the host if the plan allows it.
func (c *checker) checkHost(ctx context.Context, h *mtasts.HostPlan, m *mxReport, mode mtasts.Mode) {
	lctx, cancel := context.WithTimeout(ctx, c.timeout)
	dh := c.finder.Host(lctx, h.Host)
	cancel()
	m.DANE.setHost(dh, c.trusted)
	h.SetDANE(dh)
	if errors.Is(dh.Err, dane.ErrNoAddress) {
		// Not DANE's failure: the host cannot be reached at all, and
		// the plan does not try it.
		m.probeErr = dh.Err
	}
	m.GovernedBy = governs(h, dh, mode)
	m.note, m.tried = h.Reason, h.Try
	switch {
	case !h.Try:
		m.setDecision(h.Skipped())
	case c.noSMTP:
		// Not probed: no decision.
	default:
		c.probe(ctx, h, m)
	}
}

// dnsCause returns the resolver's own error inside an error of
// mtasts.ResolveMX, which says what failed without repeating the class.
func dnsCause(err error) error {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr
	}
	return err
}

func (m *mxReport) setDecision(d mtasts.Decision) {
	m.Decision = decisionSkip
	if d.Deliver {
		m.Decision = decisionDeliver
	}
	m.ResultType, m.Reason, m.err = string(d.ResultType), d.Reason, d.Err
	derr := m.daneErr
	var de *dane.Error
	if derr == nil && errors.As(d.Err, &de) {
		derr = de
	}
	m.DANE.setVerdict(d.TLSA, derr)
}

// probe connects to one MX host as a sender would: EHLO, STARTTLS with
// the plan's TLS configuration, QUIT.
func (c *checker) probe(ctx context.Context, h *mtasts.HostPlan, m *mxReport) {
	fail := func(err error) {
		m.probeErr = err
		m.Decision, m.Reason = decisionSkip, err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.dial(ctx, "tcp", net.JoinHostPort(h.Host, c.smtpPort))
	if err != nil {
		fail(fmt.Errorf("stscheck: connect: %w", err))
		return
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	sc, err := smtp.NewClient(conn, h.Host)
	if err != nil {
		fail(fmt.Errorf("stscheck: smtp greeting: %w", err))
		return
	}
	defer sc.Close()
	if err := sc.Hello(helloName); err != nil {
		fail(fmt.Errorf("stscheck: smtp ehlo: %w", err))
		return
	}
	m.probed = true
	if ok, _ := sc.Extension("STARTTLS"); !ok {
		m.setDecision(h.Done(mtasts.ErrSTARTTLSNotSupported))
		sc.Quit()
		return
	}
	m.STARTTLS = true

	// Record what the handshake saw, even when the plan's verification
	// aborts it, to show the certificate.
	var (
		mu      sync.Mutex
		seen    tls.ConnectionState
		saw     bool
		daneErr error
	)
	cfg := h.TLSConfig(&tls.Config{RootCAs: c.roots})
	inner := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		var err error
		if inner != nil {
			err = inner(cs)
		}
		mu.Lock()
		seen, saw = cs, true
		// The plan's check returns DANE's failure first: keep its
		// words, which the decision reduces to a result type when
		// MTA-STS failed too.
		var de *dane.Error
		if errors.As(err, &de) {
			daneErr = de
		}
		mu.Unlock()
		return err
	}
	tlsErr := sc.StartTLS(cfg)
	mu.Lock()
	m.daneErr = daneErr
	mu.Unlock()
	m.setDecision(h.Done(tlsErr))
	mu.Lock()
	if saw {
		m.TLSVersion = tls.VersionName(seen.Version)
		m.certs = seen.PeerCertificates
		m.certErr = verifyCert(seen.PeerCertificates, h.Host, c.roots, c.now())
		m.CertValid = m.certErr == nil
	}
	mu.Unlock()
	if tlsErr == nil {
		sc.Quit()
	}
}

// verifyCert is the PKIX check of RFC 8461, Section 4.2 made for display,
// whatever the policy says: the plan's own check only runs under a policy.
func verifyCert(chain []*x509.Certificate, host string, roots *x509.CertPool, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("stscheck: no certificate")
	}
	opts := x509.VerifyOptions{
		DNSName:     host,
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(chain) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, ic := range chain[1:] {
			opts.Intermediates.AddCert(ic)
		}
	}
	_, err := chain[0].Verify(opts)
	return err
}

// checkTLSRPT looks up the `_smtp._tls` record (RFC 8460, Section 3).
func (c *checker) checkTLSRPT(ctx context.Context, r *report) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rec, err := tlsrpt.Lookup(ctx, c.dns, r.Domain)
	if err != nil {
		r.TLSRPT.err = err
		return
	}
	r.TLSRPT.Found = true
	r.TLSRPT.RUA = append(r.TLSRPT.RUA, rec.RUA...)
	r.TLSRPT.ignored = rec.Ignored
}

// verdict is what a sender would do with a message now. It tries the
// hosts in order: the first that takes the message decides between
// deliver (an enforce or testing policy, or DANE, judged it) and
// opportunistic; with none, the mail waits when a policy (MTA-STS
// enforce or testing, or DANE for some host) made the hosts fail, and
// goes opportunistically otherwise (no host reached).
func (r *report) verdict(noSMTP bool) string {
	switch {
	case r.nullMX || errors.Is(r.mxErr, mtasts.ErrNoSuchDomain):
		return verdictUndeliverable // a sender returns the mail at once
	case r.mxErr != nil:
		return verdictTempFail // a sender queues the mail and retries
	}
	sts := r.mode == mtasts.ModeEnforce || r.mode == mtasts.ModeTesting
	for _, m := range r.MX {
		if m.Decision == decisionDeliver || noSMTP && m.tried && m.Host != "" {
			r.viaDANE = m.daneJudges() && m.DANE.Verdict == danePass
			if sts || m.daneJudges() {
				return verdictDeliver
			}
			return verdictOpportunisic
		}
	}
	if sts || r.daneJudges() {
		return verdictTempFail
	}
	return verdictOpportunisic
}

// daneJudges reports whether DANE judges the host, alone or with MTA-STS.
func (m *mxReport) daneJudges() bool {
	return m.GovernedBy == governsDANE || m.GovernedBy == governsBoth
}

// daneJudges reports whether DANE judges some MX host.
func (r *report) daneJudges() bool {
	for i := range r.MX {
		if r.MX[i].daneJudges() {
			return true
		}
	}
	return false
}

// findProblems lists what the domain's owner should fix. A missing
// `_mta-sts` or `_smtp._tls` record is not one: publishing them is a choice.
func (r *report) findProblems() []string {
	p := []string{}
	if r.Record.Error != "" && !r.Record.absent {
		p = append(p, "record: "+r.Record.Error)
	}
	if r.Policy.Error != "" {
		p = append(p, "policy: "+r.Policy.Error)
	}
	for _, w := range r.Policy.Warnings {
		p = append(p, "policy: warning: "+w)
	}
	if r.mxErr != nil {
		p = append(p, r.mxNote)
	}
	for _, m := range r.MX {
		name := m.Host
		if name == "" {
			name = "null MX"
		}
		if dp := m.daneProblem(); dp != "" {
			p = append(p, name+": "+dp)
		}
		if !m.MatchesPolicy && m.GovernedBy == governsDANE && (r.mode == mtasts.ModeEnforce || r.mode == mtasts.ModeTesting) {
			// Not a failure here, but for every sender without DANE.
			p = append(p, name+": matches no mx of the "+string(r.mode)+" policy: only senders that do DANE accept it")
		}
		switch {
		case m.probeErr != nil:
			p = append(p, name+": not reachable: "+m.probeErr.Error())
		case m.ResultType != "":
			s := name + ": " + m.ResultType
			if m.Reason != "" {
				s += " (" + m.Reason + ")"
			}
			p = append(p, s)
		case m.probed && !m.STARTTLS:
			p = append(p, name+": STARTTLS not offered: mail to it travels in clear text")
		}
	}
	if r.TLSRPT.err != nil && !errors.Is(r.TLSRPT.err, tlsrpt.ErrNoRecord) {
		p = append(p, r.TLSRPT.err.Error()) // says "tlsrpt: " itself
	}
	if r.Verdict == verdictTempFail && r.mxErr == nil {
		under := "the " + string(r.mode) + " policy"
		switch {
		case r.mode != mtasts.ModeEnforce && r.mode != mtasts.ModeTesting:
			under = "DANE"
		case r.daneJudges():
			under = "DANE and " + under
		}
		p = append(p, "no MX host is acceptable under "+under+": senders queue the mail and retry")
	}
	return p
}

// portString validates an --smtp-port value.
func portString(n int) (string, error) {
	if n < 1 || n > 65535 {
		return "", fmt.Errorf("--smtp-port %d out of range 1-65535", n)
	}
	return strconv.Itoa(n), nil
}

// dnsServer checks a --dns value, HOST:PORT or HOST alone, and adds the
// default port 53.
func dnsServer(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: an IPv4 address, a name, or an IPv6 address.
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), "53"
	}
	bad := fmt.Errorf("--dns %q: want HOST:PORT", s)
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", bad
	}
	if _, err := netip.ParseAddr(host); err != nil {
		if _, err := domain.Normalize(host); err != nil {
			return "", bad
		}
	}
	return net.JoinHostPort(host, port), nil
}
