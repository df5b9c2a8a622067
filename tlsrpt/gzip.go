package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"sync"
)

// gzipWriters recycles compressors: a gzip.Writer holds about 800 KB of
// state, far more than a report.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return w
}}

// Gzip compresses a report's JSON for delivery (RFC 8460, Section 5.2 says
// reports SHOULD be gzipped; strictmx always gzips them). The gzip header carries no name and no
// modification time, so the same JSON always gives the same bytes.
func Gzip(report []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(report)/4 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(report); err != nil {
		return nil, fmt.Errorf("tlsrpt: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("tlsrpt: gzip: %w", err)
	}
	return buf.Bytes(), nil
}
