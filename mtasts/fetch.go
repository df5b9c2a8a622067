package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/strictmx/strictmx/internal/dialguard"
)

// maxResponseHeaderBytes bounds the headers of a policy response, so that a
// hostile policy host cannot make a fetch read megabytes of headers.
const maxResponseHeaderBytes = 16 << 10

// PolicyURL returns the address a policy for domain is fetched from
// (RFC 8461, Section 3.2). domain must already be normalised.
func PolicyURL(domain string) string {
	return "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
}

// httpClient returns the client for policy fetches: the caller's (with
// redirects refused) or the built-in hardened one.
func (c *Client) httpClient() *http.Client {
	c.init()
	return c.http
}

// newHTTPClient makes the client for policy fetches; init calls it, once
// c.res is set.
func (c *Client) newHTTPClient() *http.Client {
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.HTTPClient != nil {
		hc := *c.HTTPClient
		hc.CheckRedirect = noRedirect
		return &hc
	}
	dial := c.DialContext
	if dial == nil {
		// The policy host's name resolves through the Client's resolver
		// when it resolves addresses too (*resolver.Stub does), and a
		// refused address is never connected to.
		d := &dialguard.Dialer{Class: ErrDialGuard, AllowPrivate: c.AllowPrivate,
			Net: net.Dialer{Timeout: 30 * time.Second}}
		if r, ok := c.res.(dialguard.IPResolver); ok {
			d.Resolver = r
		}
		dial = d.DialContext
	} else if !c.AllowPrivate {
		// A caller's dialer: the peer is checked once connected.
		dial = dialguard.Dial(ErrDialGuard, dial)
	}
	return &http.Client{
		CheckRedirect: noRedirect,
		Transport: &http.Transport{
			Proxy:       c.Proxy,
			DialContext: dial,
			TLSClientConfig: &tls.Config{
				MinVersion: tls.VersionTLS12,
				RootCAs:    c.RootCAs,
			},
			TLSHandshakeTimeout:    30 * time.Second,
			DisableKeepAlives:      true, // fetches are rare and go to many hosts
			DisableCompression:     true, // the size limit applies to the bytes sent
			MaxResponseHeaderBytes: maxResponseHeaderBytes,
			ForceAttemptHTTP2:      true,
		},
	}
}

// DialGuard is a net.Dialer.Control function that refuses, before
// connecting, every address that is not globally reachable: loopback,
// private, shared, link-local, documentation, reserved, multicast,
// broadcast and unspecified addresses and the IPv6 forms that carry them,
// following the IANA special-purpose address registries. The Client's
// built-in HTTP client uses it unless AllowPrivate is set; use it in a
// dialer of your own to apply the same rule, the one every outgoing
// connection of this module follows. Errors wrap ErrDialGuard.
func DialGuard(network, address string, _ syscall.RawConn) error {
	return dialguard.Check(ErrDialGuard, address)
}

// PolicyFetch is what one policy fetch saw: for diagnostics such as a checker,
// and for logs.
type PolicyFetch struct {
	// URL is the policy URL.
	URL string
	// Status is the HTTP status code, 0 when no response came.
	Status int
	// ContentType is the Content-Type header as sent.
	ContentType string
	// Size is the number of body bytes read (at most MaxPolicySize+1).
	Size int
	// TLSVersion is the negotiated TLS version, 0 when no handshake
	// completed.
	TLSVersion uint16
	// Certificates is the chain the policy host presented, verified or
	// not.
	Certificates []*x509.Certificate
	// Duration is how long the fetch took.
	Duration time.Duration
	// Policy is the parsed policy, nil on failure.
	Policy *Policy
	// Err is the failure, wrapping ErrPolicyFetch, ErrWebPKI or
	// ErrPolicyInvalid.
	Err error
}

// FetchPolicy fetches and parses domain's policy now, bypassing the cache
// and the back-off, and reports what it saw. It does not look the
// `_mta-sts` record up and does not change the cache. The error is only
// for an invalid domain; a failed fetch is in Fetch.Err.
func (c *Client) FetchPolicy(ctx context.Context, domainName string) (*PolicyFetch, error) {
	d, err := c.start(domainName)
	if err != nil {
		return nil, err
	}
	return c.fetch(ctx, d), nil
}

