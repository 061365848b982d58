package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// formatNumber prints a number the way Stata's %9.0g shows simple values:
// integers in full up to nine digits, otherwise up to eight significant digits,
// and no zero before the decimal point; missing is ".".
func formatNumber(v float64) string {
	if math.IsNaN(v) {
		return "."
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	s := strconv.FormatFloat(v, 'g', 8, 64)
	if strings.ContainsAny(s, "e") {
		return s
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return noLeadingZero(s)
}

// noLeadingZero drops the zero before the decimal point, as Stata does.
func noLeadingZero(s string) string {
	switch {
	case strings.HasPrefix(s, "0."):
		return s[1:]
	case strings.HasPrefix(s, "-0."):
		return "-" + s[2:]
	}
	return s
}

// formatMacroNumber is how `local x = exp` stores a number: in full
// precision, with no zero before the decimal point.
func formatMacroNumber(v float64) string {
	if math.IsNaN(v) {
		return "."
	}
	return noLeadingZero(strconv.FormatFloat(v, 'g', -1, 64))
}

// formatCell prints a number in at most width characters, as the %9.0g and
// %10.0g columns of Stata's tables do: as many significant digits as fit.
func formatCell(v float64, width int) string {
	if math.IsNaN(v) {
		return "."
	}
	if v == math.Trunc(v) && len(strconv.FormatFloat(v, 'f', -1, 64)) <= width {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	for digits := width; digits > 0; digits-- {
		s := strconv.FormatFloat(v, 'g', digits, 64)
		if strings.Contains(s, ".") && !strings.Contains(s, "e") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		s = noLeadingZero(s)
		if len(s) <= width {
			return s
		}
	}
	return strconv.FormatFloat(v, 'e', 2, 64)
}

// formatPattern matches the display formats the stand-in knows: %w.d with
// f, g or e (and c for thousands separators), and %ws for strings.
var formatPattern = regexp.MustCompile(`^%(-?)(\d+)(?:\.(\d+)(f|g|e)(c?)|s)$`)

// validFormat reports whether f is a display format the stand-in knows.
func validFormat(f string) bool { return formatPattern.MatchString(f) }

// formatWith prints v in the display format f, padded to its width
// (left-aligned with "-").
func formatWith(f string, v float64) string {
	m := formatPattern.FindStringSubmatch(f)
	if m == nil {
		return formatNumber(v)
	}
	width, _ := strconv.Atoi(m[2])
	var s string
	switch {
	case math.IsNaN(v):
		s = "."
	case m[4] == "f":
		d, _ := strconv.Atoi(m[3])
		s = strconv.FormatFloat(v, 'f', d, 64)
	case m[4] == "e":
		d, _ := strconv.Atoi(m[3])
		s = strconv.FormatFloat(v, 'e', d, 64)
	case m[4] == "g" && m[3] != "0":
		d, _ := strconv.Atoi(m[3])
		s = noLeadingZero(strconv.FormatFloat(v, 'g', d, 64))
	default:
		s = formatCell(v, width)
	}
	if m[5] == "c" && !math.IsNaN(v) {
		s = withCommas(s)
	}
	if m[1] == "-" {
		return fmt.Sprintf("%-*s", width, s)
	}
	return fmt.Sprintf("%*s", width, s)
}

// withCommas puts thousands separators into the integer part of a number.
func withCommas(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if strings.ContainsAny(intPart, "e") || len(intPart) <= 3 {
		return sign + s
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" || strings.Contains(s, ".") {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}

// commas prints an integer with thousands separators, as Stata's counts are.
func commas(n int) string { return withCommas(strconv.Itoa(n)) }
