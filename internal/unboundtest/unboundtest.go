package unboundtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/testproc"
)

// EnvVar is the environment variable that enables tests against a real
// unbound.
const EnvVar = "STRICTMX_TEST_UNBOUND"

// Programs New runs, looked up in PATH and then in /usr/sbin: unbound
// (Debian package unbound), ldns-keygen and ldns-signzone (Debian package
// ldnsutils).
const (
	unboundBinary  = "unbound"
	keygenBinary   = "ldns-keygen"
	signzoneBinary = "ldns-signzone"
	commandDir     = "/usr/sbin"
)

// The zones every server serves.
const (
	// Signed is the top of the tree, signed; the DS record of its key is
	// unbound's trust anchor.
	Signed = "dane.test."
	// Child is a signed zone delegated from Signed with a DS record.
	Child = "child.dane.test."
	// Unsigned is a zone delegated from Signed without a DS record:
	// everything in it is insecure.
	Unsigned = "insecure.dane.test."
)

// Names every server publishes, each with one A record.
const (
	// SecureName (in Signed) has the A record SecureAddr.
	SecureName = "www.dane.test."
	SecureAddr = "192.0.2.1"
	// ChildName (in Child) has the A record ChildAddr.
	ChildName = "www.child.dane.test."
	ChildAddr = "192.0.2.2"
	// InsecureName (in Unsigned) has the A record InsecureAddr.
	InsecureName = "www.insecure.dane.test."
	InsecureAddr = "192.0.2.3"
	// BogusName (in Signed) has the A record BogusAddr, whose signature
	// is broken: a validating resolver answers SERVFAIL.
	BogusName = "bogus.dane.test."
	BogusAddr = "192.0.2.66"
)

// TTL is the TTL of every record whose zone-file line gives none, and of
// the negative answers (the SOA minimum).
const TTL = 300

// Limits on starting and stopping a server.
const (
	// startAttempts bounds the retries when the chosen port was taken
	// between picking it and unbound binding it.
	startAttempts = 5
	// readyTimeout bounds the wait for unbound to answer, all attempts
	// together.
	readyTimeout = 10 * time.Second
	// stopTimeout bounds the wait for unbound to exit after SIGTERM; it
	// is then killed.
	stopTimeout = 5 * time.Second
	// toolTimeout bounds the runs of ldns-keygen and ldns-signzone, all
	// together.
	toolTimeout = 30 * time.Second
	// queryTimeout bounds each query of the readiness checks.
	queryTimeout = 500 * time.Millisecond
)

// ErrZone is returned (wrapped) by the checks New makes on the Zones it is
// given; New fails the test with it.
var ErrZone = errors.New("unboundtest: bad zone")

// errNotValidating marks a server that came up but does not validate
// answers from the tree: a bug in the configuration or the signing, which
// another attempt would repeat.
var errNotValidating = errors.New("unboundtest: unbound does not validate the tree")

// Zone adds records to one of the zones every server serves.
type Zone struct {
	// Name is Signed, Child or Unsigned (the trailing dot may be left
	// out; case does not matter).
	Name string
	// Records are zone-file lines, parsed with $ORIGIN Name and $TTL TTL:
	// owner names may be relative to Name. Each owner must be in this
	// zone and not in a zone delegated from it. Records of the types the
	// tree keeps for itself (SOA, NS, DS, DNSKEY, RRSIG, NSEC, NSEC3,
	// NSEC3PARAM) are refused.
	Records []string
	// Bogus are owner names (absolute, or relative to Name) whose
	// signatures are broken after signing: every RRSIG record at the
	// name, except the NSEC record's (denials of other names stay
	// valid). Each must own records, and the zone must be signed.
	Bogus []string
}

// Server is a running unbound that validates answers from the test tree.
type Server struct {
	addr, dir, logFile, anchor string

	bin   string            // unbound
	tree  []*zoneData       // the zones, signed
	files map[string]string // the file unbound loads for each zone
	proc  *testproc.Process // nil when not running
}

// process is one run of unbound.
// Addr is unbound's address, "127.0.0.1:port", for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Dir is the server's directory: configuration, keys, zone files and log.
// It is removed when the test ends.
func (s *Server) Dir() string { return s.dir }

// TrustAnchor is the DS record of Signed's key, as unbound's trust anchor
// file has it.
func (s *Server) TrustAnchor() string { return s.anchor }

// Log returns unbound's log so far, for failure messages.
func (s *Server) Log() string {
	data, err := os.ReadFile(s.logFile)
	if err != nil {
		return ""
	}
	return "\nunbound log:\n" + string(data)
}

