package mtaststest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/testpki"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// ResolverTimeout is the per-exchange Timeout of the resolvers the harness
// hands out, short so that a DNSTimeout fault costs a test about a second
// per query rather than resolver.DefaultTimeout.
const ResolverTimeout = time.Second

// ErrNotServed is returned, wrapped, by Server.DialContext for an address
// the harness does not serve.
var ErrNotServed = errors.New("mtaststest: address not served by the harness")

// A Server is a small world of MTA-STS on loopback: a DNS server (UDP and
// TCP on one 127.0.0.1 port) answering recursive queries from records the
// test sets, an HTTPS server acting as every policy host mta-sts.<domain>
// (the TLS SNI picks the domain), and SMTP MX hosts.
//
// All setup methods are safe for concurrent use and may be called at any
// time: a test can change a record or a policy between, or during, lookups.
// They return the receiver so that calls chain. Mistakes in setup (an
// unparsable IP address or record) fail the test with t.Errorf.
type Server struct {
	t    testing.TB
	ca   *testpki.CA
	done chan struct{} // closed by Close: ends trickles and SMTP sessions

	dnsAddr      string
	dnsUDP       *dns.Server
	dnsTCP       *dns.Server
	policyLn     net.Listener
	policyServer *http.Server
	serving      sync.WaitGroup // goroutines of Serve calls

	closeOnce sync.Once

	mu      sync.Mutex
	records map[rrKey][]dns.RR
	faults  map[string]DNSFault
	rcodes  map[string]int // forced by DNSRcode
	negTTL  time.Duration  // SOA TTL of negative answers
	negMin  time.Duration  // SOA MINIMUM of negative answers
	cnames  CNAMEMode
	strays  int                       // StrayReplies
	onQuery func(name, rrtype string) // OnQuery
	domains map[string]*domainState
	certs   map[certKey]issued
	mxHosts map[string]*MXHost

	// DNSSEC (dnssec.go) and DANE (dane.go).
	zones    map[string]bool           // Signed (true) and Unsigned (false) marks
	bogus    map[rrKey]int             // Bogus: type anyType for all; value EDE code or noEDE
	adRcodes map[string]int            // ADWithRcode
	issuers  map[issuerKey]*testpki.CA // IssuerIntermediate, IssuerPrivate
	private  *testpki.CA               // the private root of IssuerPrivate

	queries      map[rrKey]int
	totalQueries int
	tcpQueries   int
	fetches      map[string]int
	totalFetches int
}

// NewServer starts a Server on loopback and registers its Close with
// t.Cleanup. It calls t.Fatal if it cannot start.
//
// t may be nil, as in an Example: then the caller must call Close, and a
// setup mistake panics.
func NewServer(t testing.TB) *Server {
	if t != nil {
		t.Helper()
	}
	s := &Server{
		t:       t,
		done:    make(chan struct{}),
		records: map[rrKey][]dns.RR{},
		faults:  map[string]DNSFault{},
		rcodes:  map[string]int{},
		negTTL:  DefaultSOAMinimum,
		negMin:  DefaultSOAMinimum,
		domains: map[string]*domainState{},
		certs:   map[certKey]issued{},
		mxHosts: map[string]*MXHost{},
		queries: map[rrKey]int{},
		fetches: map[string]int{},

		zones:    map[string]bool{},
		bogus:    map[rrKey]int{},
		adRcodes: map[string]int{},
		issuers:  map[issuerKey]*testpki.CA{},
	}
	if err := s.start(); err != nil {
		s.Close()
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

func (s *Server) start() error {
	ca, err := testpki.New()
	if err != nil {
		return err
	}
	s.ca = ca

	pc, l, err := listenSamePort()
	if err != nil {
		return err
	}
	s.dnsAddr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serveDNS)
	s.dnsUDP = &dns.Server{PacketConn: pc, Handler: h}
	s.dnsTCP = &dns.Server{Listener: l, Handler: h}
	for _, srv := range []*dns.Server{s.dnsUDP, s.dnsTCP} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		errc := make(chan error, 1)
		s.serving.Go(func() { errc <- srv.ActivateAndServe() })
		select {
		case <-started:
		case err := <-errc:
			return fmt.Errorf("mtaststest: dns server: %w", err)
		}
	}

	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("mtaststest: policy host: %w", err)
	}
	s.policyLn = pl
	s.policyServer = &http.Server{
		Handler:           http.HandlerFunc(s.servePolicy),
		TLSConfig:         &tls.Config{GetConfigForClient: s.policyTLSConfig},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // handshake failures are the point of many tests
	}
	s.serving.Go(func() { s.policyServer.ServeTLS(pl, "", "") })
	return nil
}

// listenSamePort opens UDP and TCP listeners on one 127.0.0.1 port.
func listenSamePort() (net.PacketConn, net.Listener, error) {
	var err error
	for range 50 {
		var pc net.PacketConn
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			break
		}
		var l net.Listener
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
	}
	return nil, nil, fmt.Errorf("mtaststest: no loopback port for DNS over UDP and TCP: %w", err)
}

