package reporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
)

// Scheduler defaults.
const (
	// DefaultMaxDelay bounds the random delay after the end of a day
	// before its reports are sent (RFC 8460, Section 4.1 asks that reports
	// be delivered after some delay).
	DefaultMaxDelay = 4 * time.Hour
	// DefaultRetryFor is how long after the first attempt failures are
	// retried.
	DefaultRetryFor = 24 * time.Hour
	// DefaultInitialBackoff is the wait after the first failed attempt;
	// each further failure doubles it.
	DefaultInitialBackoff = 5 * time.Minute
	// DefaultPollInterval is how often Run looks for due reports.
	DefaultPollInterval = time.Minute
	// DefaultConcurrency is how many reports a Scheduler works on at
	// once: sending one takes a DNS lookup and a connection, so a large
	// sender's tens of thousands of daily reports need several at a time
	// to leave within the delay window.
	DefaultConcurrency = 8
	// keepDone is how long the state of a finished report is kept, so
	// that counts flushed late for its day are not sent again.
	keepDone = 72 * time.Hour
	// lockTTL bounds one instance's hold on a report while it sends;
	// attemptTimeout, shorter, bounds the attempt itself so that the lock
	// cannot expire under a slow send (which would let another instance
	// send the report too).
	lockTTL        = time.Hour
	attemptTimeout = 45 * time.Minute
	// bookkeepingTimeout bounds the Store writes that record an outcome.
	bookkeepingTimeout = 30 * time.Second
	// MaxRUAs bounds how many rua URIs of one record are tried, so that a
	// hostile record cannot make the sender mail a list.
	MaxRUAs = 10
)

// Hooks are optional callbacks for metrics and logs, like
// httptrace.ClientTrace. They must not block or do I/O, and may be called
// concurrently.
type Hooks struct {
	// Sent is called when uri accepted the report for k.
	Sent func(k tlsrpt.Key, uri string)
	// Failed is called when one delivery attempt to uri failed.
	Failed func(k tlsrpt.Key, uri string, err error)
	// Retried is called when no rua accepted the report and another
	// attempt is scheduled at next.
	Retried func(k tlsrpt.Key, attempt int, next time.Time)
	// Dropped is called when k's data will not be reported: no record,
	// retries exhausted, or an all-success report with heartbeats off.
	Dropped func(k tlsrpt.Key, reason error)
}

// Why a report was dropped (passed to Hooks.Dropped).
var (
	// ErrGaveUp: no rua accepted the report within RetryFor.
	ErrGaveUp = errors.New("reporter: retries exhausted")
	// ErrHeartbeatOff: all sessions succeeded and SkipAllSuccess is set.
	ErrHeartbeatOff = errors.New("reporter: all-success report not sent")
)

