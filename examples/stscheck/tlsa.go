package main

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// tlsaReport is one TLSA record of a secure RRset as stscheck shows it.
// Its exported fields are JSON; see the package documentation.
type tlsaReport struct {
	Record string `json:"record"`
	Usable bool   `json:"usable"`
	Note   string `json:"note"`

	kind string // "DANE-EE(3) SPKI(1) SHA2-256(1)", for people
}

// tlsaReports describes each record of a secure TLSA RRset: whether it is
// one the DANE check uses, and why not. Whether a record is usable is
// dane.Usable's to say, and which usable records count is dane.NewRRset's
// digest agility; the notes only explain their answers.
func tlsaReports(set *dane.RRset) []tlsaReport {
	recs := set.Records()
	out := make([]tlsaReport, 0, len(recs))
	strongest := strongestDigests(recs)
	for _, r := range recs {
		t := tlsaReport{Record: tlsaString(r), kind: tlsaKind(r)}
		switch {
		case !dane.Usable(r):
			t.Note = unusableWhy(r)
		case setAside(r, strongest):
			t.Note = "set aside: a " + matchingName(strongest[agilityKey{r.Usage, r.Selector}]) +
				" record of the same usage and selector is published, and only the strongest digest counts"
		default:
			t.Usable = true
		}
		out = append(out, t)
	}
	return out
}

// agilityKey is a (usage, selector) pair, within which digest agility
// picks the strongest digest.
type agilityKey struct{ usage, selector uint8 }

// strongestDigests returns, per (usage, selector), the strongest matching
// type of the usable digest records (Full(0) records always count).
func strongestDigests(recs []resolver.TLSA) map[agilityKey]uint8 {
	m := make(map[agilityKey]uint8)
	for _, r := range recs {
		if r.MatchingType != dane.MatchingFull && dane.Usable(r) {
			k := agilityKey{r.Usage, r.Selector}
			m[k] = max(m[k], r.MatchingType)
		}
	}
	return m
}

// setAside reports whether the usable record r is left out by digest
// agility.
func setAside(r resolver.TLSA, strongest map[agilityKey]uint8) bool {
	return r.MatchingType != dane.MatchingFull && r.MatchingType != strongest[agilityKey{r.Usage, r.Selector}]
}

// unusableWhy says why dane.Usable refuses r, in the order of the
// conditions of contract section 4.
func unusableWhy(r resolver.TLSA) string {
	switch r.Usage {
	case 0:
		return "usage PKIX-TA(0) is not used for SMTP: only DANE-TA(2) and DANE-EE(3) are"
	case 1:
		return "usage PKIX-EE(1) is not used for SMTP: only DANE-TA(2) and DANE-EE(3) are"
	case dane.UsageDANETA, dane.UsageDANEEE:
	default:
		return "usage " + strconv.Itoa(int(r.Usage)) + " is not defined"
	}
	if r.Selector != dane.SelectorCert && r.Selector != dane.SelectorSPKI {
		return "selector " + strconv.Itoa(int(r.Selector)) + " is not defined"
	}
	switch r.MatchingType {
	case dane.MatchingSHA256:
		return "a SHA2-256 digest is " + strconv.Itoa(sha256.Size) + " bytes, this one " + strconv.Itoa(len(r.Data))
	case dane.MatchingSHA512:
		return "a SHA2-512 digest is " + strconv.Itoa(sha512.Size) + " bytes, this one " + strconv.Itoa(len(r.Data))
	case dane.MatchingFull:
	default:
		return "matching type " + strconv.Itoa(int(r.MatchingType)) + " is not defined"
	}
	switch {
	case len(r.Data) == 0:
		return "no data"
	case len(r.Data) > dane.MaxData:
		return "data longer than " + strconv.Itoa(dane.MaxData) + " bytes"
	case r.Selector == dane.SelectorCert:
		if _, err := x509.ParseCertificate(r.Data); err != nil {
			return "data is not a certificate: " + err.Error()
		}
	default:
		if _, err := x509.ParsePKIXPublicKey(r.Data); err != nil {
			return "data is not a public key: " + err.Error()
		}
	}
	return "not usable"
}

// tlsaString writes r as "u s m HEX", as in TLS-RPT policy strings.
func tlsaString(r resolver.TLSA) string {
	return strconv.Itoa(int(r.Usage)) + " " + strconv.Itoa(int(r.Selector)) + " " +
		strconv.Itoa(int(r.MatchingType)) + " " + strings.ToUpper(hex.EncodeToString(r.Data))
}

// tlsaKind names the fields of r.
func tlsaKind(r resolver.TLSA) string {
	usage := "usage " + strconv.Itoa(int(r.Usage))
	switch r.Usage {
	case 0:
		usage = "PKIX-TA(0)"
	case 1:
		usage = "PKIX-EE(1)"
	case dane.UsageDANETA:
		usage = "DANE-TA(2)"
	case dane.UsageDANEEE:
		usage = "DANE-EE(3)"
	}
	sel := "selector " + strconv.Itoa(int(r.Selector))
	switch r.Selector {
	case dane.SelectorCert:
		sel = "Cert(0)"
	case dane.SelectorSPKI:
		sel = "SPKI(1)"
	}
	return usage + " " + sel + " " + matchingName(r.MatchingType)
}

func matchingName(m uint8) string {
	switch m {
	case dane.MatchingFull:
		return "Full(0)"
	case dane.MatchingSHA256:
		return "SHA2-256(1)"
	case dane.MatchingSHA512:
		return "SHA2-512(2)"
	}
	return "matching type " + strconv.Itoa(int(m))
}