// Close shuts everything down and waits for the servers to stop. It is
// safe to call more than once; NewServer registers it with t.Cleanup.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.policyServer != nil {
			s.policyServer.Close()
		}
		// A DNS client that keeps a TCP connection open would hold a
		// plain Shutdown until the server's idle timeout.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		for _, srv := range []*dns.Server{s.dnsUDP, s.dnsTCP} {
			if srv != nil {
				srv.ShutdownContext(ctx)
			}
		}
		cancel()
		s.mu.Lock()
		mxs := make([]*MXHost, 0, len(s.mxHosts))
		for _, mx := range s.mxHosts {
			mxs = append(mxs, mx)
		}
		s.mu.Unlock()
		for _, mx := range mxs {
			mx.close()
		}
		s.serving.Wait()
	})
}

// fail reports a setup mistake.
func (s *Server) fail(format string, args ...any) {
	if s.t == nil {
		panic(fmt.Sprintf("mtaststest: "+format, args...))
	}
	s.t.Helper()
	s.t.Errorf("mtaststest: "+format, args...)
}

// Client returns a new mtasts.Client wired to the harness: its Resolver is
// s.Resolver(), it trusts the harness CA, AllowPrivate is set (everything
// is on loopback), and DialContext is s.DialContext. Other fields are zero;
// set them before first use.
func (s *Server) Client() *mtasts.Client {
	return &mtasts.Client{
		Resolver:     s.Resolver(),
		RootCAs:      s.RootCAs(),
		AllowPrivate: true,
		DialContext:  s.DialContext,
	}
}

// Resolver returns a new DNS resolver that asks the harness DNS server,
// with ResolverTimeout per exchange.
func (s *Server) Resolver() *resolver.Stub {
	return &resolver.Stub{Servers: []string{s.dnsAddr}, Timeout: ResolverTimeout}
}

// HTTPClient returns a new http.Client that trusts the harness CA, reaches
// policy hosts through s.DialContext, and does not follow redirects: a
// plain client for testing the policy host itself.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			DialContext:       s.DialContext,
			TLSClientConfig:   &tls.Config{RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}
}

// DialContext connects "mta-sts.<domain>:443" to the policy host listener
// and "<mx host>:25" to that MX host's listener (see MXHost); anything else
// fails with an error wrapping ErrNotServed. It does not consult the
// harness DNS: A records there are for the code under test to look at.
func (s *Server) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	target, err := s.route(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", target)
}

// route maps a dialled address to a harness listener.
func (s *Server) route(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrNotServed, addr)
	}
	host = normName(host)
	if port == "443" && strings.HasPrefix(host, "mta-sts.") && len(host) > len("mta-sts.") {
		return s.policyLn.Addr().String(), nil
	}
	if port == "25" {
		s.mu.Lock()
		mx := s.mxHosts[host]
		s.mu.Unlock()
		if mx != nil {
			return mx.Addr(), nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrNotServed, addr)
}

// DNSAddr returns the DNS server's address, "127.0.0.1:port", for UDP and
// TCP.
func (s *Server) DNSAddr() string { return s.dnsAddr }

// PolicyAddr returns the address of the HTTPS listener that serves every
// policy host.
func (s *Server) PolicyAddr() string { return s.policyLn.Addr().String() }

// CA returns the harness CA's certificate, which issues the policy and MX
// hosts' certificates.
func (s *Server) CA() *x509.Certificate { return s.ca.Certificate() }

// RootCAs returns a new pool holding only the harness CA.
func (s *Server) RootCAs() *x509.CertPool { return s.ca.Pool() }

// CertPEM returns the harness CA's certificate in PEM form.
func (s *Server) CertPEM() []byte { return s.ca.CertPEM() }

// Queries returns how many DNS queries for name (trailing dot optional,
// any case) and rrtype ("TXT", "MX", ...) the server has received.
func (s *Server) Queries(name, rrtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[rrKey{fqdn(name), dns.StringToType[strings.ToUpper(rrtype)]}]
}

// TotalQueries returns how many DNS queries the server has received.
func (s *Server) TotalQueries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totalQueries
}

// Fetches returns how many HTTPS requests the policy host of domain has
// received (whatever their path or outcome, once the TLS handshake was
// done).
func (s *Server) Fetches(domain string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[normName(domain)]
}

// TotalFetches returns how many HTTPS requests all policy hosts have
// received.
func (s *Server) TotalFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totalFetches
}

// TCPQueries returns how many of the DNS queries the server has received
// came over TCP; the others came over UDP.
func (s *Server) TCPQueries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpQueries
}

// ResetCounters sets all query and fetch counters to zero.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.queries)
	clear(s.fetches)
	s.totalQueries, s.tcpQueries, s.totalFetches = 0, 0, 0
}

// normName returns name lower case without a trailing dot.
func normName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// fqdn returns name lower case with a trailing dot.
func fqdn(name string) string { return normName(name) + "." }
