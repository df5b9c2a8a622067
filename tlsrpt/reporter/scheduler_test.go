package reporter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strictmx/strictmx/internal/testclock"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

// txtResolver serves `_smtp._tls` records; a name maps to records or an
// error.
type txtResolver struct {
	mu  sync.Mutex
	txt map[string][]string
	err map[string]error
}

func (r *txtResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.err[name]; err != nil {
		return nil, err
	}
	if v, ok := r.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// recorder collects hook calls.
type recorder struct {
	mu                    sync.Mutex
	sent, failed, retried []string
	dropped               []error
}

func (r *recorder) hooks() reporter.Hooks {
	return reporter.Hooks{
		Sent: func(k tlsrpt.Key, uri string) { r.mu.Lock(); r.sent = append(r.sent, uri); r.mu.Unlock() },
		Failed: func(k tlsrpt.Key, uri string, err error) {
			r.mu.Lock()
			r.failed = append(r.failed, uri)
			r.mu.Unlock()
		},
		Retried: func(k tlsrpt.Key, n int, next time.Time) {
			r.mu.Lock()
			r.retried = append(r.retried, next.String())
			r.mu.Unlock()
		},
		Dropped: func(k tlsrpt.Key, err error) { r.mu.Lock(); r.dropped = append(r.dropped, err); r.mu.Unlock() },
	}
}

type world struct {
	t        *testing.T
	clock    *testclock.Clock
	store    *tlsrpt.MemoryStore
	resolver *txtResolver
	mailer   *tlsrpttest.Mailer
	https    *tlsrpttest.HTTPSServer
	hooks    *recorder
	lookup   func(string) ([]string, error)
	dkim     *reporter.DKIM
	seq      atomic.Uint64
}

func newWorld(t *testing.T) *world {
	w := &world{
		t:        t,
		clock:    testclock.New(day.Start().Add(10 * time.Hour)),
		resolver: &txtResolver{txt: map[string][]string{}, err: map[string]error{}},
		mailer:   &tlsrpttest.Mailer{},
		https:    tlsrpttest.NewHTTPSServer(t),
		hooks:    &recorder{},
	}
	w.store = &tlsrpt.MemoryStore{Now: w.clock.Now}
	w.dkim, w.lookup = tlsrpttest.DKIMKey("sender.example", "s1")
	return w
}

func (w *world) scheduler() *reporter.Scheduler {
	return &reporter.Scheduler{
		Store: w.store, OrganizationName: "Sender Org", ContactInfo: "tlsrpt@sender.example",
		DKIM: w.dkim, Mailer: w.mailer, HTTPClient: w.https.ReportClient(), Resolver: w.resolver,
		MaxDelay: time.Hour, Now: w.clock.Now, Hooks: w.hooks.hooks(),
		Rand: func() uint64 { return w.seq.Add(1) * 0x9e3779b97f4a7c15 },
	}
}

// record adds sessions for domain on the test day.
func (w *world) record(domain string, ok, failed int) {
	w.t.Helper()
	var c tlsrpt.Collector
	p := tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: domain, String: []string{"version: STSv1", "mode: enforce", "mx: mx." + domain, "max_age: 86400"}, MXHost: []string{"mx." + domain}}
	for range ok {
		c.Record(tlsrpt.Result{Policy: p, Time: day.Start().Add(time.Hour)})
	}
	for range failed {
		c.Record(tlsrpt.Result{Policy: p, Time: day.Start().Add(time.Hour), ResultType: tlsrpt.ResultSTARTTLSNotSupported, MXHost: "mx." + domain})
	}
	if err := w.store.Add(context.Background(), tlsrpt.NewBatchID(), c.Drain()); err != nil {
		w.t.Fatal(err)
	}
}

