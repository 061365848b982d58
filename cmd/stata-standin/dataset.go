package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A dataset is the data in memory: numeric variables (string variables are
// not implemented) of n observations each; missing values are NaN.
type dataset struct {
	vars    []*variable
	n       int
	changed bool   // changed since it was last loaded or saved
	source  string // the file it was loaded from or last saved to
	label   string // the dataset's label
}

// A variable is one column of the dataset.
type variable struct {
	name string
	vals []float64
}

// lookupVar finds a variable by its name or an unambiguous abbreviation of
// it, as Stata does (varabbrev on).
func (d *dataset) lookupVar(name string) (*variable, *stataError) {
	var found *variable
	for _, v := range d.vars {
		if v.name == name {
			return v, nil
		}
		if strings.HasPrefix(v.name, name) {
			if found != nil {
				return nil, errorf(111, "%s ambiguous abbreviation", name)
			}
			found = v
		}
	}
	if found == nil {
		return nil, errorf(111, "variable %s not found", name)
	}
	return found, nil
}

// varlist resolves a list of variable names; an empty list is every
// variable, as is _all.
func (d *dataset) varlist(names string) ([]*variable, *stataError) {
	fields := strings.Fields(names)
	if len(fields) == 0 || (len(fields) == 1 && fields[0] == "_all") {
		return d.vars, nil
	}
	if len(d.vars) == 0 {
		return nil, errorf(111, "no variables defined")
	}
	var out []*variable
	for _, f := range fields {
		v, e := d.lookupVar(f)
		if e != nil {
			return nil, e
		}
		out = append(out, v)
	}
	return out, nil
}

// keepObs keeps the observations for which keep is true.
func (d *dataset) keepObs(keep []bool) {
	for _, v := range d.vars {
		out := v.vals[:0]
		for i, x := range v.vals {
			if keep[i] {
				out = append(out, x)
			}
		}
		v.vals = out
	}
	n := 0
	for _, k := range keep {
		if k {
			n++
		}
	}
	d.n = n
}

// maxObs bounds set obs, so that a typing error cannot exhaust memory (Stata
// is bounded by memory and by its edition's limits).
const maxObs = 10_000_000

// setObs is `set obs N`: it adds observations (with missing values) up to N.
func (s *session) setObs(args string) *stataError {
	n, err := strconv.Atoi(strings.ReplaceAll(args, ",", ""))
	if err != nil || n < 0 {
		return errSyntax()
	}
	d := &s.data
	if n > maxObs {
		return errorf(901, "no room to add more observations\n    stata-standin keeps at most %s observations.", commas(maxObs))
	}
	if n < d.n {
		return errorf(198, "observation number out of range\n    Observation number must be at least %s.", commas(d.n))
	}
	s.printf("Number of observations (_N) was %s, now %s.\n", commas(d.n), commas(n))
	for _, v := range d.vars {
		for len(v.vals) < n {
			v.vals = append(v.vals, missing)
		}
	}
	d.n = n
	d.changed = true
	return nil
}

// breakPoint is where a command that loops over observations checks for
// Break: every 4096 observations. Such commands store their results only at
// the end (or undo what they stored), so that, as in Stata, a Break leaves
// the data as they were before the command.
func (s *session) breakPoint(i int) *stataError {
	if i%4096 != 4095 {
		return nil
	}
	return s.checkBreak()
}

// storageTypes are the storage types generate accepts before the new
// variable's name; every variable is stored as a double here.
var storageTypes = map[string]bool{"byte": true, "int": true, "long": true, "float": true, "double": true}

// generate is `generate [type] newvar = exp [if] [in]`: observations that do
// not qualify get missing values, and Stata's note says how many are missing.
func (s *session) generate(args string) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	lhs, rhs, ok := strings.Cut(q.main, "=")
	if !ok || strings.HasPrefix(rhs, "=") {
		return errSyntax()
	}
	names := strings.Fields(lhs)
	if len(names) == 2 && storageTypes[names[0]] {
		names = names[1:]
	} else if len(names) == 2 && strings.HasPrefix(names[0], "str") {
		return errorf(109, "stata-standin: string variables are not implemented")
	}
	if len(names) != 1 {
		return errSyntax()
	}
	name := names[0]
	if !isName(name) {
		return errorf(198, "%s invalid name", name)
	}
	for _, v := range s.data.vars {
		if v.name == name {
			return errorf(110, "variable %s already defined", name)
		}
	}
	ex, e := s.parseFullExpr(rhs)
	if e != nil {
		return e
	}
	vals := make([]float64, s.data.n)
	nmiss := 0
	for i := range vals {
		if e := s.breakPoint(i); e != nil {
			return e // nothing was stored: Break undoes the command
		}
		vals[i] = missing
		ok, e := q.selects(s, i)
		if e != nil {
			return e
		}
		if ok {
			v, e := ex(s.evalCtx(i))
			if e != nil {
				return e
			}
			if v.isStr {
				return errorf(109, "stata-standin: string variables are not implemented")
			}
			vals[i] = v.n
		}
		if math.IsNaN(vals[i]) {
			nmiss++
		}
	}
	if s.data.n == 0 {
		// Stata checks the expression even with no observations.
		if _, e := ex(s.evalCtx(0)); e != nil {
			return e
		}
	}
	s.data.vars = append(s.data.vars, &variable{name: name, vals: vals})
	s.data.changed = true
	if nmiss > 0 {
		s.printf("(%s generated)\n", plural(nmiss, "missing value", "missing values"))
	}
	return nil
}

