// Package unboundtest runs a real validating resolver for a test: Debian's
// unbound, started as a child of the test from a throwaway configuration
// directory, listening on a free 127.0.0.1 port, and serving a small DNS
// tree signed for the test with Debian's ldns-signzone. It is how the tests
// of mtasts/resolver and of DANE delivery see the three DNSSEC states
// (secure, insecure, failed) come from a resolver that validates, rather
// than from a harness that only sets the AD bit.
//
//	func TestSomething(t *testing.T) {
//		srv := unboundtest.New(t, unboundtest.Zone{ // skips unless STRICTMX_TEST_UNBOUND=1
//			Name:    unboundtest.Signed,
//			Records: unboundtest.DANEMX("dane.test.", "mx.dane.test.", 25, spkiSHA256Hex),
//		})
//		r := &resolver.Stub{Servers: []string{srv.Addr()}} // loopback: trusted
//		...
//	}
//
// Every server serves the same tree, with the caller's records added:
//
//   - Signed ("dane.test."), signed with a key whose DS record is
//     unbound's trust anchor, holding SecureName;
//   - Child ("child.dane.test."), signed with a key of its own and
//     delegated from Signed with a DS record: a chain of trust, holding
//     ChildName;
//   - Unsigned ("insecure.dane.test."), delegated from Signed without a DS
//     record (the signed NSEC record at the delegation proves there is
//     none): answers from it are insecure, as InsecureName's;
//   - BogusName in Signed, whose signature is broken after signing: unbound
//     answers SERVFAIL for it, with an RFC 8914 extended error. Zone.Bogus
//     breaks the signatures of other names the same way.
//
// Unless the environment variable STRICTMX_TEST_UNBOUND is "1", New skips
// the test with a message naming that variable, so `go test ./...` passes
// on a machine without unbound. CI (.ci/run) installs the Debian packages
// unbound and ldnsutils and sets the variable, which makes the tests
// mandatory: with it set, a missing program fails the test instead of
// skipping it.
//
// # What it does not do
//
// It does not serve DNS itself: unbound loads the zone files as
// authority zones used for its own recursion only (auth-zone with
// for-upstream: yes and for-downstream: no), which unbound validates
// before it answers, exactly as it validates what it fetches from the
// network. It does not validate DNSSEC either: the keys are made by
// ldns-keygen, the zones signed by ldns-signzone, and the signature of a
// bogus name is broken by flipping bits of its RRSIG record's signature.
// Zones are fixed when the server starts; there is no dynamic update.
//
// # Security
//
// unbound listens on 127.0.0.1 only and never sends a query anywhere: the
// tree has a root of its own (an unsigned authority zone for "."), so
// names outside dane.test. get NXDOMAIN from it instead of a lookup on the
// internet, and outgoing queries could only leave from 127.0.0.1. The
// configuration, keys, zone files and log are in t.TempDir(); the process
// is stopped when the test ends. No system configuration (/etc/unbound) is
// read, and a system unbound, if one runs, is neither used nor touched.
//
// # Testing
//
// unbound logs validation failures (val-log-level: 2) to unbound.log in
// the server's directory; Server.Log returns it for failure messages. New
// waits a bounded time (readyTimeout) for unbound to answer, checks that
// the server answering is the one it configured (its id.server identity
// is a token of this run), and that the trust anchor works (the SOA
// record of Signed comes back secure) before it returns.
//
// This package is internal and pre-v1.
package unboundtest