// pass runs one scheduler pass at the current fake time.
func (w *world) pass(s *reporter.Scheduler) {
	w.t.Helper()
	if err := s.RunOnce(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// runUntil advances the fake clock in steps of one minute, with a pass
// each, until cond or the limit.
func (w *world) runUntil(s *reporter.Scheduler, limit time.Duration, cond func() bool) {
	w.t.Helper()
	for end := w.clock.Now().Add(limit); w.clock.Now().Before(end); w.clock.Advance(time.Minute) {
		w.pass(s)
		if cond() {
			return
		}
	}
}

func TestSchedulerRetriesSameBytes(t *testing.T) {
	w := newWorld(t)
	w.resolver.txt["_smtp._tls.example.net"] = []string{"v=TLSRPTv1; rua=" + w.https.URL + "/r"}
	w.https.Status = func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	w.record("example.net", 5, 2)
	s := w.scheduler()

	// Not during the day, not even at its last millisecond.
	w.clock.Set(day.Start().Add(24*time.Hour - time.Millisecond))
	w.pass(s)
	w.clock.Advance(time.Millisecond) // 00:00:00 the next day: scheduled, with a delay
	w.pass(s)
	if len(w.https.Posts()) != 0 {
		t.Fatal("sent before the random delay")
	}
	w.runUntil(s, 2*time.Hour, func() bool { return len(w.https.Posts()) == 1 })
	first := w.clock.Now()
	if first.Sub(day.End()) > time.Hour+time.Minute {
		t.Errorf("first attempt %v after the day, want within MaxDelay", first.Sub(day.End()))
	}
	w.runUntil(s, time.Hour, func() bool { return len(w.https.Posts()) == 2 })
	posts := w.https.Posts()
	if len(posts) != 2 || posts[0].Status != 500 || posts[1].Status != 200 {
		t.Fatalf("posts = %d", len(posts))
	}
	if !bytes.Equal(posts[0].Body, posts[1].Body) {
		t.Error("the retry sent different bytes")
	}
	if d := w.clock.Now().Sub(first); d < reporter.DefaultInitialBackoff {
		t.Errorf("retried after %v, before the backoff", d)
	}
	r, err := tlsrpt.ParseReport(posts[1].Body)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := r.Marshal()
	if err := tlsrpttest.ValidateReportJSON(js); err != nil {
		t.Error(err)
	}
	if r.Policies[0].Summary != (tlsrpt.Summary{TotalSuccessfulSessionCount: 5, TotalFailureSessionCount: 2}) {
		t.Errorf("summary = %+v", r.Policies[0].Summary)
	}
	if len(w.hooks.retried) != 1 || len(w.hooks.failed) != 1 || len(w.hooks.sent) != 1 {
		t.Errorf("hooks: %+v", w.hooks)
	}
	// Done: further passes send nothing; late counts are not resent.
	w.record("example.net", 1, 0)
	w.runUntil(s, 3*time.Hour, func() bool { return false })
	if n := len(w.https.Posts()); n != 2 {
		t.Errorf("%d posts after the report was delivered", n)
	}
	// After the retention the key is forgotten.
	w.clock.Advance(4 * 24 * time.Hour)
	w.pass(s)
	for k, err := range w.store.Keys(context.Background()) {
		t.Errorf("key left: %v, %v", k, err)
	}
}

func TestSchedulerMailAndAllRUAs(t *testing.T) {
	w := newWorld(t)
	// Three URIs: an https one that fails, two mailto (one refused).
	w.resolver.txt["_smtp._tls.example.net"] = []string{"v=TLSRPTv1; rua=" + w.https.URL + "/r,mailto:bad@example.net; rua=mailto:good@example.net"}
	w.https.Status = func(int) int { return 503 }
	w.mailer.Err = func(to string, n int) error {
		if to == "bad@example.net" {
			return errors.New("550 no")
		}
		return nil
	}
	w.record("example.net", 3, 0) // all success: the heartbeat is sent
	s := w.scheduler()
	w.clock.Set(day.End().Add(2 * time.Hour))
	w.pass(s)
	w.pass(s)
	if len(w.https.Posts()) != 1 {
		t.Errorf("https rua tried %d times", len(w.https.Posts()))
	}
	msgs := w.mailer.Messages()
	if len(msgs) != 1 || msgs[0].To != "good@example.net" || msgs[0].From != "tlsrpt@sender.example" {
		t.Fatalf("mail: %+v", msgs)
	}
	if err := tlsrpttest.ValidateMessage(msgs[0].Data, w.lookup); err != nil {
		t.Error(err)
	}
	if len(w.hooks.failed) != 2 || len(w.hooks.sent) != 1 || len(w.hooks.retried) != 0 {
		t.Errorf("hooks: %+v", w.hooks)
	}
}

func TestSchedulerRecordAtSendTime(t *testing.T) {
	w := newWorld(t)
	w.record("gone.example", 1, 1)
	w.record("flaky.example", 1, 1)
	w.resolver.err["_smtp._tls.flaky.example"] = &net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}
	s := w.scheduler()
	w.clock.Set(day.End().Add(2 * time.Hour))
	w.pass(s)
	w.pass(s)
	// NXDOMAIN: dropped. The day is finished (its counts go with the
	// marker, later) and nothing is sent for it.
	if st, _ := w.store.State(context.Background(), tlsrpt.Key{Domain: "gone.example", Day: day}); !strings.Contains(string(st), `"done":true`) {
		t.Errorf("day of a domain without record not finished: %s", st)
	}
	if len(w.hooks.dropped) != 1 || !errors.Is(w.hooks.dropped[0], tlsrpt.ErrNoRecord) {
		t.Errorf("dropped = %v", w.hooks.dropped)
	}
	// SERVFAIL: retried, then delivered once the record resolves.
	if len(w.hooks.retried) != 1 {
		t.Fatalf("retried = %v", w.hooks.retried)
	}
	w.resolver.mu.Lock()
	delete(w.resolver.err, "_smtp._tls.flaky.example")
	w.resolver.txt["_smtp._tls.flaky.example"] = []string{"v=TLSRPTv1; rua=mailto:r@flaky.example"}
	w.resolver.mu.Unlock()
	w.runUntil(s, time.Hour, func() bool { return len(w.mailer.Messages()) == 1 })
	if len(w.mailer.Messages()) != 1 {
		t.Error("not delivered after the DNS recovered")
	}
}

func TestSchedulerGivesUp(t *testing.T) {
	w := newWorld(t)
	w.resolver.txt["_smtp._tls.example.net"] = []string{"v=TLSRPTv1; rua=" + w.https.URL + "/r"}
	w.https.Status = func(int) int { return 500 }
	w.record("example.net", 0, 1)
	s := w.scheduler()
	s.MaxDelay = -1
	w.clock.Set(day.End().Add(time.Second))
	w.runUntil(s, 30*time.Hour, func() bool { return len(w.hooks.dropped) > 0 })
	posts := w.https.Posts()
	if len(w.hooks.dropped) != 1 || !errors.Is(w.hooks.dropped[0], reporter.ErrGaveUp) {
		t.Fatalf("dropped = %v", w.hooks.dropped)
	}
	// 5m, 10m, 20m, ... doubling, within 24h: about 10 attempts, all
	// the same bytes.
	if len(posts) < 8 || len(posts) > 14 {
		t.Errorf("%d attempts in 24h", len(posts))
	}
	for _, p := range posts {
		if !bytes.Equal(p.Body, posts[0].Body) {
			t.Fatal("attempts differ")
		}
	}
	if d := w.clock.Now().Sub(day.End()); d > 24*time.Hour+2*time.Minute {
		t.Errorf("gave up %v after the first attempt, want about 24h", d)
	}
}

func TestSchedulerHeartbeatOff(t *testing.T) {
	w := newWorld(t)
	w.resolver.txt["_smtp._tls.example.net"] = []string{"v=TLSRPTv1; rua=mailto:r@example.net"}
	w.record("example.net", 3, 0)
	s := w.scheduler()
	s.SkipAllSuccess = true
	w.clock.Set(day.End().Add(2 * time.Hour))
	w.pass(s)
	w.pass(s)
	if len(w.mailer.Messages()) != 0 || len(w.hooks.dropped) != 1 || !errors.Is(w.hooks.dropped[0], reporter.ErrHeartbeatOff) {
		t.Errorf("heartbeat off: %d messages, dropped %v", len(w.mailer.Messages()), w.hooks.dropped)
	}
}

// TestSchedulerRestart: a new Scheduler on the same store (a restart)
// retries with the same report and does not send a delivered one again.
func TestSchedulerRestart(t *testing.T) {
	w := newWorld(t)
	w.resolver.txt["_smtp._tls.example.net"] = []string{"v=TLSRPTv1; rua=mailto:r@example.net"}
	w.mailer.Err = func(to string, n int) error {
		if n == 1 {
			return errors.New("451 try later")
		}
		return nil
	}
	w.record("example.net", 2, 1)
	w.clock.Set(day.End().Add(2 * time.Hour))
	s1 := w.scheduler()
	w.pass(s1)
	w.pass(s1) // first attempt fails
	if len(w.hooks.retried) != 1 {
		t.Fatalf("retried = %v", w.hooks.retried)
	}
	s2 := w.scheduler() // restart
	w.seq.Store(1000)   // a restarted process draws other random numbers
	w.runUntil(s2, time.Hour, func() bool { return len(w.mailer.Messages()) == 1 })
	msgs := w.mailer.Messages()
	if len(msgs) != 1 {
		t.Fatal("not delivered after restart")
	}
	if err := tlsrpttest.ValidateMessage(msgs[0].Data, w.lookup); err != nil {
		t.Error(err)
	}
	s3 := w.scheduler()
	w.runUntil(s3, time.Hour, func() bool { return false })
	if len(w.mailer.Messages()) != 1 {
		t.Error("delivered twice after restart")
	}
}

// TestSchedulerFleet: several schedulers sharing one store send each
// report exactly once.
func TestSchedulerFleet(t *testing.T) {
	w := newWorld(t)
	w.resolver.txt["_smtp._tls.example.net"] = []string{"v=TLSRPTv1; rua=mailto:r@example.net"}
	w.record("example.net", 2, 1)
	w.clock.Set(day.End().Add(2 * time.Hour))
	var ss []*reporter.Scheduler
	for range 4 {
		ss = append(ss, w.scheduler())
	}
	w.pass(ss[0]) // schedules
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() { s.RunOnce(context.Background()) })
	}
	wg.Wait()
	if n := len(w.mailer.Messages()); n != 1 {
		t.Errorf("%d messages from the fleet", n)
	}
}