// replace is `replace var = exp [if] [in]`, observation by observation (so
// that x[_n-1] sees the value just replaced, as in Stata), with Stata's note
// on how many values changed.
func (s *session) replace(args string) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	lhs, rhs, ok := strings.Cut(q.main, "=")
	if !ok || strings.HasPrefix(rhs, "=") {
		return errSyntax()
	}
	v, e := s.data.lookupVar(strings.TrimSpace(lhs))
	if e != nil {
		return e
	}
	ex, e := s.parseFullExpr(rhs)
	if e != nil {
		return e
	}
	changes, toMissing := 0, 0
	// Values are replaced in place, so that x[_n-1] sees the new value; the
	// old ones are kept to undo the command on Break or error.
	old := append([]float64(nil), v.vals...)
	undo := func(e *stataError) *stataError {
		copy(v.vals, old)
		return e
	}
	for i := 0; i < s.data.n; i++ {
		if e := s.breakPoint(i); e != nil {
			return undo(e)
		}
		ok, e := q.selects(s, i)
		if e != nil {
			return undo(e)
		}
		if !ok {
			continue
		}
		x, e := ex(s.evalCtx(i))
		if e != nil {
			return undo(e)
		}
		if x.isStr {
			return undo(errTypeMismatch())
		}
		if compareNumbers(x.n, v.vals[i]) != 0 {
			changes++
			if math.IsNaN(x.n) {
				toMissing++
			}
		}
		v.vals[i] = x.n
	}
	if changes > 0 {
		s.data.changed = true
	}
	msg := plural(changes, "real change", "real changes") + " made"
	if toMissing > 0 {
		msg += ", " + commas(toMissing) + " to missing"
	}
	s.printf("(%s)\n", msg)
	return nil
}

// dropKeep is drop (drop true) or keep: `drop varlist`, `drop if exp`,
// `drop in range`, and the same for keep.
func (s *session) dropKeep(args string, drop bool) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	if q.cond == nil && q.to < 0 {
		if q.main == "" {
			return errorf(100, "varlist required")
		}
		vars, e := s.data.varlist(q.main)
		if e != nil {
			return e
		}
		named := map[*variable]bool{}
		for _, v := range vars {
			named[v] = true
		}
		var kept []*variable
		for _, v := range s.data.vars {
			if named[v] != drop {
				kept = append(kept, v)
			}
		}
		s.data.vars = kept
		if len(kept) == 0 {
			s.data.n = 0
		}
		s.data.changed = true
		return nil
	}
	if q.main != "" {
		return errSyntax()
	}
	keep := make([]bool, s.data.n)
	deleted := 0
	for i := range keep {
		if e := s.breakPoint(i); e != nil {
			return e
		}
		ok, e := q.selects(s, i)
		if e != nil {
			return e
		}
		keep[i] = ok != drop
		if !keep[i] {
			deleted++
		}
	}
	s.data.keepObs(keep)
	if deleted > 0 {
		s.data.changed = true
	}
	s.printf("(%s deleted)\n", plural(deleted, "observation", "observations"))
	return nil
}

