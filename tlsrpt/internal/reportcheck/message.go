package reportcheck

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// MessageOptions tune Message.
type MessageOptions struct {
	// LookupTXT, if set, is used to fetch the DKIM key so that the
	// signature is verified cryptographically; otherwise only its tags
	// are checked.
	LookupTXT func(domain string) ([]string, error)
}

var fileNameRE = regexp.MustCompile(`^([^!]+)!([^!]+)!([0-9]+)!([0-9]+)!([A-Za-z0-9]+)\.json\.gz$`)

// maxMessage and maxJSON bound what Message reads.
const (
	maxMessage = 10 << 20
	maxJSON    = 10 << 20
)

// Message checks one report mail against the rules strictmx report mail
// follows (RFC 8460, Section 5.3, as package tlsrpt reads it) and its
// attached report with JSON.
func Message(data []byte, opts *MessageOptions) (*Summary, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	fail := func() (*Summary, error) {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	if len(data) >= maxMessage {
		bad("message of %d bytes is not well under 10 MB", len(data))
		return fail()
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		bad("not a message: %v", err)
		return fail()
	}
	h := msg.Header
	one := func(k string) string {
		v := h[textprotoKey(k)]
		if len(v) != 1 {
			bad("header %s appears %d times, want once", k, len(v))
			return ""
		}
		return strings.TrimSpace(v[0])
	}
	for _, k := range []string{"From", "To", "Date", "Message-ID", "MIME-Version"} {
		one(k)
	}
	if _, err := h.Date(); err != nil {
		bad("Date: %v", err)
	}
	if v := one("Auto-Submitted"); !strings.EqualFold(v, "auto-generated") {
		bad("Auto-Submitted %q, want auto-generated", v)
	}
	if v := one("TLS-Required"); !strings.EqualFold(v, "No") {
		bad("TLS-Required %q, want No", v)
	}
	reportDomain := one("TLS-Report-Domain")
	submitter := one("TLS-Report-Submitter")
	subject := one("Subject")

	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || !strings.EqualFold(params["report-type"], "tlsrpt") || params["boundary"] == "" {
		bad("Content-Type %q, want multipart/report; report-type=\"tlsrpt\"", h.Get("Content-Type"))
		return fail()
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []*partInfo
	for len(parts) < 10 {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			bad("multipart: %v", err)
			return fail()
		}
		body, err := io.ReadAll(io.LimitReader(p, maxMessage))
		if err != nil {
			bad("multipart: %v", err)
			return fail()
		}
		parts = append(parts, &partInfo{header: p.Header, body: body})
	}
	if len(parts) != 2 {
		bad("%d MIME parts, want 2 (text/plain, application/tlsrpt+gzip)", len(parts))
		return fail()
	}
	if mt, _, _ := mime.ParseMediaType(parts[0].header.Get("Content-Type")); mt != "text/plain" {
		bad("first part is %q, want text/plain", mt)
	}
	att := parts[1]
	mt, aparams, _ := mime.ParseMediaType(att.header.Get("Content-Type"))
	if mt != "application/tlsrpt+gzip" {
		bad("second part is %q, want application/tlsrpt+gzip", mt)
	}
	if cte := att.header.Get("Content-Transfer-Encoding"); !strings.EqualFold(cte, "base64") {
		bad("attachment Content-Transfer-Encoding %q, want base64", cte)
	}
	disp, dparams, _ := mime.ParseMediaType(att.header.Get("Content-Disposition"))
	fileName := dparams["filename"]
	if fileName == "" {
		fileName = aparams["name"]
	}
	if disp != "attachment" {
		bad("attachment Content-Disposition %q", disp)
	}
	gz, err := base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, string(att.body)))
	if err != nil {
		bad("attachment base64: %v", err)
		return fail()
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		bad("attachment is not gzip: %v", err)
		return fail()
	}
	js, err := io.ReadAll(io.LimitReader(zr, maxJSON+1))
	if err != nil || len(js) > maxJSON {
		bad("attachment gunzip: %v", err)
		return fail()
	}
	sum, err := JSON(js)
	if err != nil {
		errs = append(errs, err)
		return fail()
	}

	// Cross-checks between headers, file name and report.
	if submitter != sum.Submitter {
		bad("TLS-Report-Submitter %q is not the contact-info domain %q", submitter, sum.Submitter)
	}
	for _, d := range sum.PolicyDomains {
		if d != reportDomain {
			bad("TLS-Report-Domain %q but policy-domain %q", reportDomain, d)
		}
	}
	wantSubject := "Report Domain: " + reportDomain + " Submitter: " + submitter + " Report-ID: <" + sum.ReportID + ">"
	if subject != wantSubject && subject != strings.Replace(wantSubject, "<"+sum.ReportID+">", sum.ReportID, 1) {
		bad("Subject %q, want %q", subject, wantSubject)
	}
	if m := fileNameRE.FindStringSubmatch(fileName); m == nil {
		bad("file name %q is not submitter!domain!begin!end!unique.json.gz", fileName)
	} else {
		start, _ := time.Parse(time.RFC3339, sum.Start)
		end, _ := time.Parse(time.RFC3339, sum.End)
		if m[1] != submitter || m[2] != reportDomain || m[3] != strconv.FormatInt(start.Unix(), 10) || m[4] != strconv.FormatInt(end.Unix(), 10) {
			bad("file name %q does not match the report (%s, %s, %d, %d)", fileName, submitter, reportDomain, start.Unix(), end.Unix())
		}
	}
	checkDKIM(data, h, submitter, opts, bad)
	if len(errs) > 0 {
		return fail()
	}
	return sum, nil
}

type partInfo struct {
	header textproto.MIMEHeader
	body   []byte
}

func textprotoKey(k string) string {
	switch k {
	case "Message-ID":
		return "Message-Id"
	case "MIME-Version":
		return "Mime-Version"
	case "TLS-Report-Domain":
		return "Tls-Report-Domain"
	case "TLS-Report-Submitter":
		return "Tls-Report-Submitter"
	case "TLS-Required":
		return "Tls-Required"
	}
	return k
}

func checkDKIM(data []byte, h mail.Header, submitter string, opts *MessageOptions, bad func(string, ...any)) {
	sigs := h["Dkim-Signature"]
	var ours string
	for _, s := range sigs {
		if tagValue(s, "d") == submitter {
			ours = s
		}
	}
	if ours == "" {
		bad("no DKIM-Signature with d=%s", submitter)
		return
	}
	if tagValue(ours, "l") != "" {
		bad("DKIM-Signature has l=")
	}
	signed := strings.Split(strings.ToLower(strings.Join(strings.Fields(tagValue(ours, "h")), "")), ":")
	for _, k := range []string{"from", "tls-report-domain", "tls-report-submitter"} {
		if !slices.Contains(signed, k) {
			bad("DKIM h= does not cover %s", k)
		}
	}
	if opts == nil || opts.LookupTXT == nil {
		return
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{LookupTXT: opts.LookupTXT})
	if err != nil {
		bad("DKIM verify: %v", err)
		return
	}
	for _, v := range vs {
		if v.Domain == submitter && v.Err == nil {
			return
		}
	}
	for _, v := range vs {
		if v.Domain == submitter {
			bad("DKIM signature for %s does not verify: %v", submitter, v.Err)
			return
		}
	}
	bad("no verified DKIM signature for %s", submitter)
}

// tagValue returns the value of tag in a DKIM tag list, or "".
func tagValue(list, tag string) string {
	for t := range strings.SplitSeq(list, ";") {
		k, v, ok := strings.Cut(t, "=")
		if ok && strings.TrimSpace(k) == tag {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
