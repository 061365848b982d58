package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// defaultGraphName is the name a graph gets without name(): Stata's "Graph",
// which a new graph always replaces.
const defaultGraphName = "Graph"

// A graph is a graph in memory: what it plots and the data it plots, kept so
// that graph export can draw it later, as Stata keeps graphs.
type graph struct {
	kind   string // scatter, line or histogram
	xs, ys []float64
}

// graphs are the graphs in memory by name, and the name of the one drawn
// last (the one graph export exports without name()).
type graphs struct {
	byName  map[string]*graph
	current string
}

// addGraph stores g under the name given by the name() option, or as
// "Graph". A name in use is an error unless name(..., replace) says
// otherwise, as in Stata; "Graph" is always replaced.
func (s *session) addGraph(g *graph, opts []option) *stataError {
	name := defaultGraphName
	if o, ok := findOption(opts, "name", 4); ok {
		n, sub := splitOptions(o.arg)
		name = strings.TrimSpace(n)
		if !isName(name) {
			return errorf(198, "%s invalid name", name)
		}
		_, exists := s.graphs.byName[name]
		if exists && name != defaultGraphName && !hasOption(sub, "replace") {
			return errorf(110, "graph %s already exists", name)
		}
	}
	if s.graphs.byName == nil {
		s.graphs.byName = map[string]*graph{}
	}
	s.graphs.byName[name] = g
	s.graphs.current = name
	return nil
}

// plotData returns the values of the variables y and x in the observations
// that satisfy q, leaving out those where either is missing; no such
// observation is Stata's "no observations".
func (s *session) plotData(q qualified, yName, xName string) (ys, xs []float64, e *stataError) {
	y, e := s.data.lookupVar(yName)
	if e != nil {
		return nil, nil, e
	}
	x := y
	if xName != "" {
		if x, e = s.data.lookupVar(xName); e != nil {
			return nil, nil, e
		}
	}
	for i := 0; i < s.data.n; i++ {
		ok, e := q.selects(s, i)
		if e != nil {
			return nil, nil, e
		}
		if ok && !math.IsNaN(y.vals[i]) && !math.IsNaN(x.vals[i]) {
			ys = append(ys, y.vals[i])
			xs = append(xs, x.vals[i])
		}
	}
	if len(ys) == 0 {
		return nil, nil, errorf(2000, "no observations")
	}
	return ys, xs, nil
}

// twowayPlot is a twoway plot command of the given kind (scatter, line,
// connected, ...): `scatter y x [if] [in] [, name(n [, replace]) ...]`. With
// several y variables, the first is drawn. Options other than name() are
// accepted and ignored.
func (s *session) twowayPlot(kind, args string) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	vars := strings.Fields(q.main)
	if len(vars) < 2 {
		return errorf(100, "varlist required")
	}
	ys, xs, e := s.plotData(q, vars[0], vars[len(vars)-1])
	if e != nil {
		return e
	}
	return s.addGraph(&graph{kind: kind, xs: xs, ys: ys}, q.opts)
}

// twowayKinds are the twoway plot types the stand-in draws (all as points or
// lines).
var twowayKinds = map[string]string{
	"scatter": "scatter", "sc": "scatter", "line": "line", "connected": "line",
	"lfit": "line", "area": "line", "bar": "line", "spike": "line",
}

// twoway is `twoway plottype y x [, options]` and `twoway (plot) (plot) [,
// options]`; the first plot is drawn.
func (s *session) twoway(args string) *stataError {
	args = strings.TrimSpace(args)
	var plot, opts string
	if strings.HasPrefix(args, "(") {
		end := strings.IndexByte(args, ')')
		if end < 0 {
			return errorf(132, "too few ')' or ']'")
		}
		plot = args[1:end]
		if _, o := splitOptions(args[end+1:]); o != "" {
			opts = ", " + o
		}
	} else {
		main, o := splitOptions(args)
		plot = main
		if o != "" {
			opts = ", " + o
		}
	}
	word, rest := commandWord(strings.TrimSpace(plot))
	kind, ok := twowayKinds[word]
	if !ok {
		return errorf(198, "%s is not a twoway plot type", word)
	}
	pmain, popts := splitOptions(rest)
	if popts != "" && opts == "" {
		opts = ", " + popts
	}
	return s.twowayPlot(kind, pmain+opts)
}