// New signs the test tree with the zones' records added and runs unbound
// on a free 127.0.0.1 port for the rest of the test. It skips the test
// unless STRICTMX_TEST_UNBOUND=1, and fails it when a program is missing,
// a Zone is bad (ErrZone), signing fails, or unbound does not come up
// validating within readyTimeout. unbound is stopped when the test ends.
func New(t testing.TB, zones ...Zone) *Server {
	t.Helper()
	if os.Getenv(EnvVar) != "1" {
		t.Skip("set " + EnvVar + "=1 to run tests against a real unbound")
	}
	bins := make(map[string]string, 3)
	for _, b := range []struct{ name, pkg string }{
		{unboundBinary, "unbound"},
		{keygenBinary, "ldnsutils"},
		{signzoneBinary, "ldnsutils"},
	} {
		p, err := lookPath(b.name)
		if err != nil {
			t.Fatalf("unboundtest: %s=1 but %s is not installed (Debian package %s): %v", EnvVar, b.name, b.pkg, err)
		}
		bins[b.name] = p
	}
	tree, err := build(zones)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if strings.ContainsAny(dir, "\"\n") {
		t.Fatalf("unboundtest: temporary directory %q cannot be quoted in unbound.conf", dir)
	}
	s := &Server{dir: dir, logFile: filepath.Join(dir, "unbound.log"), bin: bins[unboundBinary], tree: tree}
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	if s.files, err = s.sign(ctx, bins[keygenBinary], bins[signzoneBinary]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })
	ready, cancelReady := context.WithTimeout(context.Background(), readyTimeout)
	defer cancelReady()
	var errs []error
	for range startAttempts {
		port, err := testproc.FreePort()
		if err != nil {
			errs = append(errs, fmt.Errorf("unboundtest: find a free port: %w", err))
			continue
		}
		err = s.run(ready, port)
		if err == nil {
			return s
		}
		if errors.Is(err, errNotValidating) || ready.Err() != nil {
			t.Fatal(err) // another port would not help
		}
		errs = append(errs, err)
	}
	t.Fatalf("unboundtest: could not start %s in %d attempts: %v", s.bin, startAttempts, errors.Join(errs...))
	return nil
}

// zoneData is one zone of the tree, as it is written before signing.
type zoneData struct {
	name   string
	signed bool
	rrs    []dns.RR
	bogus  []string // owner names whose signatures are broken
	cuts   []string // zones delegated from this one
}

// reserved are the types the tree keeps for itself.
var reserved = []uint16{
	dns.TypeSOA, dns.TypeNS, dns.TypeDS, dns.TypeDNSKEY, dns.TypeRRSIG,
	dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM,
}

// build returns the tree's zones, parent before child (Signed, Child,
// Unsigned), with the zones' records added, or an error wrapping ErrZone.
func build(zones []Zone) ([]*zoneData, error) {
	soa := "@ SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 " + strconv.Itoa(TTL)
	tree := []*zoneData{
		{name: Signed, signed: true, cuts: []string{Child, Unsigned}, bogus: []string{BogusName}},
		{name: Child, signed: true},
		{name: Unsigned},
	}
	fixed := map[string][]string{
		Signed: {
			soa, "@ NS ns.dane.test.", "ns A 127.0.0.1",
			SecureName + " A " + SecureAddr,
			BogusName + " A " + BogusAddr,
			Child + " NS ns.dane.test.",
			Unsigned + " NS ns.dane.test.",
		},
		Child:    {soa, "@ NS ns.dane.test.", ChildName + " A " + ChildAddr},
		Unsigned: {soa, "@ NS ns.dane.test.", InsecureName + " A " + InsecureAddr},
	}
	for _, z := range tree {
		rrs, err := parse(z.name, strings.Join(fixed[z.name], "\n"))
		if err != nil {
			return nil, err // the fixed records parse; this is a bug here
		}
		z.rrs = rrs
	}
	for _, zone := range zones {
		name := dns.CanonicalName(zone.Name)
		i := slices.IndexFunc(tree, func(z *zoneData) bool { return z.name == name })
		if i < 0 {
			return nil, fmt.Errorf("%w: %q is none of %s, %s, %s", ErrZone, zone.Name, Signed, Child, Unsigned)
		}
		z := tree[i]
		for _, line := range zone.Records {
			rrs, err := parse(z.name, line)
			if err != nil {
				return nil, err
			}
			for _, rr := range rrs {
				h := rr.Header()
				if slices.Contains(reserved, h.Rrtype) {
					return nil, fmt.Errorf("%w: %s: the tree keeps %s records for itself", ErrZone, line, dns.TypeToString[h.Rrtype])
				}
				if err := z.owns(h.Name); err != nil {
					return nil, fmt.Errorf("%w: %s", err, line)
				}
			}
			z.rrs = append(z.rrs, rrs...)
		}
		for _, b := range zone.Bogus {
			owner := dns.CanonicalName(b)
			if !dns.IsFqdn(b) {
				owner = dns.CanonicalName(b + "." + z.name)
			}
			if !z.signed {
				return nil, fmt.Errorf("%w: bogus %s: %s is not signed", ErrZone, owner, z.name)
			}
			if err := z.owns(owner); err != nil {
				return nil, err
			}
			z.bogus = append(z.bogus, owner)
		}
	}
	for _, z := range tree {
		for _, b := range z.bogus {
			if !slices.ContainsFunc(z.rrs, func(rr dns.RR) bool { return rr.Header().Name == b }) {
				return nil, fmt.Errorf("%w: bogus %s owns no records in %s", ErrZone, b, z.name)
			}
		}
	}
	return tree, nil
}

