package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/tlsrpt"
)

// isTerminal reports whether w is a character device such as a terminal.
// (So is /dev/null, where colour does no harm.)
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// terminal is what the output may use: colour on stdout, a progress line on
// stderr.
type terminal struct {
	colour   bool
	progress bool
	stderr   io.Writer
}

func newTerminal(stdout, stderr io.Writer) *terminal {
	return &terminal{
		// https://no-color.org: any non-empty NO_COLOR turns colour off.
		colour:   isTerminal(stdout) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb",
		progress: isTerminal(stderr) && os.Getenv("TERM") != "dumb",
		stderr:   stderr,
	}
}

// ANSI colours.
const (
	red    = "31"
	green  = "32"
	yellow = "33"
	bold   = "1"
	dim    = "2"
)

func (t *terminal) paint(code, s string) string {
	if !t.colour || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// progress draws "checking 3/10 domains" with a spinner on stderr, when it
// is a terminal. Its methods are no-ops otherwise.
type progress struct {
	t     *terminal
	total int
	done  atomic.Int64
	mu    sync.Mutex // serialises drawing with the printing of results
	frame int
	quit  chan struct{}
	wg    sync.WaitGroup
}

func (t *terminal) startProgress(total int) *progress {
	p := &progress{t: t, total: total, quit: make(chan struct{})}
	if !t.progress {
		return p
	}
	p.wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-tick.C:
				p.mu.Lock()
				p.frame++
				p.draw()
				p.mu.Unlock()
			}
		}
	})
	return p
}

