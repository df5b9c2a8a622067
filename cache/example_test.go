package cache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/strictmx/strictmx/cache"
)

func ExampleNewLRU() {
	ctx := context.Background()
	store := cache.NewLRU(0) // DefaultLRUSize entries

	_, err := store.Get(ctx, "example.com")
	fmt.Println("before Put:", errors.Is(err, cache.ErrCacheMiss))

	e := &cache.Entry{
		Domain:  "example.com",
		ID:      "20260101T000000",
		Policy:  "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n",
		Fetched: time.Now(),
		Expires: time.Now().Add(24 * time.Hour),
	}
	e.SetMemo("parsed form")
	if err := store.Put(ctx, e); err != nil {
		fmt.Println(err)
		return
	}
	got, _ := store.Get(ctx, "example.com")
	fmt.Println("same entry:", got == e, got.Memo())
	// Output:
	// before Put: true
	// same entry: true parsed form
}

func ExampleNewDir() {
	ctx := context.Background()
	path, err := os.MkdirTemp("", "strictmx-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(path)

	store, err := cache.NewDir(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	e := &cache.Entry{Domain: "example.com", ID: "1", Policy: "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\n"}
	e.SetMemo("parsed form")
	if err := store.Put(ctx, e); err != nil {
		fmt.Println(err)
		return
	}

	// After a restart, the entry is read back from its file, without memo.
	restarted, err := cache.NewDir(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	got, err := restarted.Get(ctx, "example.com")
	fmt.Println(got.ID, got.Policy == e.Policy, got.Memo(), err)
	// Output:
	// 1 true <nil> <nil>
}