// owns reports, as an error wrapping ErrZone, an owner name outside z.
func (z *zoneData) owns(owner string) error {
	if !dns.IsSubDomain(z.name, owner) {
		return fmt.Errorf("%w: %s is not in %s", ErrZone, owner, z.name)
	}
	for _, cut := range z.cuts {
		if dns.IsSubDomain(cut, owner) {
			return fmt.Errorf("%w: %s is in %s, delegated from %s", ErrZone, owner, cut, z.name)
		}
	}
	return nil
}

// parse reads zone-file text with $ORIGIN origin and $TTL TTL, owner names
// in canonical (lower) case.
func parse(origin, text string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader("$TTL "+strconv.Itoa(TTL)+"\n"+text+"\n"), origin, "")
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rr.Header().Name = dns.CanonicalName(rr.Header().Name)
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%w: %q in %s: %v", ErrZone, text, origin, err)
	}
	return rrs, nil
}

// sign makes a key for each signed zone, writes every zone file and signs
// the signed ones, children first so that their DS records go into the
// parent before it is signed; then it breaks the bogus names' signatures.
// It returns the file unbound loads for each zone and writes the trust
// anchor file.
func (s *Server) sign(ctx context.Context, keygen, signzone string) (map[string]string, error) {
	tree := s.tree
	files := make(map[string]string, len(tree))
	// Signatures valid from an hour ago for a week: a clock a little off
	// between signing and validating does not matter.
	now := time.Now().UTC()
	inception := now.Add(-time.Hour).Format("20060102150405")
	expiration := now.Add(7 * 24 * time.Hour).Format("20060102150405")
	for i := len(tree) - 1; i >= 0; i-- {
		z := tree[i]
		file := filepath.Join(s.dir, strings.TrimSuffix(z.name, ".")+".zone")
		if err := writeZone(file, z.rrs); err != nil {
			return nil, err
		}
		if !z.signed {
			files[z.name] = file
			continue
		}
		out, err := s.tool(ctx, keygen, "-a", "ECDSAP256SHA256", "-k", z.name)
		if err != nil {
			return nil, err
		}
		key := strings.TrimSpace(out)
		if key == "" || strings.ContainsAny(key, "/\n") {
			return nil, fmt.Errorf("unboundtest: %s printed %q, not a key name", keygen, out)
		}
		ds, err := os.ReadFile(filepath.Join(s.dir, key+".ds"))
		if err != nil {
			return nil, fmt.Errorf("unboundtest: DS record of %s: %w", z.name, err)
		}
		signedFile := file + ".signed"
		if _, err := s.tool(ctx, signzone, "-o", z.name, "-i", inception, "-e", expiration, "-f", signedFile, file, key); err != nil {
			return nil, err
		}
		if err := breakSignatures(signedFile, z); err != nil {
			return nil, err
		}
		files[z.name] = signedFile
		if i == 0 {
			s.anchor = strings.TrimSpace(string(ds))
			if err := os.WriteFile(filepath.Join(s.dir, "trust-anchor.ds"), ds, 0o644); err != nil {
				return nil, err
			}
			continue
		}
		// The DS record goes into the parent, the tree's first zone (the
		// only one that delegates).
		rrs, err := parse(tree[0].name, string(ds))
		if err != nil {
			return nil, fmt.Errorf("unboundtest: DS record of %s from %s: %w", z.name, keygen, err)
		}
		tree[0].rrs = append(tree[0].rrs, rrs...)
	}
	// The tree's own root: unbound resolves every name without the
	// internet, names outside the tree to NXDOMAIN.
	root, err := parse(".", strings.Join([]string{
		"@ SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 " + strconv.Itoa(TTL),
		"@ NS ns.dane.test.",
		Signed + " NS ns.dane.test.",
		"ns.dane.test. A 127.0.0.1",
	}, "\n"))
	if err != nil {
		return nil, err
	}
	files["."] = filepath.Join(s.dir, "root.zone")
	return files, writeZone(files["."], root)
}