// TestSchedulerRun drives Run with synctest's fake time.
func TestSchedulerRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		d := tlsrpt.DayOf(start)
		store := &tlsrpt.MemoryStore{}
		var c tlsrpt.Collector
		c.Record(tlsrpt.Result{Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: "example.org"}})
		store.Add(context.Background(), tlsrpt.NewBatchID(), c.Drain())
		mailer := &tlsrpttest.Mailer{}
		s := &reporter.Scheduler{
			Store: store, OrganizationName: "Org", ContactInfo: "r@sender.example", Mailer: mailer,
			Resolver: &txtResolver{txt: map[string][]string{"_smtp._tls.example.org": {"v=TLSRPTv1;rua=mailto:x@example.org"}}},
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(d.End().Sub(start)) // to 23:59:59 of the day
		synctest.Wait()
		if len(mailer.Messages()) != 0 {
			t.Fatal("sent during the day")
		}
		time.Sleep(reporter.DefaultMaxDelay + 2*reporter.DefaultPollInterval)
		synctest.Wait()
		if len(mailer.Messages()) != 1 {
			t.Fatalf("%d messages after the day and the maximum delay", len(mailer.Messages()))
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestSchedulerMaxRUAs(t *testing.T) {
	w := newWorld(t)
	var uris []string
	for i := range reporter.MaxRUAs + 5 {
		uris = append(uris, "mailto:r"+string(rune('a'+i))+"@example.net")
	}
	w.resolver.txt["_smtp._tls.example.net"] = []string{"v=TLSRPTv1; rua=" + strings.Join(uris, ",")}
	w.record("example.net", 1, 0)
	w.clock.Set(day.End().Add(2 * time.Hour))
	s := w.scheduler()
	w.pass(s)
	w.pass(s)
	if n := len(w.mailer.Messages()); n != reporter.MaxRUAs {
		t.Errorf("%d messages, want %d", n, reporter.MaxRUAs)
	}
}

// TestSchedulerManyDomains: one pass sends every due report once, working
// on several at a time.
func TestSchedulerManyDomains(t *testing.T) {
	w := newWorld(t)
	const n = 60
	for i := range n {
		d := "d" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".example"
		w.resolver.txt["_smtp._tls."+d] = []string{"v=TLSRPTv1; rua=mailto:r@" + d}
		w.record(d, 1, i%2)
	}
	w.clock.Set(day.End().Add(2 * time.Hour))
	s := w.scheduler()
	s.Concurrency = 4
	w.pass(s) // schedules
	w.pass(s) // sends
	w.pass(s) // nothing left
	msgs := w.mailer.Messages()
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.To] {
			t.Errorf("two reports to %s", m.To)
		}
		seen[m.To] = true
	}
}

