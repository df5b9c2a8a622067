package tlsrpt

import "strconv"

// MediaType is the report attachment and https body type (RFC 8460,
// Sections 5.3 and 5.4).
const MediaType = "application/tlsrpt+gzip"

// FileName returns the report file name of RFC 8460, Section 5.1:
// "<submitter>!<policy domain>!<begin>!<end>!<unique>.json.gz" with begin
// and end the Unix times of the report's date range. unique must be
// [A-Za-z0-9]+.
func FileName(submitter, policyDomain string, dr DateRange, unique string) string {
	return submitter + "!" + policyDomain + "!" + strconv.FormatInt(dr.Start.Unix(), 10) + "!" +
		strconv.FormatInt(dr.End.Unix(), 10) + "!" + unique + ".json.gz"
}
