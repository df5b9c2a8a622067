package main

import (
	"time"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// demo is the offline world of --demo: one mtaststest.Server holding a
// domain per outcome.
type demo struct {
	s       *mtaststest.Server
	domains []string
}

// demoDomain is one domain of the demo world and what it shows.
type demoDomain struct {
	name  string
	setup func(d *mtaststest.Domain)
}

// tlsrptFor publishes a TLS-RPT record for d.
func tlsrptFor(d *mtaststest.Domain) {
	d.Server().TXT("_smtp._tls."+d.Name(), "v=TLSRPTv1; rua=mailto:tlsrpt@"+d.Name())
}

// daneFor signs d's zone and publishes TLSA records for port 25 of its
// MX host host, made from the host's own certificate.
func daneFor(d *mtaststest.Domain, host string, specs ...mtaststest.TLSASpec) *mtaststest.MXHost {
	d.Server().Signed(d.Name())
	return d.Server().LookupMXHost(host).PublishTLSA(0, specs...)
}

// demoDomains lists the demo world, in the order --demo checks it.
func demoDomains() []demoDomain {
	const day = 86400
	valid := mtaststest.MXConfig{}
	return []demoDomain{
		// Everything right: enforce, two MX hosts with valid certificates.
		{"enforce-ok.test", func(d *mtaststest.Domain) {
			d.Record("20261101T000000").
				Policy(mtasts.ModeEnforce, 7*day, "mx1.enforce-ok.test", "mx2.enforce-ok.test").
				MXHost(10, "mx1.enforce-ok.test", valid).
				MXHost(20, "mx2.enforce-ok.test", valid)
			tlsrptFor(d)
		}},
		// Testing mode: every certificate is bad, mail still goes out and
		// the failures are reported.
		{"testing-bad-cert.test", func(d *mtaststest.Domain) {
			d.Record("1").
				Policy(mtasts.ModeTesting, day, "*.testing-bad-cert.test").
				MXHost(10, "mx1.testing-bad-cert.test", mtaststest.MXConfig{Certificate: mtaststest.CertExpired}).
				MXHost(20, "mx2.testing-bad-cert.test", mtaststest.MXConfig{Certificate: mtaststest.CertSelfSigned}).
				MXHost(30, "mx3.testing-bad-cert.test", mtaststest.MXConfig{Certificate: mtaststest.CertWrongName})
			tlsrptFor(d)
		}},
		// Enforce, and a backup MX the policy does not list: skipped.
		{"mx-outside-policy.test", func(d *mtaststest.Domain) {
			d.Record("2").
				Policy(mtasts.ModeEnforce, day, "mx1.mx-outside-policy.test").
				MXHost(10, "mx1.mx-outside-policy.test", valid).
				MXHost(20, "backup.other-provider.test", valid)
			tlsrptFor(d)
		}},
		// Enforce, but the only MX host offers no STARTTLS: temporary
		// failure.
		{"no-starttls.test", func(d *mtaststest.Domain) {
			d.Record("3").
				Policy(mtasts.ModeEnforce, day, "mx1.no-starttls.test").
				MXHost(10, "mx1.no-starttls.test", mtaststest.MXConfig{NoSTARTTLS: true})
			tlsrptFor(d)
		}},
		// Enforce, and the MX host only speaks TLS 1.1.
		{"old-tls.test", func(d *mtaststest.Domain) {
			d.Record("4").
				Policy(mtasts.ModeEnforce, day, "mx1.old-tls.test").
				MXHost(10, "mx1.old-tls.test", mtaststest.MXConfig{TLS11Only: true})
			tlsrptFor(d)
		}},
		// No MTA-STS at all: opportunistic TLS, and not a problem.
		{"no-policy.test", func(d *mtaststest.Domain) {
			d.MXHost(10, "mx1.no-policy.test", valid)
		}},
		// A record, but the policy file does not parse.
		{"broken-policy.test", func(d *mtaststest.Domain) {
			d.Record("5").
				PolicyText("version: STSv1\r\nmode: enforcing\r\nmx: mx1.broken-policy.test\r\nmax_age: 86400\r\n").
				MXHost(10, "mx1.broken-policy.test", valid)
			tlsrptFor(d)
		}},
		// A policy that parses only thanks to leniencies: each is a
		// warning for the publisher.
		{"policy-warnings.test", func(d *mtaststest.Domain) {
			d.Record("6").
				PolicyText("version: STSv1\r\nmode: enforce\r\n\r\nmx: mx1.policy-warnings.test.\r\nmx: 192.0.2.25\r\nmax_age: 99999999\r\n").
				MXHost(10, "mx1.policy-warnings.test", valid)
			tlsrptFor(d)
		}},
		// The policy host's certificate is for another name.
		{"bad-policy-host.test", func(d *mtaststest.Domain) {
			d.Record("7").
				Policy(mtasts.ModeEnforce, day, "mx1.bad-policy-host.test").
				Certificate(mtaststest.CertWrongName).
				MXHost(10, "mx1.bad-policy-host.test", valid)
			tlsrptFor(d)
		}},
		// Two v=STSv1 records: RFC 8461, Section 3.1 makes that no record.
		{"two-records.test", func(d *mtaststest.Domain) {
			d.RecordTXT("v=STSv1; id=8", "v=STSv1; id=9").
				Policy(mtasts.ModeEnforce, day, "mx1.two-records.test").
				MXHost(10, "mx1.two-records.test", valid)
		}},
		// DANE, no MTA-STS: a signed zone and a "3 1 1" TLSA record of
		// the MX host's key. DANE alone judges the host.
		{"dane-ok.test", func(d *mtaststest.Domain) {
			d.MXHost(10, "mx1.dane-ok.test", valid)
			daneFor(d, "mx1.dane-ok.test", mtaststest.DANEEESPKISHA256)
			tlsrptFor(d)
		}},
		// DANE with a TLSA record that matches no key of the host: a
		// sender skips it, and with no other host the mail waits.
		{"dane-bad-digest.test", func(d *mtaststest.Domain) {
			d.MXHost(10, "mx1.dane-bad-digest.test", valid)
			bad := mtaststest.DANEEESPKISHA256
			bad.Mismatch = true
			daneFor(d, "mx1.dane-bad-digest.test", bad)
			tlsrptFor(d)
		}},
		// DANE and an enforce policy that does not list the host: with a
		// secure MX RRset and usable TLSA records DANE alone judges the
		// host, so the policy's mx patterns do not skip it.
		{"dane-beats-sts.test", func(d *mtaststest.Domain) {
			d.Record("10").
				Policy(mtasts.ModeEnforce, day, "mx.elsewhere.test").
				MXHost(10, "mx1.dane-beats-sts.test", valid)
			daneFor(d, "mx1.dane-beats-sts.test", mtaststest.DANEEESPKISHA256)
			tlsrptFor(d)
		}},
		// A TLSA lookup that fails DNSSEC validation (SERVFAIL): the host
		// is treated as under attack and skipped, whatever else there is.
		{"dane-bogus-tlsa.test", func(d *mtaststest.Domain) {
			d.MXHost(10, "mx1.dane-bogus-tlsa.test", valid)
			mx := daneFor(d, "mx1.dane-bogus-tlsa.test", mtaststest.DANEEESPKISHA256)
			d.Server().Bogus(mx.TLSAName(0))
			tlsrptFor(d)
		}},
	}
}

// newDemo starts the demo world. Close it with close.
func newDemo() *demo {
	s := mtaststest.NewServer(nil)
	d := &demo{s: s}
	for _, dd := range demoDomains() {
		dd.setup(s.Domain(dd.name))
		d.domains = append(d.domains, dd.name)
	}
	return d
}

func (d *demo) close() { d.s.Close() }

// checker returns a checker wired to the demo world: its DNS, its CA, and
// its dialer, which reaches the policy hosts and the MX hosts on
// loopback (so the dial guard is off).
func (d *demo) checker(o *options) *checker {
	res := d.s.Resolver()
	res.TrustAD = o.trustAD
	return &checker{
		dns:     res,
		finder:  &dane.Finder{Resolver: res}, // TLSA records for port 25
		trusted: res.Trusted(),
		client: &mtasts.Client{
			Resolver:     res,
			RootCAs:      d.s.RootCAs(),
			AllowPrivate: true,
			DialContext:  d.s.DialContext,
			FetchTimeout: o.timeout,
		},
		roots:    d.s.RootCAs(),
		dial:     d.s.DialContext,
		smtpPort: "25", // the harness routes <mx host>:25 to each host
		timeout:  o.timeout,
		noSMTP:   o.noSMTP,
		now:      time.Now,
	}
}