// twiceStore yields each key of its Store twice, as Redis's SSCAN may:
// the second time while the first key's report is being mailed (the
// mailer blocks until the second yield is done).
type twiceStore struct {
	tlsrpt.Store
	sending chan struct{} // closed by the mailer when it is in Send
	release chan struct{} // closed when the second yield returned
	states  atomic.Int64  // State calls
}

func (s *twiceStore) Keys(ctx context.Context) iter.Seq2[tlsrpt.Key, error] {
	return func(yield func(tlsrpt.Key, error) bool) {
		for k, err := range s.Store.Keys(ctx) {
			if !yield(k, err) || err != nil {
				return
			}
			<-s.sending
			more := yield(k, nil)
			close(s.release)
			if !more {
				return
			}
		}
	}
}

func (s *twiceStore) State(ctx context.Context, k tlsrpt.Key) ([]byte, error) {
	s.states.Add(1)
	return s.Store.State(ctx, k)
}

type blockingMailer struct {
	tlsrpt *tlsrpttest.Mailer
	s      *twiceStore
	once   sync.Once
}

func (m *blockingMailer) Send(ctx context.Context, from, to string, msg []byte) error {
	m.once.Do(func() { close(m.s.sending) })
	<-m.s.release
	return m.tlsrpt.Send(ctx, from, to, msg)
}