// tool runs one of the ldnsutils programs in the server's directory and
// returns its standard output.
func (s *Server) tool(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = s.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("unboundtest: %s %s: %w: %s", bin, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// writeZone writes rrs as a zone file.
func writeZone(file string, rrs []dns.RR) error {
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return os.WriteFile(file, []byte(b.String()), 0o644)
}

// breakSignatures rewrites the signed zone file so that the signatures at
// z's bogus names no longer verify: one bit of each signature is flipped,
// the record left otherwise as it was, so that only the cryptography
// fails. The NSEC record's signature is left valid.
func breakSignatures(file string, z *zoneData) error {
	if len(z.bogus) == 0 {
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	rrs, err := parse(z.name, string(data))
	if err != nil {
		return fmt.Errorf("unboundtest: read back %s: %w", file, err)
	}
	broken := make(map[string]int, len(z.bogus))
	for _, rr := range rrs {
		sig, ok := rr.(*dns.RRSIG)
		if !ok || sig.TypeCovered == dns.TypeNSEC || !slices.Contains(z.bogus, sig.Hdr.Name) {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig.Signature)
		if err != nil || len(raw) == 0 {
			return fmt.Errorf("unboundtest: signature of %s in %s: %v", sig.Hdr.Name, file, err)
		}
		raw[len(raw)/2] ^= 0x01
		sig.Signature = base64.StdEncoding.EncodeToString(raw)
		broken[sig.Hdr.Name]++
	}
	for _, b := range z.bogus {
		if broken[b] == 0 {
			return fmt.Errorf("unboundtest: %s has no signature to break in %s", b, file)
		}
	}
	return writeZone(file, rrs)
}

// config is unbound.conf for a server on port that answers id.server with
// identity.
func (s *Server) config(port int, identity string) string {
	lines := []string{
		"server:",
		"  verbosity: 1",
		"  interface: 127.0.0.1",
		"  port: " + strconv.Itoa(port),
		"  do-ip4: yes",
		"  do-ip6: no",
		"  do-udp: yes",
		"  do-tcp: yes",
		// Without SO_REUSEPORT a port another process holds makes
		// unbound exit, rather than share the port.
		"  so-reuseport: no",
		"  num-threads: 1",
		// Queries could only leave from loopback, and they go to no
		// one: every zone, the root included, is an authority zone.
		"  outgoing-interface: 127.0.0.1",
		"  do-not-query-localhost: no",
		`  username: ""`,
		`  chroot: ""`,
		`  directory: "` + s.dir + `"`,
		`  pidfile: "` + filepath.Join(s.dir, "unbound.pid") + `"`,
		`  logfile: "` + s.logFile + `"`,
		"  use-syslog: no",
		"  log-time-ascii: yes",
		`  identity: "` + identity + `"`,
		`  module-config: "validator iterator"`,
		`  trust-anchor-file: "` + filepath.Join(s.dir, "trust-anchor.ds") + `"`,
		"  val-log-level: 2",
		"  ede: yes",
		// unbound answers names under test. itself (NXDOMAIN) unless
		// told not to.
		`  local-zone: "test." nodefault`,
		"remote-control:",
		"  control-enable: no",
	}
	names := []string{"."}
	for _, z := range s.tree {
		names = append(names, z.name)
	}
	for _, name := range names {
		// for-downstream: no makes unbound validate the zone's data
		// before answering from it, as a recursive resolver.
		lines = append(lines,
			"auth-zone:",
			`  name: "`+name+`"`,
			`  zonefile: "`+s.files[name]+`"`,
			"  for-downstream: no",
			"  for-upstream: yes",
			"  fallback-enabled: no",
		)
	}
	return strings.Join(lines, "\n") + "\n"
}

// run starts unbound on port and waits until it answers as this run's
// server, validating, or ctx ends. On failure it has already stopped
// unbound.
func (s *Server) run(ctx context.Context, port int) error {
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	identity := "unboundtest-" + token()
	conf := filepath.Join(s.dir, "unbound.conf")
	if err := os.WriteFile(conf, []byte(s.config(port, identity)), 0o644); err != nil {
		return err
	}
	bin := s.bin
	p, err := testproc.Start(exec.Command(bin, "-d", "-c", conf))
	if err != nil {
		return fmt.Errorf("unboundtest: start %s: %w", bin, err)
	}
	out := p.Out
	s.proc = p

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		id, err := s.identity(ctx)
		if err == nil {
			if id != identity {
				s.kill()
				return fmt.Errorf("unboundtest: another server holds %s: id.server %q", s.addr, id)
			}
			if err := s.validating(ctx); err != nil {
				s.kill()
				return fmt.Errorf("%w: %w%s", errNotValidating, err, s.Log())
			}
			return nil
		}
		select {
		case <-p.Exited():
			s.proc = nil
			return fmt.Errorf("unboundtest: %s on %s exited: %v: %s%s", bin, s.addr, p.Err(), out.String(), s.Log())
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("unboundtest: %s on %s did not answer within %v of the start: %s%s", bin, s.addr, readyTimeout, out.String(), s.Log())
		case <-tick.C:
		}
	}
}

// identity asks the server for its id.server identity.
func (s *Server) identity(ctx context.Context) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion("id.server.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	r, err := s.exchange(ctx, m)
	if err != nil {
		return "", err
	}
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			return strings.Join(txt.Txt, ""), nil
		}
	}
	return "", fmt.Errorf("unboundtest: id.server: no TXT record in %v", r)
}

