package mtasts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// rawResponse is an http.RoundTripper that answers every request with the
// bytes of one HTTP response, as a hostile policy host could send them.
type rawResponse []byte

func (b rawResponse) RoundTrip(req *http.Request) (*http.Response, error) {
	return http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), req)
}

func FuzzFetchResponse(f *testing.F) {
	ok := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nversion: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n"
	// A valid response, and one with parameters in the media type.
	f.Add([]byte(ok))
	f.Add([]byte(strings.Replace(ok, "text/plain", "TEXT/PLAIN; charset=utf-8", 1)))
	// Redirect, error status, missing and wrong media types.
	f.Add([]byte("HTTP/1.1 302 Found\r\nLocation: https://evil.example/\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\n\r\n"))
	f.Add([]byte(strings.Replace(ok, "Content-Type: text/plain\r\n", "", 1)))
	f.Add([]byte(strings.Replace(ok, "text/plain", "text/html", 1)))
	// Lying Content-Length, chunked bodies, a huge declared length.
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nversion: STSv1"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nversi\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 99999999999\r\n\r\n"))
	f.Fuzz(func(t *testing.T, resp []byte) {
		c := &Client{HTTPClient: &http.Client{Transport: rawResponse(resp)}}
		fe := c.fetch(context.Background(), "example.com")
		if fe.Err != nil {
			if fe.Policy != nil {
				t.Fatalf("policy returned with error %v", fe.Err)
			}
			if !errors.Is(fe.Err, ErrPolicyFetch) && !errors.Is(fe.Err, ErrWebPKI) && !errors.Is(fe.Err, ErrPolicyInvalid) {
				t.Fatalf("untyped error %v", fe.Err)
			}
			return
		}
		if fe.Policy == nil || fe.Status != http.StatusOK || fe.Size > MaxPolicySize {
			t.Fatalf("accepted %+v", fe)
		}
	})
}
