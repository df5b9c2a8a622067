package tlsrpt_test

import (
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/testclock"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

func TestMemoryStore(t *testing.T) {
	tlsrpttest.RunStore(t, func(t *testing.T) (tlsrpt.Store, func(time.Duration)) {
		c := testclock.New(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
		return &tlsrpt.MemoryStore{Now: c.Now}, c.Advance
	})
}
