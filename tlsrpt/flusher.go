package tlsrpt

import (
	"context"
	"log/slog"
	"time"
)

// DefaultFlushInterval is how often a Flusher moves counts from its
// Collector to its Store when Interval is zero. It bounds what a crash
// loses.
const DefaultFlushInterval = 30 * time.Second

// flushTimeout bounds the final flush of Run after its context ends.
const flushTimeout = 10 * time.Second

// Flusher moves what a Collector counted into a Store, in one batch per
// Interval: the batched flush that makes durable stores cheap. Counts that
// a failed flush could not store go back into the Collector.
type Flusher struct {
	Collector *Collector // required
	Store     Store      // required
	// Interval between flushes; zero means DefaultFlushInterval.
	Interval time.Duration
	// Logger receives flush errors; nil means discard.
	Logger *slog.Logger
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

// Flush drains the Collector into the Store now.
func (f *Flusher) Flush(ctx context.Context) error {
	aggs := f.Collector.Drain()
	if len(aggs) == 0 {
		return nil
	}
	if err := f.Store.Add(ctx, aggs); err != nil {
		f.Collector.Add(aggs...) // keep them for the next flush
		return err
	}
	return nil
}

// Run flushes every Interval until ctx ends, then flushes once more (with
// its own short timeout). Like every Run in this module it blocks until ctx
// ends and then returns nil, unless that last flush failed: then it returns
// the error, since the counts it held are lost.
func (f *Flusher) Run(ctx context.Context) error {
	t := time.NewTicker(f.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			defer cancel()
			return f.Flush(fctx)
		case <-t.C:
			if err := f.Flush(ctx); err != nil {
				f.logger().Warn("tlsrpt: flush failed; counts kept for the next flush", "err", err)
			}
		}
	}
}