// count is `count [if] [in]`: it prints the number of observations that
// qualify and stores it in r(N).
func (s *session) count(args string) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	if q.main != "" {
		return errSyntax()
	}
	n := 0
	for i := 0; i < s.data.n; i++ {
		ok, e := q.selects(s, i)
		if e != nil {
			return e
		}
		if ok {
			n++
		}
	}
	s.printf("  %s\n", commas(n))
	s.rres = map[string]value{"N": num(float64(n))}
	return nil
}

// rule is the horizontal rule of describe.
var rule = strings.Repeat("-", 80)

// describe is `describe [varlist] [, short]`: the number of observations and
// variables (and, without short, a line per variable, in Stata's layout). It
// stores r(N), r(k) and r(changed).
func (s *session) describe(args string) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	vars, e := s.data.varlist(q.main)
	if e != nil {
		return e
	}
	d := &s.data
	from := "Contains data"
	if d.source != "" {
		from += " from " + d.source
	}
	s.print("\n" + from + "\n")
	s.print(strings.TrimRight(fmt.Sprintf(" Observations:%14s                  %s", commas(d.n), d.label), " ") + "\n")
	s.printf("    Variables:%14s\n", commas(len(d.vars)))
	if _, short := findOption(q.opts, "short", 2); !short {
		s.print(rule + "\nVariable      Storage   Display    Value\n    name         type    format    label      Variable label\n" + rule + "\n")
		for _, v := range vars {
			s.printf("%-15s %-7s %-10s\n", v.name, "double", "%10.0g")
		}
		s.print(rule + "\n")
	}
	s.print("Sorted by: \n")
	if d.changed {
		s.print("     Note: Dataset has changed since last saved.\n")
	}
	s.rres = map[string]value{
		"N": num(float64(d.n)), "k": num(float64(len(d.vars))), "changed": truth(d.changed),
	}
	return nil
}

// summarize is `summarize [varlist] [if] [in] [, meanonly]`: Stata's table of
// observations, mean, standard deviation, minimum and maximum, storing r(N),
// r(mean), r(sd), r(Var), r(min), r(max), r(sum) and r(sum_w) for the last
// variable.
func (s *session) summarize(args string) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	vars, e := s.data.varlist(q.main)
	if e != nil {
		return e
	}
	_, meanonly := findOption(q.opts, "meanonly", 5)
	if !meanonly {
		s.printf("\n%12s |%11s%12s%13s%10s%11s\n", "Variable", "Obs", "Mean", "Std. dev.", "Min", "Max")
		s.print(strings.Repeat("-", 13) + "+" + strings.Repeat("-", 57) + "\n")
	}
	sel := make([]bool, s.data.n)
	for i := range sel {
		ok, e := q.selects(s, i)
		if e != nil {
			return e
		}
		sel[i] = ok
	}
	for _, v := range vars {
		n, sum := 0, 0.0
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, x := range v.vals {
			if !sel[i] || math.IsNaN(x) {
				continue
			}
			n++
			sum += x
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
		mean, variance := missing, missing
		if n > 0 {
			mean = sum / float64(n)
		}
		if n > 1 {
			ss := 0.0
			for i, x := range v.vals {
				if sel[i] && !math.IsNaN(x) {
					ss += (x - mean) * (x - mean)
				}
			}
			variance = ss / float64(n-1)
		}
		sd := math.Sqrt(variance)
		if n == 0 {
			lo, hi = missing, missing
		}
		if !meanonly {
			if n == 0 {
				s.printf("%12s |%11s\n", abbrevName(v.name, 12), "0")
			} else {
				s.printf("%12s |%11s%12s%12s%11s%11s\n", abbrevName(v.name, 12), commas(n),
					formatCell(mean, 8), cellOrBlank(sd, n > 1), formatCell(lo, 9), formatCell(hi, 9))
			}
		}
		s.rres = map[string]value{
			"N": num(float64(n)), "sum_w": num(float64(n)), "mean": num(mean), "Var": num(variance),
			"sd": num(sd), "min": num(lo), "max": num(hi), "sum": num(sum),
		}
	}
	return nil
}

