package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the results table: a figure of mcp_keepalive beside
// its baseline from the same run, with the target and whether it was met.
type row struct {
	section  string
	metric   string
	value    string // the figure with mcp_keepalive in front of reverse_proxy
	baseline string // the same figure for the baseline (reverse_proxy alone)
	target   string
	verdict  string // PASS, MISS, or empty when there is no target
}

// verdict returns PASS or MISS.
func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// printTable writes rows as an aligned table.
func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "section\tmetric\tmcp_keepalive + reverse_proxy\tbaseline\ttarget\tresult")
	fmt.Fprintln(tw, "-------\t------\t-----------------------------\t--------\t------\t------")
	last := ""
	for _, r := range rows {
		sec := r.section
		if sec == last {
			sec = ""
		}
		last = r.section
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sec, r.metric, r.value, r.baseline, r.target, r.verdict)
	}
	tw.Flush()
}

// percentile returns the p-th percentile (0 to 100) of sorted, by the
// nearest-rank method.
func percentile[T ~int64 | ~float64 | ~float32](sorted []T, p float64) T {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// median returns the median of xs, which it sorts.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// mib formats a byte count in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// kib formats a byte count in KiB.
func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }

// failures counts failed calls by reason and keeps a few examples.
type failures struct {
	n        int
	byReason map[string]int
	examples []string
}

// add records one failure.
func (f *failures) add(reason, example string) {
	if f.byReason == nil {
		f.byReason = map[string]int{}
	}
	f.n++
	f.byReason[reason]++
	if len(f.examples) < 5 {
		f.examples = append(f.examples, example)
	}
}

// String summarizes the failures.
func (f *failures) String() string {
	if f.n == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f.byReason)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, f.byReason[k]))
	}
	return strings.Join(parts, ", ")
}
