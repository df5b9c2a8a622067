package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"fmt"
)

// Gzip compresses a report's JSON for delivery (RFC 8460, Section 5.1:
// reports are always gzipped). The gzip header carries no name and no
// modification time, so the same JSON always gives the same bytes.
func Gzip(report []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(report)/4 + 64)
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: gzip: %w", err)
	}
	if _, err := zw.Write(report); err != nil {
		return nil, fmt.Errorf("tlsrpt: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("tlsrpt: gzip: %w", err)
	}
	return buf.Bytes(), nil
}