// cellOrBlank is formatCell(v, 8), or blank when ok is false (a standard
// deviation of one observation).
func cellOrBlank(v float64, ok bool) string {
	if !ok {
		return ""
	}
	return formatCell(v, 8)
}

// abbrevName shortens a variable name to width characters as Stata's tables
// do, with a ~ in the middle.
func abbrevName(name string, width int) string {
	if len(name) <= width {
		return name
	}
	return name[:width-3] + "~" + name[len(name)-2:]
}

// list is `list [varlist] [if] [in]`: the observations in Stata's boxed
// table.
func (s *session) list(args string) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	vars, e := s.data.varlist(q.main)
	if e != nil {
		return e
	}
	var rows []int
	for i := 0; i < s.data.n; i++ {
		ok, e := q.selects(s, i)
		if e != nil {
			return e
		}
		if ok {
			rows = append(rows, i)
		}
	}
	if len(rows) == 0 || len(vars) == 0 {
		return nil
	}
	widths := make([]int, len(vars))
	for j, v := range vars {
		widths[j] = len(abbrevName(v.name, 12))
		for _, i := range rows {
			widths[j] = max(widths[j], len(formatCell(v.vals[i], 9)))
		}
	}
	inner := 2 + 3*(len(widths)-1)
	for _, w := range widths {
		inner += w
	}
	numW := max(len(strconv.Itoa(s.data.n)), 3)
	pad := strings.Repeat(" ", numW+2)
	line := func(l, fill, r string) string { return pad + l + strings.Repeat(fill, inner) + r + "\n" }
	row := func(cells func(j int) string) string {
		parts := make([]string, len(widths))
		for j, w := range widths {
			parts[j] = fmt.Sprintf("%*s", w, cells(j))
		}
		return "| " + strings.Join(parts, "   ") + " |\n"
	}
	var b strings.Builder
	b.WriteString("\n" + line("+", "-", "+"))
	b.WriteString(pad + row(func(j int) string { return abbrevName(vars[j].name, 12) }))
	b.WriteString(line("|", "-", "|"))
	for _, i := range rows {
		fmt.Fprintf(&b, "%*d. ", numW, i+1)
		b.WriteString(row(func(j int) string { return formatCell(vars[j].vals[i], 9) }))
	}
	b.WriteString(line("+", "-", "+"))
	s.print(b.String())
	return nil
}

// refuseChanged is Stata's refusal to replace data that changed since they
// were last saved, unless the command has the clear option.
func (s *session) refuseChanged(opts []option) *stataError {
	if _, ok := findOption(opts, "clear", 5); !ok && s.data.changed {
		return errorf(4, "no; dataset in memory has changed since last saved")
	}
	return nil
}

// sysuse is `sysuse auto [, clear]`, the only dataset shipped.
func (s *session) sysuse(args string) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	name, _, _ := fileArg(q.main)
	name = strings.TrimSuffix(name, ".dta")
	if name != "auto" {
		return errorf(601, "file \"%s.dta\" not found", name)
	}
	if e := s.refuseChanged(q.opts); e != nil {
		return e
	}
	s.data = autoData()
	s.print("(" + s.data.label + ")\n")
	return nil
}