// Scheduler sends the daily reports of what a Store holds (RFC 8460,
// Sections 4.1 and 5). Run it with Run; it starts no goroutine otherwise.
//
// Day D is sent after D ends plus a random delay, to every rua of the
// record looked up again at send time. A report is delivered once any rua
// accepts it (all are tried). Failures are retried with exponential
// backoff for RetryFor, with the same report-id and the same bytes. All
// progress is kept in the Store first, so a restart neither loses nor
// duplicates a report (a crash between a rua accepting and the Store
// recording it can send that one report again: delivery is at least once).
// With a shared Store (RedisStore) exactly one instance sends each report.
type Scheduler struct {
	// Store holds counts and progress; required.
	Store tlsrpt.Store
	// OrganizationName for reports; required.
	OrganizationName string
	// ContactInfo is the report contact addr-spec; its domain is the
	// submitter. Required.
	ContactInfo string
	// From is the From and envelope sender address of report mail;
	// empty means ContactInfo.
	From string
	// DKIM signs report mail for the submitter domain; nil means mail
	// is sent unsigned (most receivers then discard it).
	DKIM *DKIM
	// Mailer sends reports to mailto: rua URIs; nil means such URIs
	// fail.
	Mailer Mailer
	// HTTPClient posts to https: rua URIs; nil means the client of
	// NewHTTPClient, resolving with Resolver when it resolves addresses
	// too (*resolver.Stub does): no redirects, no proxy, only globally
	// reachable addresses. For a proxy or a private collector, set a
	// client made by NewHTTPClient with those options.
	HTTPClient *http.Client
	// Resolver looks up `_smtp._tls` records; nil means a
	// *resolver.Stub reading /etc/resolv.conf.
	Resolver tlsrpt.Resolver
	// MaxDelay bounds the random delay after the end of a day; zero
	// means DefaultMaxDelay, negative means no delay.
	MaxDelay time.Duration
	// RetryFor bounds retries after the first attempt; zero means
	// DefaultRetryFor.
	RetryFor time.Duration
	// InitialBackoff is the first retry wait; zero means
	// DefaultInitialBackoff.
	InitialBackoff time.Duration
	// PollInterval between looks at the Store; zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// Concurrency bounds the reports worked on at once; zero means
	// DefaultConcurrency.
	Concurrency int
	// SkipAllSuccess turns off the heartbeat: reports in which every
	// session succeeded are not sent.
	SkipAllSuccess bool
	// Owner names this instance for the send lock; empty means a random
	// name chosen on first use.
	Owner string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand returns random numbers for delays and report ids; nil means
	// math/rand/v2. It may be called concurrently.
	Rand func() uint64
	// Hooks for metrics; all optional.
	Hooks Hooks
	// Logger; nil means discard.
	Logger *slog.Logger

	ownerOnce sync.Once
	ownerName string
	httpOnce  sync.Once
	http      *http.Client
}

// httpClient returns HTTPClient or the default client, made once.
func (s *Scheduler) httpClient() *http.Client {
	if s.HTTPClient != nil {
		return s.HTTPClient
	}
	s.httpOnce.Do(func() {
		var o HTTPOptions
		if r, ok := s.Resolver.(interface {
			LookupNetIP(context.Context, string, string) ([]netip.Addr, error)
		}); ok {
			o.Resolver = r
		}
		s.http = NewHTTPClient(o)
	})
	return s.http
}

// jobState is a report's progress, kept in the Store as JSON.
type jobState struct {
	Due      time.Time `json:"due"`                 // next attempt
	ReportID string    `json:"report_id,omitempty"` // fixed at first attempt
	Unique   string    `json:"unique,omitempty"`
	Gzip     []byte    `json:"gzip,omitempty"`
	First    time.Time `json:"first,omitzero"` // first attempt
	Attempts int       `json:"attempts,omitempty"`
	// Messages holds the signed message per mailto: address, built once
	// so that retries send the same bytes.
	Messages map[string][]byte `json:"messages,omitempty"`
	Done     bool              `json:"done,omitempty"`
	Outcome  string            `json:"outcome,omitempty"`
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scheduler) rand() uint64 {
	if s.Rand != nil {
		return s.Rand()
	}
	return rand.Uint64()
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Scheduler) owner() string {
	s.ownerOnce.Do(func() {
		s.ownerName = s.Owner
		if s.ownerName == "" {
			s.ownerName = "scheduler-" + strconv.FormatUint(s.rand(), 36)
		}
	})
	return s.ownerName
}

func (s *Scheduler) maxDelay() time.Duration {
	switch {
	case s.MaxDelay < 0:
		return 0
	case s.MaxDelay == 0:
		return DefaultMaxDelay
	}
	return s.MaxDelay
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Run sends due reports every PollInterval until ctx ends. Like every Run
// in this module it blocks until ctx ends and then returns nil; it returns
// an error at once, wrapping ErrConfig, when the Scheduler cannot run.
func (s *Scheduler) Run(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	s.owner()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.logger().Warn("reporter: scheduler pass failed", "err", err)
		}
		t.Reset(orDefault(s.PollInterval, DefaultPollInterval))
	}
}

