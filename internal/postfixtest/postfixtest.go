package postfixtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/testproc"
)

// EnvVar is the environment variable that enables tests against a real
// Postfix.
const EnvVar = "STRICTMX_TEST_POSTFIX"

// Programs Start runs: Postfix's own commands (Debian package postfix),
// looked up in PATH and then in Debian's command_directory.
const (
	postfixBinary  = "postfix"
	postconfBinary = "postconf"
	commandDir     = "/usr/sbin"
)

// Limits on starting and stopping a server.
const (
	// startAttempts bounds the retries when the chosen port was taken
	// between picking it and the master daemon binding it.
	startAttempts = 5
	// readyTimeout bounds the wait for the greeting, per attempt.
	readyTimeout = 20 * time.Second
	// stopTimeout bounds the wait for the master daemon to exit after
	// SIGTERM; its process group is then killed.
	stopTimeout = 10 * time.Second
)

// Config is how Start runs Postfix.
type Config struct {
	// Hostname is myhostname: the name in the greeting and the EHLO
	// reply. Empty means "localhost".
	Hostname string
	// Domains are accepted from any client (relay_domains). Mail from
	// loopback is relayed whatever its domain.
	Domains []string
	// RelayHost is the "127.0.0.1:port" every accepted message is
	// relayed to (relayhost, without MX lookup); required.
	RelayHost string
	// Certificate, if set, is presented after STARTTLS (the leaf, then
	// the rest of its chain); nil means STARTTLS is not offered.
	Certificate *tls.Certificate
}

// Server is a running Postfix.
type Server struct {
	// Addr is the smtpd listener, "127.0.0.1:port".
	Addr string
	// Dir holds the configuration, queue, data and log; it is removed
	// when the test ends.
	Dir string

	conf, logFile string
	proc          *testproc.Process
}

// Start runs Postfix as cfg says on a free 127.0.0.1 port for the rest of
// the test. It skips the test unless STRICTMX_TEST_POSTFIX=1, and fails it
// when Postfix is missing, the test is not root, or Postfix does not
// greet in time. Postfix is stopped and its directory removed when the
// test ends, whether it passed or not.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if os.Getenv(EnvVar) != "1" {
		t.Skip("set " + EnvVar + "=1 to run tests against a real Postfix")
	}
	if _, _, err := net.SplitHostPort(cfg.RelayHost); err != nil {
		t.Fatalf("postfixtest: Config.RelayHost %q: %v", cfg.RelayHost, err)
	}
	postfix, err := lookPath(postfixBinary)
	if err != nil {
		t.Fatalf("postfixtest: %s=1 but %s is not installed (Debian package postfix): %v", EnvVar, postfixBinary, err)
	}
	postconf, err := lookPath(postconfBinary)
	if err != nil {
		t.Fatalf("postfixtest: %s=1 but %s is not installed (Debian package postfix): %v", EnvVar, postconfBinary, err)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("postfixtest: %s=1 but Postfix's master daemon must run as root", EnvVar)
	}
	owner, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("postfixtest: the postfix user (made by the Debian package): %v", err)
	}
	uid, _ := strconv.Atoi(owner.Uid)
	daemonDir, err := exec.Command(postconf, "-d", "-h", "daemon_directory").Output()
	if err != nil {
		t.Fatalf("postfixtest: %s -d -h daemon_directory: %v", postconf, err)
	}
	master := filepath.Join(strings.TrimSpace(string(daemonDir)), "master")

	// Not t.TempDir: Postfix's daemons, running as the postfix user,
	// open files in the data directory by absolute path, so every
	// directory above it must be searchable by that user.
	dir, err := os.MkdirTemp("", "postfixtest-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, conf: filepath.Join(dir, "conf"), logFile: filepath.Join(dir, "maillog")}
	t.Cleanup(func() {
		s.stop(t)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("postfixtest: remove %s: %v", dir, err)
		}
	})
	if err := s.prepare(cfg, uid); err != nil {
		t.Fatal(err)
	}
	var errs []error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := s.configure(cfg, port); err != nil {
			t.Fatal(err)
		}
		// "postfix check" makes the queue directories with the owners
		// and modes Postfix wants, from a fresh config each attempt.
		if out, err := exec.Command(postfix, "-c", s.conf, "check").CombinedOutput(); err != nil {
			t.Fatalf("postfixtest: %s -c %s check: %v: %s%s", postfix, s.conf, err, out, s.Log())
		}
		err = s.run(master)
		if err == nil {
			return s
		}
		errs = append(errs, err)
	}
	t.Fatalf("postfixtest: could not start %s in %d attempts: %v", master, startAttempts, errors.Join(errs...))
	return nil
}

