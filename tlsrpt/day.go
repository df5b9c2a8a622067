package tlsrpt

import (
	"fmt"
	"time"
)

// Day is a UTC calendar day, counted in days since 1970-01-01. Reports
// cover one Day.
type Day int32

// DayOf returns the UTC day that contains t.
func DayOf(t time.Time) Day {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return Day(d)
}

// Start returns 00:00:00 UTC of d.
func (d Day) Start() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// End returns 23:59:59 UTC of d, the end-datetime of its report.
func (d Day) End() time.Time { return d.Start().Add(86399 * time.Second) }

// String returns d as YYYY-MM-DD.
func (d Day) String() string { return d.Start().Format(time.DateOnly) }

// ParseDay parses YYYY-MM-DD.
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("tlsrpt: bad day %q: %w", s, err)
	}
	return DayOf(t), nil
}