func (s *Scheduler) check() error {
	if s.Store == nil || s.OrganizationName == "" {
		return fmt.Errorf("%w: Scheduler needs Store and OrganizationName", ErrConfig)
	}
	if _, err := tlsrpt.ContactDomain(s.ContactInfo); err != nil {
		return fmt.Errorf("%w: ContactInfo: %w", ErrConfig, err)
	}
	return nil
}

// RunOnce makes one pass over the Store: schedules finished days, sends
// what is due, retries what failed, forgets what is done. It works on at
// most Concurrency keys at a time, as Store.Keys yields them, so that its
// memory does not grow with the number of keys; a key that Keys yields
// again while it is being worked on is skipped. It returns the error of
// Keys, if any, and those of the first 16 keys that failed, with the
// number of the others.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	n := s.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	sem := make(chan struct{}, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		errs     []error
		failed   int
		inFlight = make(map[tlsrpt.Key]bool, n) // at most n keys
	)
	var keysErr error
	for k, err := range s.Store.Keys(ctx) {
		if err != nil {
			keysErr = err
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		again := inFlight[k]
		inFlight[k] = true
		mu.Unlock()
		if again {
			<-sem
			continue
		}
		wg.Go(func() {
			err := s.step(ctx, k)
			mu.Lock()
			delete(inFlight, k)
			if err != nil {
				if failed++; len(errs) < maxPassErrors {
					errs = append(errs, fmt.Errorf("%s: %w", k, err))
				}
			}
			mu.Unlock()
			<-sem
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if failed > len(errs) {
		errs = append(errs, fmt.Errorf("reporter: %d more keys failed", failed-len(errs)))
	}
	return errors.Join(append([]error{keysErr}, errs...)...)
}

// maxPassErrors bounds the errors of single keys that RunOnce returns, so
// that a Store failing for every key of a large pass does not make an
// error as large as the pass.
const maxPassErrors = 16

func (s *Scheduler) loadState(ctx context.Context, k tlsrpt.Key) (*jobState, error) {
	b, err := s.Store.State(ctx, k)
	if err != nil || b == nil {
		return nil, err
	}
	var st jobState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: state of %s: %w", tlsrpt.ErrCorruptStore, k, err)
	}
	return &st, nil
}

func (s *Scheduler) saveState(ctx context.Context, k tlsrpt.Key, st *jobState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.Store.SetState(ctx, k, b)
}

// step advances one key.
func (s *Scheduler) step(ctx context.Context, k tlsrpt.Key) error {
	now := s.now()
	dayOver := k.Day.End().Add(time.Second)
	if now.Before(dayOver) {
		return nil // the day is not over
	}
	st, err := s.loadState(ctx, k)
	if err != nil {
		return err
	}
	if st == nil {
		if now.Sub(dayOver) > keepDone {
			// Counts for a long-gone day with no progress: too late.
			return s.Store.Delete(ctx, k)
		}
		var delay time.Duration
		if d := s.maxDelay(); d > 0 {
			delay = time.Duration(s.rand() % uint64(d))
		}
		st = &jobState{Due: dayOver.Add(delay)}
		return s.saveState(ctx, k, st)
	}
	if st.Done {
		if now.Sub(dayOver) > keepDone {
			return s.Store.Delete(ctx, k)
		}
		return nil
	}
	if now.Before(st.Due) {
		return nil
	}
	ok, err := s.Store.Lock(ctx, k, s.owner(), lockTTL)
	if err != nil || !ok {
		return err
	}
	defer s.Store.Unlock(context.WithoutCancel(ctx), k, s.owner())
	// Another instance may have progressed before we got the lock.
	if st, err = s.loadState(ctx, k); err != nil || st == nil || st.Done || now.Before(st.Due) {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	return s.attempt(actx, k, st, now)
}

// finish marks k done and records why, in one Store write. The day's
// counts stay until the marker expires (keepDone after the day), when step
// deletes both together: a process that dies at any point of finish
// leaves either no marker (and nothing was deleted, so the attempt is
// made again) or the marker, so that counts flushed later for the day are
// never reported a second time.
func (s *Scheduler) finish(ctx context.Context, k tlsrpt.Key, st *jobState, outcome string, dropped error) error {
	// Record the outcome even if the attempt's deadline just passed: a
	// delivered report whose outcome is lost would be sent again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	st.Done, st.Outcome = true, outcome
	st.Gzip, st.Messages = nil, nil
	if err := s.saveState(ctx, k, st); err != nil {
		return err
	}
	if dropped != nil && s.Hooks.Dropped != nil {
		s.Hooks.Dropped(k, dropped)
	}
	return nil
}

func (s *Scheduler) attempt(ctx context.Context, k tlsrpt.Key, st *jobState, now time.Time) error {
	submitter, _ := tlsrpt.ContactDomain(s.ContactInfo)
	// built is the report this attempt made, if it made it; a retry
	// reads it back from st.Gzip only when a new message must be built.
	var built *tlsrpt.Report
	var agg *tlsrpt.Aggregate
	if st.Gzip == nil {
		var err error
		if agg, err = s.Store.Load(ctx, k); err != nil {
			return err
		}
		if agg == nil {
			return s.finish(ctx, k, st, "empty", nil)
		}
		failures := false
		for _, p := range agg.Policies {
			failures = failures || p.Summary.TotalFailureSessionCount > 0
		}
		if !failures && s.SkipAllSuccess {
			return s.finish(ctx, k, st, "heartbeat-off", ErrHeartbeatOff)
		}
	}
	// The record is looked up before the report is built: most domains
	// publish none (all the no-policy-found ones that never asked for
	// reports), and for them the attempt ends here, at the cost of one
	// query and one state write.
	rec, lookupErr := tlsrpt.Lookup(ctx, s.Resolver, k.Domain)
	if lookupErr != nil && !errors.Is(lookupErr, tlsrpt.ErrDNSTemporary) {
		// NXDOMAIN, NODATA or no usable record: the domain takes no
		// reports for this day.
		s.logger().Debug("reporter: no report record", "domain", k.Domain, "err", lookupErr)
		return s.finish(ctx, k, st, "no-record", lookupErr)
	}
	if st.Gzip == nil {
		st.Unique = strconv.FormatUint(s.rand(), 36)
		st.ReportID = tlsrpt.NewReportID(k, submitter, s.rand())
		r, err := tlsrpt.BuildReport(agg, s.OrganizationName, s.ContactInfo, st.ReportID)
		if err != nil {
			return s.finish(ctx, k, st, "invalid: "+err.Error(), err)
		}
		js, err := r.Marshal()
		if err != nil {
			return s.finish(ctx, k, st, "invalid: "+err.Error(), err)
		}
		if st.Gzip, err = tlsrpt.Gzip(js); err != nil {
			return err
		}
		built = r
		st.First = now
		// Fix the bytes in the Store before anything leaves.
		if err := s.saveState(ctx, k, st); err != nil {
			return err
		}
	}
	var delivered []string
	var lastErr error
	switch {
	case lookupErr != nil: // tlsrpt.ErrDNSTemporary: retried
		lastErr = lookupErr
	default:
		report := func() (*tlsrpt.Report, error) {
			if built == nil {
				var err error
				if built, err = storedReport(st.Gzip); err != nil {
					return nil, err
				}
			}
			return built, nil
		}
		ruas := rec.RUA
		if len(ruas) > MaxRUAs {
			ruas = ruas[:MaxRUAs]
		}
		for _, uri := range ruas {
			if err := s.deliver(ctx, k, st, report, submitter, uri, now); err != nil {
				if errors.Is(err, tlsrpt.ErrCorruptStore) {
					return s.finish(ctx, k, st, "corrupt", err)
				}
				lastErr = err
				s.logger().Debug("reporter: delivery failed", "domain", k.Domain, "uri", uri, "err", err)
				if s.Hooks.Failed != nil {
					s.Hooks.Failed(k, uri, err)
				}
				continue
			}
			delivered = append(delivered, uri)
			if s.Hooks.Sent != nil {
				s.Hooks.Sent(k, uri)
			}
		}
	}
	if len(delivered) > 0 {
		s.logger().Debug("reporter: report sent", "domain", k.Domain, "day", k.Day.String(), "to", strings.Join(delivered, " "))
		return s.finish(ctx, k, st, "sent", nil)
	}
	st.Attempts++
	retryFor := orDefault(s.RetryFor, DefaultRetryFor)
	backoff := orDefault(s.InitialBackoff, DefaultInitialBackoff)
	for i := 1; i < st.Attempts && backoff < retryFor; i++ {
		backoff *= 2
	}
	next := now.Add(backoff)
	if deadline := st.First.Add(retryFor); !next.Before(deadline) {
		if !now.Before(deadline) {
			s.logger().Warn("reporter: report not delivered, giving up", "domain", k.Domain, "day", k.Day.String(), "err", lastErr)
			return s.finish(ctx, k, st, "gave-up", fmt.Errorf("%w: %w", ErrGaveUp, lastErr))
		}
		next = deadline // one last attempt at the end of the window
	}
	st.Due = next
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	if err := s.saveState(sctx, k, st); err != nil {
		return err
	}
	if s.Hooks.Retried != nil {
		s.Hooks.Retried(k, st.Attempts, next)
	}
	return nil
}

func (s *Scheduler) deliver(ctx context.Context, k tlsrpt.Key, st *jobState, report func() (*tlsrpt.Report, error), submitter, uri string, now time.Time) error {
	switch {
	case strings.HasPrefix(uri, "https://"):
		return PostReport(ctx, s.httpClient(), uri, st.Gzip)
	case strings.HasPrefix(uri, "mailto:"):
		if s.Mailer == nil {
			return &SendError{URI: uri, Err: fmt.Errorf("%w: no Mailer", ErrConfig)}
		}
		to := strings.TrimPrefix(uri, "mailto:")
		from := s.From
		if from == "" {
			from = s.ContactInfo
		}
		msg := st.Messages[to]
		if msg == nil {
			r, err := report()
			if err != nil {
				return &SendError{URI: uri, Err: err}
			}
			m := &Message{
				From: from, To: to, Report: r, Gzip: st.Gzip,
				FileName:  tlsrpt.FileName(submitter, k.Domain, r.DateRange, st.Unique),
				Date:      now,
				MessageID: strconv.FormatUint(s.rand(), 36) + "." + st.ReportID,
			}
			if msg, err = m.Build(s.DKIM); err != nil {
				return &SendError{URI: uri, Err: err}
			}
			if st.Messages == nil {
				st.Messages = map[string][]byte{}
			}
			st.Messages[to] = msg
			if err := s.saveState(ctx, k, st); err != nil {
				return err
			}
		}
		if err := s.Mailer.Send(ctx, from, to, msg); err != nil {
			return &SendError{URI: uri, Err: err}
		}
		return nil
	}
	return &SendError{URI: uri, Err: ErrUnsupportedURI}
}

// storedReport reads back a report this Scheduler built and saved, for a
// message to an address that a retry finds new. The bytes are its own, so
// they must read back exactly: the report is decoded, validated and encoded
// again, and anything but the same JSON is ErrCorruptStore.
func storedReport(gz []byte) (*tlsrpt.Report, error) {
	r, err := tlsrpt.ParseReport(gz)
	if err != nil {
		return nil, fmt.Errorf("%w: saved report: %w", tlsrpt.ErrCorruptStore, err)
	}
	js, err := r.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: saved report: %w", tlsrpt.ErrCorruptStore, err)
	}
	again, err := tlsrpt.Gzip(js)
	if err != nil || !bytes.Equal(again, gz) {
		return nil, fmt.Errorf("%w: saved report does not read back exactly", tlsrpt.ErrCorruptStore)
	}
	return r, nil
}