// histogram is `histogram var [if] [in] [, bin(#) name(...)]`: it prints
// Stata's note on the bins and stores the graph.
func (s *session) histogram(args string) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	vars := strings.Fields(q.main)
	if len(vars) != 1 {
		return errSyntax()
	}
	vals, _, e := s.plotData(q, vars[0], "")
	if e != nil {
		return e
	}
	bins := int(math.Min(math.Sqrt(float64(len(vals))), 10*math.Log10(float64(len(vals)))))
	bins = max(bins, 1)
	if o, ok := findOption(q.opts, "bin", 3); ok {
		if v, e := s.evalNumber(o.arg); e == nil && v >= 1 {
			bins = int(v)
		}
	}
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	width := (hi - lo) / float64(bins)
	counts := make([]float64, bins)
	centers := make([]float64, bins)
	for i := range centers {
		centers[i] = lo + width*(float64(i)+0.5)
	}
	for _, v := range vals {
		i := bins - 1
		if width > 0 {
			i = min(int((v-lo)/width), bins-1)
		}
		counts[i]++
	}
	s.printf("(bin=%d, start=%s, width=%s)\n", bins, formatNumber(lo), formatNumber(width))
	return s.addGraph(&graph{kind: "histogram", xs: centers, ys: counts}, q.opts)
}

// graph is the graph command: graph twoway ..., graph dir [, memory], graph
// export, graph drop, graph display and graph close.
func (s *session) graph(args string) *stataError {
	sub, rest := commandWord(strings.TrimSpace(args))
	rest = strings.TrimSpace(rest)
	switch {
	case isAbbrev(sub, "twoway", 2):
		return s.twoway(rest)
	case twowayKinds[sub] != "":
		return s.twowayPlot(twowayKinds[sub], rest)
	case sub == "dir":
		return s.graphDir()
	case isAbbrev(sub, "export", 3):
		return s.graphExport(rest)
	case sub == "drop":
		return s.graphDrop(rest)
	case isAbbrev(sub, "display", 2):
		name := strings.TrimSpace(rest)
		if name == "" {
			name = s.graphs.current
		}
		if _, ok := s.graphs.byName[name]; !ok {
			return errorf(111, "graph %s not found", name)
		}
		s.graphs.current = name
		return nil
	case sub == "close":
		return nil
	}
	return errorf(198, "stata-standin: graph %s is not implemented", sub)
}

// graphNames returns the names of the graphs in memory, sorted.
func (s *session) graphNames() []string {
	names := make([]string, 0, len(s.graphs.byName))
	for n := range s.graphs.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// graphDir is `graph dir [, memory]`: it lists the graphs in memory and
// stores their names, separated by spaces, in r(list). Simplification: graph
// files (.gph) on disk are not listed.
func (s *session) graphDir() *stataError {
	names := s.graphNames()
	if len(names) > 0 {
		s.print("  " + strings.Join(names, "  ") + "\n")
	}
	s.rres = map[string]value{"list": str(strings.Join(names, " "))}
	return nil
}

// graphDrop is `graph drop _all` or `graph drop name [name ...]`.
func (s *session) graphDrop(args string) *stataError {
	names := strings.Fields(args)
	if len(names) == 0 {
		return errSyntax()
	}
	if len(names) == 1 && names[0] == "_all" {
		s.graphs = graphs{}
		return nil
	}
	for _, n := range names {
		if _, ok := s.graphs.byName[n]; !ok {
			return errorf(111, "graph %s not found", n)
		}
	}
	for _, n := range names {
		delete(s.graphs.byName, n)
		if s.graphs.current == n {
			s.graphs.current = ""
		}
	}
	return nil
}

// graphExport is `graph export "file.png" [, name(n) as(png) replace]`: it
// draws the graph as a small PNG. Only PNG is implemented.
func (s *session) graphExport(args string) *stataError {
	main, opts := splitOptions(args)
	file, rest, ok := fileArg(main)
	if !ok || file == "" || strings.TrimSpace(rest) != "" {
		return errSyntax()
	}
	o := parseOptions(opts)
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(file)), ".")
	if as, ok := findOption(o, "as", 2); ok {
		format = strings.ToLower(strings.TrimSpace(as.arg))
	}
	if format != "png" {
		return errorf(198, "stata-standin: graph export as %s is not implemented (only png)", format)
	}
	name := s.graphs.current
	if n, ok := findOption(o, "name", 4); ok {
		name = strings.TrimSpace(n.arg)
	}
	g, ok := s.graphs.byName[name]
	if !ok {
		if name == "" {
			return errorf(111, "no graphs in memory")
		}
		return errorf(111, "graph %s not found", name)
	}
	if _, replace := findOption(o, "replace", 7); !replace {
		if _, err := os.Stat(file); err == nil {
			return errorf(602, "file %s already exists", file)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, g.draw()); err != nil {
		return errorf(603, "file %s could not be opened", file)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		return errorf(603, "file %s could not be opened", file)
	}
	s.printf("file %s saved as PNG format\n", file)
	return nil
}

