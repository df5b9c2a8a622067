package reporter

import (
	"errors"
	"fmt"
)

// Delivery errors.
var (
	// ErrDelivery: a report could not be delivered to one rua URI. It is
	// retried with backoff.
	ErrDelivery = errors.New("reporter: delivery failed")
	// ErrUnsupportedURI: a rua URI has a scheme other than mailto: or https:.
	ErrUnsupportedURI = errors.New("reporter: unsupported rua URI")
	// ErrConfig: the reporter is missing required configuration
	// (organisation name, contact address, DKIM signer, mailer).
	ErrConfig = errors.New("reporter: incomplete configuration")
	// ErrDialGuard means a connection was refused because its address is
	// not globally reachable (loopback, private, shared, link-local,
	// documentation, reserved, multicast and the like): the address of an
	// https rua host, with a client of NewHTTPClient, or of an MX host,
	// with DirectMailer, unless AllowPrivate is set. Both come from a
	// remote domain's DNS. The delivery is retried like any other that
	// failed.
	ErrDialGuard = errors.New("reporter: refusing to connect to a non-public address")
)

// SendError reports the failure of one delivery attempt to one rua URI.
// It wraps ErrDelivery and the cause.
type SendError struct {
	URI string // the rua URI tried
	// StatusCode is the HTTP status received, or 0.
	StatusCode int
	Err        error // the cause
}

func (e *SendError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("reporter: deliver to %s: http status %d", e.URI, e.StatusCode)
	}
	return fmt.Sprintf("reporter: deliver to %s: %v", e.URI, e.Err)
}

// Unwrap returns ErrDelivery and the cause.
func (e *SendError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrDelivery}
	}
	return []error{ErrDelivery, e.Err}
}