// prepare makes the directories and writes the certificate.
func (s *Server) prepare(cfg Config, uid int) error {
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		return err
	}
	for _, d := range []string{s.conf, filepath.Join(s.Dir, "queue"), filepath.Join(s.Dir, "data")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.Chown(filepath.Join(s.Dir, "data"), uid, -1); err != nil {
		return err
	}
	if cfg.Certificate == nil {
		return nil
	}
	var chain []byte
	for _, der := range cfg.Certificate.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cfg.Certificate.PrivateKey)
	if err != nil {
		return fmt.Errorf("postfixtest: certificate key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.conf, "cert.pem"), chain, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.conf, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
}

// configure writes main.cf and master.cf for a listener on port.
func (s *Server) configure(cfg Config, port int) error {
	host := cfg.Hostname
	if host == "" {
		host = "localhost"
	}
	relayHost, relayPort, _ := net.SplitHostPort(cfg.RelayHost)
	main := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(s.Dir, "queue"),
		"data_directory = " + filepath.Join(s.Dir, "data"),
		"mail_owner = postfix",
		"maillog_file = " + s.logFile,
		"maillog_file_prefixes = " + s.Dir,
		"myhostname = " + host,
		"mydomain = " + host,
		"myorigin = " + host,
		"mydestination =",
		"inet_interfaces = loopback-only",
		"inet_protocols = ipv4",
		"mynetworks = 127.0.0.0/8",
		"relay_domains = " + strings.Join(cfg.Domains, ", "),
		"relayhost = [" + relayHost + "]:" + relayPort,
		"smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
		"smtpd_peername_lookup = no",
		"smtp_dns_support_level = disabled",
		"smtp_host_lookup = native",
		"alias_maps =",
		"alias_database =",
		"local_recipient_maps =",
		"append_dot_mydomain = no",
		"biff = no",
		// A token of this run in the greeting, so that a server someone
		// else started on the same port is never taken for ours.
		"smtpd_banner = $myhostname ESMTP postfixtest-" + token(),
		"smtpd_tls_loglevel = 1",
		"smtpd_tls_received_header = yes",
	}
	if cfg.Certificate != nil {
		main = append(main,
			"smtpd_tls_security_level = may",
			"smtpd_tls_chain_files = "+filepath.Join(s.conf, "key.pem")+", "+filepath.Join(s.conf, "cert.pem"),
		)
	} else {
		main = append(main, "smtpd_tls_security_level = none")
	}
	if err := os.WriteFile(filepath.Join(s.conf, "main.cf"), []byte(strings.Join(main, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	// Only the services a relay needs, none chrooted.
	services := []string{
		"127.0.0.1:" + strconv.Itoa(port) + " inet n - n - - smtpd",
		"pickup unix n - n 60 1 pickup",
		"cleanup unix n - n - 0 cleanup",
		"qmgr unix n - n 300 1 qmgr",
		"tlsmgr unix - - n 1000? 1 tlsmgr",
		"rewrite unix - - n - - trivial-rewrite",
		"bounce unix - - n - 0 bounce",
		"defer unix - - n - 0 bounce",
		"trace unix - - n - 0 bounce",
		"verify unix - - n - 1 verify",
		"flush unix n - n 1000? 0 flush",
		"proxymap unix - - n - - proxymap",
		"smtp unix - - n - - smtp",
		"relay unix - - n - - smtp",
		"showq unix n - n - - showq",
		"error unix - - n - - error",
		"retry unix - - n - - error",
		"discard unix - - n - - discard",
		"anvil unix - - n - 1 anvil",
		"scache unix - - n - 1 scache",
		"postlog unix-dgram n - n - 1 postlogd",
	}
	return os.WriteFile(filepath.Join(s.conf, "master.cf"), []byte(strings.Join(services, "\n")+"\n"), 0o644)
}

// run starts the master daemon and waits for its greeting. On failure it
// has already stopped the daemon.
func (s *Server) run(master string) error {
	banner, err := s.banner()
	if err != nil {
		return err
	}
	// -s keeps stdout and stderr (early fatal errors); the daemon makes
	// itself a session and process group leader, its children join the
	// group, and stop kills the group.
	p, err := testproc.Start(exec.Command(master, "-c", s.conf, "-s"))
	if err != nil {
		return fmt.Errorf("postfixtest: start %s: %w", master, err)
	}
	out := p.Out
	s.proc = p

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		greeting, err := greet(ctx, s.Addr)
		if err == nil {
			if strings.Contains(greeting, banner) {
				return nil
			}
			s.kill()
			return fmt.Errorf("postfixtest: another server holds %s: %q", s.Addr, greeting)
		}
		select {
		case <-p.Exited():
			s.proc = nil
			return fmt.Errorf("postfixtest: %s on %s exited: %v: %s%s", master, s.Addr, p.Err(), out.String(), s.Log())
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("postfixtest: %s on %s did not greet within %v: %s%s", master, s.Addr, readyTimeout, out.String(), s.Log())
		case <-tick.C:
		}
	}
}

// banner returns the token of smtpd_banner in main.cf.
func (s *Server) banner() (string, error) {
	data, err := os.ReadFile(filepath.Join(s.conf, "main.cf"))
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "smtpd_banner = "); ok {
			f := strings.Fields(v)
			return f[len(f)-1], nil
		}
	}
	return "", errors.New("postfixtest: main.cf has no smtpd_banner")
}