// TestSchedulerKeyYieldedTwice: a key that Store.Keys yields again while
// its report is being sent is not worked on a second time at once (the
// send lock is re-entrant for the Scheduler's own owner, so it would not
// stop a second send).
func TestSchedulerKeyYieldedTwice(t *testing.T) {
	w := newWorld(t)
	w.resolver.txt["_smtp._tls.example.net"] = []string{"v=TLSRPTv1; rua=mailto:r@example.net"}
	w.record("example.net", 2, 1)
	k := tlsrpt.Key{Domain: "example.net", Day: day}
	st, _ := json.Marshal(map[string]any{"due": day.End().Add(time.Second)})
	if err := w.store.SetState(context.Background(), k, st); err != nil {
		t.Fatal(err)
	}
	w.clock.Set(day.End().Add(2 * time.Hour))
	ts := &twiceStore{Store: w.store, sending: make(chan struct{}), release: make(chan struct{})}
	s := w.scheduler()
	s.Store = ts
	s.Concurrency = 2
	s.Mailer = &blockingMailer{tlsrpt: w.mailer, s: ts}
	if err := s.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(w.mailer.Messages()); n != 1 {
		t.Errorf("%d messages; want 1", n)
	}
	// The one step reads the state twice: before and after taking the lock.
	if n := ts.states.Load(); n != 2 {
		t.Errorf("%d State calls; want 2, from one step of the key", n)
	}
}

// failingStateStore fails every State call.
type failingStateStore struct{ tlsrpt.Store }

func (failingStateStore) State(context.Context, tlsrpt.Key) ([]byte, error) {
	return nil, errors.New("test: state unavailable")
}

// TestSchedulerPassErrorsBounded: a pass over many keys that all fail
// returns a bounded error that still counts them.
func TestSchedulerPassErrorsBounded(t *testing.T) {
	w := newWorld(t)
	for i := range 100 {
		w.record(fmt.Sprintf("d%03d.example", i), 1, 0)
	}
	w.clock.Set(day.End().Add(2 * time.Hour))
	s := w.scheduler()
	s.Store = failingStateStore{w.store}
	err := s.RunOnce(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(err.Error(), "test: state unavailable"); n != 16 {
		t.Errorf("%d key errors in the pass's error; want 16", n)
	}
	if !strings.Contains(err.Error(), "84 more keys failed") {
		t.Errorf("the error does not count the other keys: %v", err)
	}
}
