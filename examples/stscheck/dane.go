package main

import (
	"errors"
	"net"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// DNSSEC states as printed and in JSON. The first three are the
// resolver's; unknown is stscheck's word for "insecure" from a resolver
// whose AD bit is not believed, which says nothing either way.
const (
	stateSecure   = "secure"
	stateInsecure = "insecure"
	stateFailed   = "failed"
	stateUnknown  = "unknown"
)

// Which policy governs an MX host (contract section 7).
const (
	governsDANE   = "dane"    // DANE alone: a failed TLSA lookup, or no MTA-STS judging
	governsBoth   = "both"    // DANE and MTA-STS, the stricter wins
	governsMTASTS = "mta-sts" // MTA-STS alone (enforce or testing)
	governsNone   = "none"    // neither: opportunistic TLS
)

// DANE verdicts as printed and in JSON.
const (
	danePass = "pass"
	daneFail = "fail"
)

// daneReport is what DANE found for one MX host. Its exported fields are
// JSON; see the package documentation.
type daneReport struct {
	Steps      []stepReport `json:"steps"`
	Target     string       `json:"target"`
	Signed     bool         `json:"signed"`
	BaseDomain string       `json:"base_domain"`
	TLSA       []tlsaReport `json:"tlsa"`
	Usable     int          `json:"usable"`
	Applies    bool         `json:"applies"`
	Verdict    string       `json:"verdict"`
	ResultType string       `json:"result_type"`
	Reason     string       `json:"reason"`
	Error      string       `json:"error"`

	looked bool // a DANE lookup was made for the host
}

// stepReport is one DNS lookup DANE made for a host.
type stepReport struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	DNSSEC  string `json:"dnssec"`
	Result  string `json:"result"`
	Records int    `json:"records"`
	Error   string `json:"error"`
}

// Lookup results of a step.
const (
	resultRecords  = "records"
	resultNXDOMAIN = "nxdomain"
	resultNODATA   = "nodata"
	resultFailed   = "failed"
)

// state names the DNSSEC state of an answer, err being the lookup's error
// (nil, a denial, or a failure), as the resolver (trusted or not) gave it.
func state(sec resolver.Security, err error, trusted bool) string {
	var dnsErr *net.DNSError
	switch {
	case err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound):
		return stateFailed
	case sec == resolver.Secure:
		return stateSecure
	case !trusted:
		return stateUnknown
	}
	return stateInsecure
}

// setHost fills the report from the host's DANE state.
func (d *daneReport) setHost(dh *dane.Host, trusted bool) {
	d.looked = true
	d.Target, d.Signed, d.BaseDomain = dh.Target, dh.Signed, dh.Base
	for _, st := range dh.Steps {
		s := stepReport{Name: st.Name, Type: st.Type, DNSSEC: state(st.Security, st.Err, trusted), Records: st.Records, Result: resultRecords}
		switch {
		case errors.Is(st.Err, resolver.ErrNXDOMAIN):
			s.Result = resultNXDOMAIN
		case errors.Is(st.Err, resolver.ErrNODATA):
			s.Result = resultNODATA
		case st.Err != nil:
			s.Result, s.Error = resultFailed, st.Err.Error()
		}
		d.Steps = append(d.Steps, s)
	}
	if dh.Applies() {
		d.Applies = true
		d.TLSA = tlsaReports(dh.RRset)
		d.Usable = dh.RRset.Usable()
	}
	if dh.Err != nil && !errors.Is(dh.Err, dane.ErrNoAddress) {
		// The host is skipped by DANE, whatever MTA-STS says.
		d.Verdict = daneFail
		d.Error = daneText(dh.Err)
	}
}

// setVerdict takes DANE's verdict on a session from the plan's decision;
// derr is the DANE verification's error, when the handshake saw one.
func (d *daneReport) setVerdict(v mtasts.Verdict, derr error) {
	if !v.Counted {
		return
	}
	d.Verdict, d.ResultType, d.Reason = danePass, string(v.ResultType), v.Reason
	if v.ResultType != "" {
		d.Verdict = daneFail
	}
	if derr != nil && d.Error == "" {
		d.Error = daneText(derr)
	}
}

// governs says which policy judges the host once the plan (of MTA-STS
// mode mode) has its DANE state, from the plan's own fields: DANE applies
// when HostPlan.DANE is set, and an enforce or testing policy judges the
// host when it verifies it or refuses it for its mx patterns (SetDANE
// clears both when DANE alone judges).
func governs(h *mtasts.HostPlan, dh *dane.Host, mode mtasts.Mode) string {
	sts := (mode == mtasts.ModeEnforce || mode == mtasts.ModeTesting) && (h.Verify || h.Mismatch)
	switch {
	case h.Host == "":
		return governsNone
	case dh != nil && dh.Err != nil && !errors.Is(dh.Err, dane.ErrNoAddress):
		return governsDANE // skipped for its failed lookup, in every mode
	case h.DANE && sts:
		return governsBoth
	case h.DANE:
		return governsDANE
	case sts:
		return governsMTASTS
	}
	return governsNone
}

// daneProblem says what DANE found wrong with the host, "" for nothing.
func (m *mxReport) daneProblem() string {
	d := &m.DANE
	if d.Verdict != daneFail {
		return ""
	}
	s := "DANE"
	if d.ResultType != "" {
		s += " " + d.ResultType
		if d.Reason != "" {
			s += " (" + d.Reason + ")"
		}
	}
	if d.Error != "" {
		s += ": " + d.Error
	}
	return s
}

// daneText is err's text without the host name a *dane.Error puts first:
// the report names the host already.
func daneText(err error) string {
	var de *dane.Error
	if errors.As(err, &de) && de.Err != nil {
		return de.Err.Error()
	}
	return err.Error()
}
