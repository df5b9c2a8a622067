package mtaststest

// MXHost is an SMTP MX host of the harness.
type MXHost struct{ addr string }

// Addr returns the MX host's listener address.
func (m *MXHost) Addr() string { return m.addr }

func (m *MXHost) close() {}