// autoData stands in for Stata's auto.dta: 74 cars with price, mpg, rep78
// (5 missing), weight, length and foreign (22 foreign cars), as in the real
// file. Simplification: the values are made up by a fixed formula (the same
// every time, within the real ranges), not the real ones, and the string
// variable make is left out.
func autoData() dataset {
	const n = 74
	cols := map[string][]float64{}
	names := []string{"price", "mpg", "rep78", "weight", "length", "foreign"}
	for _, name := range names {
		cols[name] = make([]float64, n)
	}
	seed := uint32(1978)
	next := func() float64 { // a small LCG: the same values on every platform
		seed = seed*1664525 + 1013904223
		return float64(seed>>8) / float64(1<<24)
	}
	for i := 0; i < n; i++ {
		weight := math.Round(1760 + 3080*next())
		cols["weight"][i] = weight
		cols["length"][i] = math.Round(142 + (weight-1760)/3080*91)
		cols["mpg"][i] = math.Max(12, math.Min(41, math.Round(41-(weight-1760)/3080*27+4*next()-2)))
		cols["price"][i] = math.Round(3291 + 12615*math.Pow(next(), 2.5))
		cols["rep78"][i] = float64(1 + int(5*next()))
		if i%14 == 3 && i < 70 {
			cols["rep78"][i] = missing
		}
		if i >= 52 {
			cols["foreign"][i] = 1
		}
	}
	d := dataset{n: n, source: "auto.dta", label: "1978 automobile data"}
	for _, name := range names {
		d.vars = append(d.vars, &variable{name: name, vals: cols[name]})
	}
	return d
}

// dataMagic starts a dataset file written by save. Simplification: the file
// is not a Stata .dta file but the stand-in's own text format: this line, a
// line of variable names, and a line of values per observation ("." for
// missing), separated by spaces.
const dataMagic = "stata-standin dataset 1"

// dtaName adds .dta to a file name that has no extension, as save and use
// do.
func dtaName(name string) string {
	if filepath.Ext(name) == "" {
		return name + ".dta"
	}
	return name
}

// save is `save "file" [, replace]`.
func (s *session) save(args string) *stataError {
	main, opts := splitOptions(args)
	name, rest, ok := fileArg(main)
	if !ok || strings.TrimSpace(rest) != "" {
		return errSyntax()
	}
	if name == "" {
		name = s.data.source
	}
	if name == "" {
		return errorf(100, "invalid file specification")
	}
	name = dtaName(name)
	if len(s.data.vars) == 0 {
		return errorf(111, "no variables defined")
	}
	if _, err := os.Stat(name); err == nil && !hasOption(opts, "replace") {
		return errorf(602, "file %s already exists", name)
	}
	var b strings.Builder
	b.WriteString(dataMagic + "\n")
	for j, v := range s.data.vars {
		if j > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v.name)
	}
	b.WriteByte('\n')
	for i := 0; i < s.data.n; i++ {
		for j, v := range s.data.vars {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(formatMacroNumber(v.vals[i]))
		}
		b.WriteByte('\n')
	}
	if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
		return errorf(603, "file %s could not be opened", name)
	}
	s.data.source = name
	s.data.changed = false
	s.printf("file %s saved\n", name)
	return nil
}

// use is `use "file" [, clear]` for files written by save.
func (s *session) use(args string) *stataError {
	main, opts := splitOptions(args)
	name, rest, ok := fileArg(main)
	if !ok || name == "" || strings.TrimSpace(rest) != "" {
		return errSyntax()
	}
	name = dtaName(name)
	if e := s.refuseChanged(parseOptions(opts)); e != nil {
		return e
	}
	f, err := os.Open(name)
	if err != nil {
		return errorf(601, "file %s not found", name)
	}
	defer f.Close()
	notStata := errorf(610, "file %s not Stata format", name)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<26)
	if !sc.Scan() || sc.Text() != dataMagic || !sc.Scan() {
		return notStata
	}
	d := dataset{source: name}
	for _, n := range strings.Fields(sc.Text()) {
		d.vars = append(d.vars, &variable{name: n})
	}
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != len(d.vars) {
			return notStata
		}
		for j, f := range fields {
			x := missing
			if f != "." {
				if x, err = strconv.ParseFloat(f, 64); err != nil {
					return notStata
				}
			}
			d.vars[j].vals = append(d.vars[j].vals, x)
		}
		d.n++
	}
	if sc.Err() != nil {
		return errorf(603, "file %s could not be opened", name)
	}
	s.data = d
	return nil
}
