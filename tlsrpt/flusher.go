package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultFlushInterval is how often a Flusher moves counts from its
// Collector to its Store when Interval is zero. It bounds what a crash
// loses while the Store works.
const DefaultFlushInterval = 30 * time.Second

// MaxBatchRetry is how long a Flusher retries a batch that its Store
// keeps failing to store. After that the batch is dropped, logged with its
// number of sessions: a later retry could reach a store that no longer
// remembers the batch (BatchIDRetention) and count it twice, and the
// reports of the days it covers have been sent.
const MaxBatchRetry = 24 * time.Hour

// flushTimeout bounds the final flush of Run after its context ends.
const flushTimeout = 10 * time.Second

// Flusher moves what a Collector counted into a Store, in one batch per
// Interval: the batched flush that makes durable stores cheap.
//
// Each batch gets a BatchID when it is drained from the Collector. A
// batch whose Store.Add fails is kept as it is and retried with the same
// id, before anything newer is drained (the Collector keeps counting
// meanwhile), so a session is stored exactly once even when a failed Add
// had in fact been applied (a timeout, a stalled or restarted Redis).
// Counts that the Flusher has not stored are lost with the process: at
// most one Interval of them while the Store works, everything since the
// last successful flush while it does not. None is ever counted twice.
//
// A Flusher must not be copied after first use.
type Flusher struct {
	Collector *Collector // required
	Store     Store      // required
	// Interval between flushes; zero means DefaultFlushInterval.
	Interval time.Duration
	// Logger receives flush errors; nil means discard.
	Logger *slog.Logger

	once    sync.Once
	turn    chan struct{} // one flush at a time; a channel, so that a waiting Flush gives up with its ctx
	pending *batch        // drained and not yet stored; guarded by turn
}

// batch is what one Flush drained, kept until the Store took it.
type batch struct {
	id    BatchID
	aggs  []*Aggregate
	first time.Time // of the first attempt
}

func (b *batch) sessions() int64 {
	var n int64
	for _, a := range b.aggs {
		n += a.Sessions()
	}
	return n
}

func (f *Flusher) interval() time.Duration {
	if f.Interval > 0 {
		return f.Interval
	}
	return DefaultFlushInterval
}

func (f *Flusher) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (f *Flusher) check() error {
	if f.Collector == nil || f.Store == nil {
		return fmt.Errorf("%w: Flusher needs a Collector and a Store", ErrConfig)
	}
	return nil
}

// Flush stores now what the Flusher holds: first the batch an earlier
// Flush could not store, if any, then what the Collector counted since, as
// a new batch. It returns the Store's error; a batch that failed is kept
// for the next Flush, unless the error wraps ErrUnstorable (the Store
// took the rest of it) or the batch has failed for MaxBatchRetry.
// Concurrent calls run one after the other. It fails with ErrConfig when
// Collector or Store is nil.
func (f *Flusher) Flush(ctx context.Context) error {
	if err := f.check(); err != nil {
		return err
	}
	f.once.Do(func() { f.turn = make(chan struct{}, 1) })
	select {
	case f.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("tlsrpt: flush: %w", ctx.Err())
	}
	defer func() { <-f.turn }()

	var errs []error
	if b := f.pending; b != nil {
		err := f.Store.Add(ctx, b.id, b.aggs)
		if err != nil && !errors.Is(err, ErrUnstorable) {
			if time.Since(b.first) < MaxBatchRetry {
				return err
			}
			n := b.sessions()
			f.logger().Warn("tlsrpt: dropping a batch the store refused for too long; its sessions are lost",
				"sessions", n, "first_attempt", b.first, "err", err)
			err = fmt.Errorf("tlsrpt: flush: %d sessions dropped after failing for %v: %w", n, MaxBatchRetry, err)
		}
		f.pending = nil
		errs = append(errs, err)
	}
	if aggs := f.Collector.Drain(); len(aggs) > 0 {
		b := &batch{id: NewBatchID(), aggs: aggs, first: time.Now()}
		err := f.Store.Add(ctx, b.id, b.aggs)
		if err != nil && !errors.Is(err, ErrUnstorable) {
			f.pending = b // retried, as it is, by the next Flush
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Run flushes every Interval until ctx ends, then flushes once more (with
// its own short timeout). Like every Run in this module it blocks until ctx
// ends and then returns nil, unless that last flush failed: then it returns
// the error, since the counts it held are lost. It returns an error
// wrapping ErrConfig at once when Collector or Store is nil.
func (f *Flusher) Run(ctx context.Context) error {
	if err := f.check(); err != nil {
		return err
	}
	t := time.NewTicker(f.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			defer cancel()
			return f.Flush(fctx)
		case <-t.C:
			switch err := f.Flush(ctx); {
			case errors.Is(err, ErrUnstorable):
				f.logger().Warn("tlsrpt: the store cannot keep some aggregates; their sessions are lost", "err", err)
			case err != nil:
				f.logger().Warn("tlsrpt: flush failed; counts kept for the next flush", "err", err)
			}
		}
	}
}