// validating checks that the trust anchor works: Signed's SOA record comes
// back secure.
func (s *Server) validating(ctx context.Context) error {
	m := new(dns.Msg)
	m.SetQuestion(Signed, dns.TypeSOA)
	m.SetEdns0(dns.DefaultMsgSize, true)
	m.AuthenticatedData = true
	r, err := s.exchange(ctx, m)
	if err != nil {
		return fmt.Errorf("%s SOA: %w", Signed, err)
	}
	if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
		return fmt.Errorf("%s SOA is not secure (rcode %s, ad %v): the trust anchor does not work", Signed, dns.RcodeToString[r.Rcode], r.AuthenticatedData)
	}
	return nil
}

func (s *Server) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	c := &dns.Client{Net: "udp"}
	r, _, err := c.ExchangeContext(ctx, m, s.addr)
	return r, err
}

// stop ends unbound: SIGTERM, then SIGKILL if it has not exited within
// stopTimeout.
func (s *Server) stop(t testing.TB) {
	p := s.proc
	if p == nil {
		return
	}
	if p.Terminate(stopTimeout) {
		s.proc = nil
		return
	}
	t.Errorf("unboundtest: unbound (pid %d) did not exit within %v of SIGTERM; killing it", p.Cmd.Process.Pid, stopTimeout)
	s.kill()
}

// kill ends unbound with SIGKILL and waits for it.
func (s *Server) kill() {
	p := s.proc
	if p == nil {
		return
	}
	_ = p.Cmd.Process.Kill()
	<-p.Exited()
	s.proc = nil
}

// token returns a random string that marks one run.
func token() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return exec.LookPath(filepath.Join(commandDir, name))
}

// Records for DANE tests.

// TLSA returns the zone-file line of a TLSA record for TCP port of host
// (an absolute name): "_<port>._tcp.<host> TLSA <usage> <selector>
// <matching> <data>", data in hex.
func TLSA(host string, port int, usage, selector, matching uint8, data string) string {
	return fmt.Sprintf("_%d._tcp.%s TLSA %d %d %d %s", port, dns.Fqdn(host), usage, selector, matching, data)
}

// DANEMX returns the zone-file lines that make host (an absolute name) the
// MX host of domain with preference 10, at 127.0.0.1, with a DANE-EE TLSA
// record "3 1 1" for TCP port carrying spkiSHA256: the hex SHA2-256 digest
// of the server certificate's SubjectPublicKeyInfo (SPKISHA256 makes one).
// Both names must be in the Zone the lines are given to.
func DANEMX(domain, host string, port int, spkiSHA256 string) []string {
	return []string{
		dns.Fqdn(domain) + " MX 10 " + dns.Fqdn(host),
		dns.Fqdn(host) + " A 127.0.0.1",
		TLSA(host, port, 3, 1, 1, spkiSHA256),
	}
}

// SPKISHA256 returns the hex SHA2-256 digest of cert's
// SubjectPublicKeyInfo, the data of a "3 1 1" or "2 1 1" TLSA record.
func SPKISHA256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}
