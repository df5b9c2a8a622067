package reporter

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
)

// A saved report reads back only when it is exactly what the Scheduler
// wrote; anything the lenient parser would forgive is corrupt.
func TestStoredReport(t *testing.T) {
	day := tlsrpt.DayOf(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))
	var c tlsrpt.Collector
	c.Record(tlsrpt.Result{
		Policy: tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "example.net",
			String: []string{"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 86400"}, MXHost: []string{"mx.example.net"}},
		ResultType: tlsrpt.ResultCertificateExpired, MXHost: "mx.example.net", Time: day.Start().Add(time.Hour),
	})
	a := c.Snapshot()[0]
	r, err := tlsrpt.BuildReport(a, "Sender Org", "tlsrpt@sender.example", tlsrpt.NewReportID(a.Key, "sender.example", 1))
	if err != nil {
		t.Fatal(err)
	}
	js, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := tlsrpt.Gzip(js)
	back, err := storedReport(gz)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("read back\n got %+v\nwant %+v", back, r)
	}

	// The same report with one more space: the lenient parser reads it,
	// but these are not the bytes the Scheduler wrote.
	loose := bytes.Replace(js, []byte(`"organization-name"`), []byte(` "organization-name"`), 1)
	if _, err := tlsrpt.ParseReport(loose); err != nil {
		t.Fatalf("lenient parser refuses the loose form: %v", err)
	}
	looseGz, _ := tlsrpt.Gzip(loose)
	for name, in := range map[string][]byte{"loose": looseGz, "truncated": gz[:len(gz)/2], "empty": nil} {
		if _, err := storedReport(in); !errors.Is(err, tlsrpt.ErrCorruptStore) {
			t.Errorf("%s: err = %v; want ErrCorruptStore", name, err)
		}
	}
}