func (p *progress) draw() {
	const frames = `|/-\`
	fmt.Fprintf(p.t.stderr, "\r\x1b[K%c checking %d/%d domains", frames[p.frame%len(frames)], p.done.Load(), p.total)
}

// step counts a finished domain.
func (p *progress) step() { p.done.Add(1) }

// clear removes the line before a result is printed; redraw restores it.
func (p *progress) clear() {
	if !p.t.progress {
		return
	}
	p.mu.Lock()
	fmt.Fprint(p.t.stderr, "\r\x1b[K")
}

func (p *progress) redraw() {
	if !p.t.progress {
		return
	}
	p.draw()
	p.mu.Unlock()
}

// stop ends the progress line and waits for its goroutine.
func (p *progress) stop() {
	if !p.t.progress {
		return
	}
	close(p.quit)
	p.wg.Wait()
	fmt.Fprint(p.t.stderr, "\r\x1b[K")
}

// labelWidth aligns the values of the human output.
const labelWidth = 10

// print writes the human report of one domain.
func (t *terminal) print(w io.Writer, r *report) error {
	b := bufio.NewWriter(w)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(b, "  %-*s%s\n", labelWidth, label, fmt.Sprintf(format, args...))
	}
	more := func(format string, args ...any) { line("", format, args...) }

	fmt.Fprintln(b, t.paint(bold, r.Domain))

	// 1. Record.
	switch {
	case r.Record.Found:
		line("record", "%s", t.paint(green, "id "+r.Record.ID))
	case r.Record.absent:
		line("record", "%s", t.paint(yellow, "none: the domain publishes no MTA-STS"))
	default:
		line("record", "%s", t.paint(red, "unusable: "+r.Record.Error))
	}
	for _, txt := range r.Record.txts {
		more("%s", t.paint(dim, strconv.Quote(txt)))
	}

	// 2. Policy.
	if f := r.Policy.fetch; f != nil {
		line("policy", "%s", f.URL)
		if f.Status != 0 {
			ct := f.ContentType
			if ct == "" {
				ct = "no Content-Type"
			}
			more("HTTP %d, %s, %d bytes, %s, %s", f.Status, ct, f.Size, tlsName(f.TLSVersion), f.Duration.Round(time.Millisecond))
		}
		if len(f.Certificates) > 0 {
			more("certificate %s", certLine(f.Certificates[0], time.Now()))
		}
		if r.Policy.Found {
			more("%s, max_age %d (%s), mx %s", t.modeText(r.Policy.Mode), r.Policy.MaxAge,
				age(r.Policy.MaxAge), joinOr(r.Policy.MX, "(none)"))
			for _, wn := range r.Policy.Warnings {
				more("%s", t.paint(yellow, "warning: "+wn))
			}
		} else {
			more("%s", t.paint(red, r.Policy.ResultType+": "+r.Policy.Error))
			more("a sender without a cached policy delivers as if there were none")
		}
	} else {
		line("policy", "%s", t.paint(dim, "not fetched: no usable record"))
	}

	// 3. MX hosts.
	switch {
	case r.mxErr != nil:
		line("mx", "%s", t.paint(red, r.mxNote))
	case r.nullMX:
		line("mx", "%s", t.paint(yellow, "null MX (RFC 7505): the domain accepts no mail"))
	case r.implicitMX:
		line("mx", "%s", t.paint(dim, "no MX records: the domain itself is the implicit MX"))
	}
	switch {
	case !r.ResolverTrusted:
		line("dnssec", "%s", t.paint(yellow, "unknown: the resolver is not trusted, so DANE cannot be judged"))
		more("%s", t.paint(dim, "(run a validating resolver on loopback, or pass --trust-ad for a trusted one)"))
	case r.MXDNSSEC != "":
		line("dnssec", "MX RRset %s", t.stateText(r.MXDNSSEC))
	}
	for _, m := range r.MX {
		t.printMX(line, more, m, r.Policy.Found, r.ResolverTrusted)
	}

	// 4. TLS-RPT.
	switch {
	case r.TLSRPT.Found:
		line("tlsrpt", "%s", strings.Join(r.TLSRPT.RUA, ", "))
		for _, ig := range r.TLSRPT.ignored {
			more("%s", t.paint(yellow, "ignored rua: "+ig))
		}
	case errors.Is(r.TLSRPT.err, tlsrpt.ErrNoRecord):
		line("tlsrpt", "%s", t.paint(yellow, "none: the domain asks for no TLS reports"))
	case r.TLSRPT.err != nil:
		line("tlsrpt", "%s", t.paint(red, "unusable: "+r.TLSRPT.err.Error()))
	}

	// 5. Verdict.
	v := r.Verdict
	switch v {
	case verdictDeliver:
		v = t.paint(green, v)
	case verdictTempFail, verdictUndeliverable:
		v = t.paint(red, v)
	default:
		v = t.paint(yellow, v)
	}
	line("verdict", "%s", v+verdictNote(r))
	for i, p := range r.Problems {
		label := ""
		if i == 0 {
			label = "problems"
		}
		line(label, "%s", t.paint(red, "- "+p))
	}
	fmt.Fprintln(b)
	return b.Flush()
}

func (t *terminal) printMX(line func(string, string, ...any), more func(string, ...any), m mxReport, havePolicy, trusted bool) {
	host := m.Host
	if host == "" {
		host = "."
	}
	match := ""
	switch {
	case !havePolicy:
	case m.MatchesPolicy:
		match = "  matches the policy"
	case m.GovernedBy == governsDANE:
		match = "  " + t.paint(yellow, "matches no mx of the policy (DANE alone judges it)")
	default:
		match = "  " + t.paint(red, "matches no mx of the policy")
	}
	line("mx "+strconv.Itoa(int(m.Preference)), "%s%s", host, match)
	if m.note != "" {
		more("%s", m.note)
	}
	t.printDANE(more, m, trusted)
	switch {
	case m.probeErr != nil:
		more("%s", t.paint(red, m.probeErr.Error()))
	case m.probed && !m.STARTTLS:
		more("%s", t.paint(red, "STARTTLS not offered"))
	case m.STARTTLS:
		s := "STARTTLS"
		if m.TLSVersion != "" {
			s += ", " + m.TLSVersion
		}
		more("%s", s)
	case m.tried && m.Decision == "":
		more("%s", t.paint(dim, "not probed (--no-smtp)"))
	}
	if len(m.certs) > 0 {
		valid := t.paint(green, "valid for "+m.Host)
		if !m.CertValid {
			valid = t.paint(red, "not valid: "+m.certErr.Error())
		}
		more("certificate %s", certLine(m.certs[0], time.Now()))
		more("%s", valid)
	}
	switch m.DANE.Verdict {
	case danePass:
		more("DANE %s", t.paint(green, danePass))
	case daneFail:
		more("DANE %s", t.paint(red, strings.TrimPrefix(m.daneProblem(), "DANE ")))
	}
	if m.Decision != "" {
		d := t.paint(green, m.Decision)
		if m.Decision == decisionSkip {
			d = t.paint(red, m.Decision)
		}
		if m.ResultType != "" {
			d += "  " + t.paint(red, m.ResultType)
			if m.Reason != "" {
				d += " (" + m.Reason + ")"
			}
		} else if m.Decision == decisionDeliver && (!m.STARTTLS || m.TLSVersion == "") {
			d += " without TLS"
		} else if m.Decision == decisionDeliver && !m.CertValid {
			d += " (opportunistic TLS: the certificate is not checked)"
		}
		more("%s", d)
	}
}

func (t *terminal) modeText(mode string) string {
	switch mtasts.Mode(mode) {
	case mtasts.ModeEnforce:
		return t.paint(green, "mode enforce")
	case mtasts.ModeTesting:
		return t.paint(yellow, "mode testing")
	}
	return t.paint(yellow, "mode "+mode)
}

func verdictNote(r *report) string {
	switch r.Verdict {
	case verdictTempFail:
		return ": a sender queues the mail and retries later"
	case verdictOpportunisic:
		return ": TLS if offered, certificates not checked"
	case verdictUndeliverable:
		return ": a sender returns the mail to its sender at once"
	}
	if r.viaDANE {
		return ": over TLS that DANE authenticates"
	}
	if r.mode == mtasts.ModeTesting {
		return ": the policy is in testing mode, failures are only reported"
	}
	return ""
}

// certLine describes a certificate in one line.
func certLine(c *x509.Certificate, now time.Time) string {
	names := c.DNSNames
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = []string{c.Subject.CommonName}
	}
	issuer := c.Issuer.CommonName
	if issuer == "" {
		issuer = c.Issuer.String()
	}
	exp := "expires " + c.NotAfter.UTC().Format(time.DateOnly)
	if now.After(c.NotAfter) {
		exp = "expired " + c.NotAfter.UTC().Format(time.DateOnly)
	}
	return fmt.Sprintf("%s, issuer %q, %s", joinOr(names, "(no names)"), issuer, exp)
}

func tlsName(v uint16) string {
	if v == 0 {
		return "no TLS"
	}
	return tls.VersionName(v)
}

// age writes seconds as a rounded human duration.
func age(sec int64) string {
	switch {
	case sec >= 86400 && sec%86400 == 0:
		return strconv.FormatInt(sec/86400, 10) + "d"
	case sec >= 86400:
		return fmt.Sprintf("%.1fd", float64(sec)/86400)
	case sec >= 3600:
		return fmt.Sprintf("%.1fh", float64(sec)/3600)
	}
	return strconv.FormatInt(sec, 10) + "s"
}

// printDANE writes what DANE found for an MX host: the policy that
// governs it, the DNSSEC state of each lookup, and the TLSA records.
func (t *terminal) printDANE(more func(string, ...any), m mxReport, trusted bool) {
	d := &m.DANE
	if !d.looked {
		return
	}
	switch m.GovernedBy {
	case governsDANE:
		more("governed by DANE alone")
	case governsBoth:
		more("governed by DANE and MTA-STS: the stricter wins")
	case governsMTASTS:
		more("governed by MTA-STS")
	default:
		more("governed by no policy: opportunistic TLS")
	}
	var steps []string
	for _, st := range d.Steps {
		s := st.Type
		if st.Type != "A" && st.Type != "AAAA" || st.Name != m.Host {
			s += " " + st.Name
		}
		s += " " + t.stateText(st.DNSSEC)
		switch st.Result {
		case resultNXDOMAIN:
			s += " (no such name)"
		case resultNODATA:
			s += " (no records)"
		}
		steps = append(steps, s)
	}
	if len(steps) > 0 {
		more("dns %s", strings.Join(steps, ", "))
	}
	switch {
	case len(d.Steps) == 0:
		// No lookup: an IP address (no DANE), or not a host name.
	case !d.Signed && d.Verdict == "" && !trusted:
		more("%s", t.paint(yellow, "DANE not judged: the resolver is not trusted"))
	case !d.Signed && d.Verdict == "":
		more("%s", t.paint(dim, "no TLSA lookup: the host's zone is not signed, so DANE does not apply"))
	case !d.Applies && d.Verdict == "":
		more("%s", t.paint(dim, "no secure TLSA records, so DANE does not apply"))
	}
	if d.Target != "" && d.Target != m.Host {
		more("alias of %s", d.Target)
	}
	for _, r := range d.TLSA {
		u := t.paint(green, "usable")
		if !r.Usable {
			u = t.paint(red, "unusable: "+r.Note)
		}
		more("tlsa %s  %s: %s", shortTLSA(r.Record), t.paint(dim, r.kind), u)
	}
	if d.Applies && d.Usable == 0 {
		more("%s", t.paint(red, "no usable TLSA record: TLS is required, any certificate accepted"))
	}
}

// stateText colours a DNSSEC state.
func (t *terminal) stateText(s string) string {
	switch s {
	case stateSecure:
		return t.paint(green, s)
	case stateFailed:
		return t.paint(red, s)
	case stateUnknown:
		return t.paint(yellow, s)
	}
	return s
}

// shortTLSA cuts the data of a "u s m HEX" record for one line.
func shortTLSA(rec string) string {
	const keep = 12
	i := strings.LastIndexByte(rec, ' ')
	data := rec[i+1:]
	if len(data) <= 2*keep+8 {
		return rec
	}
	return rec[:i+1] + data[:keep] + "…" + data[len(data)-keep:] + " (" + strconv.Itoa(len(data)/2) + " bytes)"
}
