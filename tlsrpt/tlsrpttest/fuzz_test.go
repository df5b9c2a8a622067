package tlsrpttest_test

import (
	"testing"

	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

func FuzzValidateReportJSON(f *testing.F) {
	// A valid report and defective ones.
	_, js := report(f)
	f.Add(js)
	f.Add([]byte(`{"policies":[{"policy":null,"failure-details":[{}]}]}`))
	f.Add([]byte("\ufeff{}"))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tlsrpttest.ValidateReportJSON(data) // must not panic
	})
}

func FuzzValidateMessage(f *testing.F) {
	// A valid message (unsigned) and broken MIME.
	f.Add(messageFor(f))
	f.Add([]byte("Content-Type: multipart/report; report-type=tlsrpt; boundary=b\r\n\r\n--b\r\n\r\n--b--\r\n"))
	f.Add([]byte("From: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tlsrpttest.ValidateMessage(data, nil) // must not panic
	})
}
