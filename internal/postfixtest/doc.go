// Package postfixtest runs a real Postfix for a test: Debian's postfix
// package, started as a child of the test from a throwaway configuration
// and queue directory, listening on a free 127.0.0.1 port. It is the
// receiving MX (with its own STARTTLS certificate, or none) and the relay
// that strictmx's tests put between a sender and a recording SMTP server.
//
// Tests that use it are skipped unless STRICTMX_TEST_POSTFIX=1 (.ci/run
// installs postfix and sets it). Postfix's master daemon must run as root,
// so the tests need root as well.
//
// It does not touch the system's mail configuration: main.cf and
// master.cf, the queue, the data directory and the log (maillog_file) are
// all in one directory made for the test and removed when it ends. The
// default configuration directory (/etc/postfix) is read only for the
// package's own files (postfix-files, used by "postfix check").
//
// Every message Postfix accepts is relayed to Config.RelayHost, a
// loopback SMTP server of the test (tlsrpttest.SMTPServer), so that what
// arrived can be inspected; nothing is delivered locally.
//
// # Security
//
// Postfix listens on 127.0.0.1 only (inet_interfaces = loopback-only) and
// relays only to the configured loopback address, with DNS lookups off.
//
// # Testing
//
// The package's own test starts a server and relays one message through
// it; the tests of examples/sender and examples/tlsrpt-reporter use it as
// an MX host and as a relay.
package postfixtest