// fetch fetches and parses the policy of a normalised domain
// (RFC 8461, Sections 3.2 and 3.3).
func (c *Client) fetch(ctx context.Context, domain string) *PolicyFetch {
	start := time.Now()
	f := &PolicyFetch{URL: PolicyURL(domain)}
	f.Policy, f.Err = c.get(ctx, f)
	f.Duration = time.Since(start)
	if f.Err != nil {
		f.Policy = nil
	}
	return f
}

func (c *Client) get(ctx context.Context, f *PolicyFetch) (*Policy, error) {
	ctx, cancel := context.WithTimeout(ctx, c.fetchTimeout())
	defer cancel()
	url := f.URL

	// The handshake may run on the transport's dialing goroutine, which can
	// outlive Do when ctx ends.
	var (
		mu        sync.Mutex
		hsFailed  bool
		hsVersion uint16
		hsCerts   []*x509.Certificate
	)
	trace := &httptrace.ClientTrace{
		TLSHandshakeDone: func(cs tls.ConnectionState, err error) {
			mu.Lock()
			defer mu.Unlock()
			hsFailed = err != nil
			if err == nil {
				hsVersion, hsCerts = cs.Version, cs.PeerCertificates
			}
			var verr *tls.CertificateVerificationError
			if errors.As(err, &verr) {
				hsCerts = verr.UnverifiedCertificates
			}
		},
	}
	defer func() {
		mu.Lock()
		f.TLSVersion, f.Certificates = hsVersion, hsCerts
		mu.Unlock()
	}()
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPolicyFetch, url, err)
	}
	req.Header.Set("User-Agent", c.userAgent())
	resp, err := c.httpClient().Do(req)
	if err != nil {
		var certErr *tls.CertificateVerificationError
		mu.Lock()
		failed := hsFailed
		mu.Unlock()
		if failed || errors.As(err, &certErr) {
			// RFC 8461, Sections 3.3 and 7.2: the policy host must present a
			// valid certificate over TLS 1.2 or newer.
			return nil, fmt.Errorf("%w: %s: %w", ErrWebPKI, url, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrPolicyFetch, url, err)
	}
	defer resp.Body.Close()
	f.Status = resp.StatusCode
	f.ContentType = resp.Header.Get("Content-Type")
	if resp.StatusCode != http.StatusOK {
		// Spec note: RFC 8461, Section 3.3 requires 200 and forbids
		// following redirects; every other status is a fetch error.
		return nil, fmt.Errorf("%w: %s: status %s", ErrPolicyFetch, url, strconv.Itoa(resp.StatusCode))
	}
	if err := c.checkContentType(resp.Header.Values("Content-Type")); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPolicyFetch, url, err)
	}
	if resp.ContentLength > MaxPolicySize {
		return nil, fmt.Errorf("%w: %s: body of %d bytes is over %d", ErrPolicyFetch, url, resp.ContentLength, MaxPolicySize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	f.Size = len(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading body: %w", ErrPolicyFetch, url, err)
	}
	if len(body) > MaxPolicySize {
		return nil, fmt.Errorf("%w: %s: body over %d bytes", ErrPolicyFetch, url, MaxPolicySize)
	}
	p, err := ParsePolicy(body)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, url)
	}
	return p, nil
}

var errContentType = errors.New("mtasts: policy media type is not text/plain")

// checkContentType applies RFC 8461, Section 3.2, where senders SHOULD
// check that the media type is text/plain; strictmx requires it.
// Parameters such as charset are allowed.
func (c *Client) checkContentType(values []string) error {
	switch {
	case len(values) == 0 && c.AllowMissingContentType:
		return nil
	case len(values) == 0:
		return fmt.Errorf("%w: no Content-Type", errContentType)
	case len(values) > 1:
		return fmt.Errorf("%w: %d Content-Type headers", errContentType, len(values))
	}
	mt, _, err := mime.ParseMediaType(values[0])
	if err != nil || mt != "text/plain" {
		return fmt.Errorf("%w: %.100q", errContentType, values[0])
	}
	return nil
}