// stop ends the master daemon: SIGTERM, which it passes on to its
// children, then SIGKILL to its process group if it has not exited within
// stopTimeout.
func (s *Server) stop(t testing.TB) {
	p := s.proc
	if p == nil {
		return
	}
	if !p.Terminate(stopTimeout) {
		t.Errorf("postfixtest: master (pid %d) did not exit within %v of SIGTERM; killing its process group", p.Cmd.Process.Pid, stopTimeout)
	}
	s.kill()
}

// kill sends SIGKILL to the master daemon's process group, which holds
// only the daemon and its children, and waits for the daemon.
func (s *Server) kill() {
	p := s.proc
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	_ = p.Cmd.Process.Kill()
	<-p.Exited()
	s.proc = nil
}

// Log returns Postfix's log so far (maillog_file), for failure messages.
func (s *Server) Log() string {
	data, err := os.ReadFile(s.logFile)
	if err != nil {
		return ""
	}
	return "\npostfix log:\n" + string(data)
}

// greet connects to addr and returns the first line of its greeting.
func greet(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(line, "220") {
		return "", fmt.Errorf("postfixtest: greeting %q", line)
	}
	c.Write([]byte("QUIT\r\n"))
	return line, nil
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return exec.LookPath(filepath.Join(commandDir, name))
}

func token() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort is testproc.FreePort with this package's error prefix.
func freePort() (int, error) {
	port, err := testproc.FreePort()
	if err != nil {
		return 0, fmt.Errorf("postfixtest: find a free port: %w", err)
	}
	return port, nil
}
