package tlsrpt_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/strictmx/strictmx/internal/redistest"
	"github.com/strictmx/strictmx/internal/testclock"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

func TestMemoryStore(t *testing.T) {
	tlsrpttest.TestStore(t, func(t *testing.T) (tlsrpt.Store, func(time.Duration)) {
		c := testclock.New(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
		return &tlsrpt.MemoryStore{Now: c.Now}, c.Advance
	})
}

func TestBoltStore(t *testing.T) {
	tlsrpttest.TestStore(t, func(t *testing.T) (tlsrpt.Store, func(time.Duration)) {
		s, err := tlsrpt.OpenBolt(filepath.Join(t.TempDir(), "tlsrpt.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c := testclock.New(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
		s.Now = c.Now
		return s, c.Advance
	})
}

func TestRedisStore(t *testing.T) {
	addr := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	n := 0
	tlsrpttest.TestStore(t, func(t *testing.T) (tlsrpt.Store, func(time.Duration)) {
		n++
		return &tlsrpt.RedisStore{Client: client, Prefix: "test" + string(rune('a'+n)) + ":"}, nil
	})
}