// Image size and colours of exported graphs: a small picture in the colours
// of Stata's s2color scheme (a light blue-grey background, navy marks).
const graphW, graphH, graphMargin = 64, 48, 6

var (
	graphBackground = color.RGBA{234, 242, 243, 255}
	graphAxis       = color.RGBA{64, 64, 64, 255}
	graphMark       = color.RGBA{26, 71, 111, 255}
)

// draw renders the graph: axes and the points (scatter), a polyline through
// them in x order (line) or bars (histogram).
func (g *graph) draw() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, graphW, graphH))
	for y := 0; y < graphH; y++ {
		for x := 0; x < graphW; x++ {
			img.Set(x, y, graphBackground)
		}
	}
	x0, y0 := graphMargin, graphH-graphMargin
	for x := x0; x < graphW-2; x++ {
		img.Set(x, y0, graphAxis)
	}
	for y := 2; y <= y0; y++ {
		img.Set(x0, y, graphAxis)
	}
	xlo, xhi := span(g.xs)
	ylo, yhi := span(g.ys)
	if g.kind == "histogram" {
		ylo = 0
	}
	px := func(v float64) int { return x0 + 2 + int((v-xlo)/(xhi-xlo)*float64(graphW-x0-6)) }
	py := func(v float64) int { return y0 - 1 - int((v-ylo)/(yhi-ylo)*float64(y0-4)) }
	switch g.kind {
	case "histogram":
		barW := max((graphW-x0-6)/max(len(g.xs), 1), 1)
		for i, c := range g.ys {
			left := x0 + 2 + i*barW
			for x := left; x < left+barW-1 && x < graphW; x++ {
				for y := py(c); y < y0; y++ {
					img.Set(x, y, graphMark)
				}
			}
		}
	case "line":
		idx := make([]int, len(g.xs))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return g.xs[idx[a]] < g.xs[idx[b]] })
		for k := 1; k < len(idx); k++ {
			a, b := idx[k-1], idx[k]
			line(img, px(g.xs[a]), py(g.ys[a]), px(g.xs[b]), py(g.ys[b]))
		}
	default:
		for i := range g.xs {
			x, y := px(g.xs[i]), py(g.ys[i])
			img.Set(x, y, graphMark)
			img.Set(x+1, y, graphMark)
			img.Set(x, y+1, graphMark)
			img.Set(x+1, y+1, graphMark)
		}
	}
	return img
}

// span returns the smallest and largest of vs, widened when they are equal
// so that a scale can divide by their difference.
func span(vs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if len(vs) == 0 {
		return 0, 1
	}
	if lo == hi {
		return lo - 1, hi + 1
	}
	return lo, hi
}

// line draws a straight line in the mark colour (Bresenham's algorithm).
func line(img *image.RGBA, x0, y0, x1, y1 int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	err := dx + dy
	for {
		img.Set(x0, y0, graphMark)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

// abs is the absolute value of an int.
func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
