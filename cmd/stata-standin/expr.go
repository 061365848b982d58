package main

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// A value is the result of an expression: a number (NaN is Stata's missing
// value, shown as ".") or a string.
type value struct {
	n     float64
	s     string
	isStr bool
}

// missing is Stata's system missing value, ".".
var missing = math.NaN()

// num returns the numeric value v; infinities (1/0) become missing, as Stata
// has no infinity.
func num(v float64) value {
	if math.IsInf(v, 0) {
		v = missing
	}
	return value{n: v}
}

// str returns the string value s.
func str(s string) value { return value{s: s, isStr: true} }

// truth returns 1 for true and 0 for false.
func truth(b bool) value {
	if b {
		return value{n: 1}
	}
	return value{n: 0}
}

// An evalCtx is where an expression is evaluated: a session, and the
// observation (0-based) whose variable values it sees. display and scalar
// see the first observation, as in Stata.
type evalCtx struct {
	s   *session
	obs int
}

// evalCtx returns the context of observation obs.
func (s *session) evalCtx(obs int) *evalCtx { return &evalCtx{s: s, obs: obs} }

// An expr is a parsed expression, evaluated once per observation.
type expr func(c *evalCtx) (value, *stataError)

// evalExpr parses and evaluates an expression that must fill all of src,
// in the context of the first observation.
func (s *session) evalExpr(src string) (value, *stataError) {
	ex, e := s.parseFullExpr(src)
	if e != nil {
		return value{}, e
	}
	return ex(s.evalCtx(0))
}

// evalNumber is evalExpr for an expression that must be numeric.
func (s *session) evalNumber(src string) (float64, *stataError) {
	v, e := s.evalExpr(src)
	if e != nil {
		return 0, e
	}
	if v.isStr {
		return 0, errTypeMismatch()
	}
	return v.n, nil
}

// parseFullExpr parses an expression that must fill all of src.
func (s *session) parseFullExpr(src string) (expr, *stataError) {
	ex, rest, e := parseExpr(src)
	if e != nil {
		return nil, e
	}
	if strings.TrimSpace(rest) != "" {
		return nil, errSyntax()
	}
	return ex, nil
}

// errTypeMismatch is Stata's error for a string where a number belongs or
// the other way round.
func errTypeMismatch() *stataError { return errorf(109, "type mismatch") }

// An exprParser parses Stata expressions by recursive descent. Precedence,
// from low to high: |, &, relations (== != ~= < <= > >=), + -, * /, unary
// minus, ^, ! (as in [U] 13.2.5 the operators bind in that order).
type exprParser struct {
	src string
	pos int
}

// parseExpr parses the longest expression at the start of src and returns it
// with the text after it (display takes several expressions in a row).
func parseExpr(src string) (expr, string, *stataError) {
	p := &exprParser{src: src}
	ex, e := p.or()
	if e != nil {
		return nil, "", e
	}
	return ex, p.src[p.pos:], nil
}

// skip moves past blanks.
func (p *exprParser) skip() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// peek returns the text at the current position after blanks.
func (p *exprParser) peek() string {
	p.skip()
	return p.src[p.pos:]
}

// accept consumes op if the text continues with it (and, for single-character
// operators that prefix longer ones, not with one of those).
func (p *exprParser) accept(op string, notBefore ...string) bool {
	rest := p.peek()
	if !strings.HasPrefix(rest, op) {
		return false
	}
	for _, nb := range notBefore {
		if strings.HasPrefix(rest, nb) {
			return false
		}
	}
	p.pos += len(op)
	return true
}

// binary builds the expression applying op to two operands.
func binary(op string, l, r expr) expr {
	return func(c *evalCtx) (value, *stataError) {
		a, e := l(c)
		if e != nil {
			return value{}, e
		}
		b, e := r(c)
		if e != nil {
			return value{}, e
		}
		return applyBinary(op, a, b)
	}
}

// applyBinary applies a binary operator to two values.
func applyBinary(op string, a, b value) (value, *stataError) {
	switch op {
	case "|", "&":
		if a.isStr || b.isStr {
			return value{}, errTypeMismatch()
		}
		if op == "|" {
			return truth(a.n != 0 || b.n != 0), nil
		}
		return truth(a.n != 0 && b.n != 0), nil
	case "==", "!=", "~=", "<", "<=", ">", ">=":
		if a.isStr != b.isStr {
			return value{}, errTypeMismatch()
		}
		c := strings.Compare(a.s, b.s)
		if !a.isStr {
			c = compareNumbers(a.n, b.n)
		}
		switch op {
		case "==":
			return truth(c == 0), nil
		case "!=", "~=":
			return truth(c != 0), nil
		case "<":
			return truth(c < 0), nil
		case "<=":
			return truth(c <= 0), nil
		case ">":
			return truth(c > 0), nil
		default:
			return truth(c >= 0), nil
		}
	case "+":
		if a.isStr && b.isStr {
			return str(a.s + b.s), nil
		}
	}
	if a.isStr || b.isStr {
		return value{}, errTypeMismatch()
	}
	switch op {
	case "+":
		return num(a.n + b.n), nil
	case "-":
		return num(a.n - b.n), nil
	case "*":
		return num(a.n * b.n), nil
	case "/":
		return num(a.n / b.n), nil
	default: // "^"
		return num(math.Pow(a.n, b.n)), nil
	}
}

// compareNumbers orders numbers as Stata does: missing is greater than every
// number and equal to itself.
func compareNumbers(a, b float64) int {
	am, bm := math.IsNaN(a), math.IsNaN(b)
	switch {
	case am && bm:
		return 0
	case am:
		return 1
	case bm:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// binOp is a binary operator of one precedence level: its token, and the
// longer tokens that start with it and are not it (a comment after /).
type binOp struct {
	tok       string
	notBefore []string
}

// leftAssoc parses operand (op operand)..., left to right, for the
// operators ops of one precedence level.
func (p *exprParser) leftAssoc(operand func() (expr, *stataError), ops ...binOp) (expr, *stataError) {
	l, e := operand()
	for e == nil {
		i := slices.IndexFunc(ops, func(o binOp) bool { return p.accept(o.tok, o.notBefore...) })
		if i < 0 {
			break
		}
		var r expr
		if r, e = operand(); e == nil {
			l = binary(ops[i].tok, l, r)
		}
	}
	return l, e
}

// or parses a | b | ...
func (p *exprParser) or() (expr, *stataError) { return p.leftAssoc(p.and, binOp{tok: "|"}) }

// and parses a & b & ...
func (p *exprParser) and() (expr, *stataError) { return p.leftAssoc(p.relation, binOp{tok: "&"}) }

// relation parses comparisons; the two-character operators are tried
// before the one-character ones they start with.
func (p *exprParser) relation() (expr, *stataError) {
	return p.leftAssoc(p.additive, binOp{tok: "=="}, binOp{tok: "!="}, binOp{tok: "~="},
		binOp{tok: "<="}, binOp{tok: ">="}, binOp{tok: "<"}, binOp{tok: ">"})
}

// additive parses a + b - c ...
func (p *exprParser) additive() (expr, *stataError) {
	return p.leftAssoc(p.multiplicative, binOp{tok: "+"}, binOp{tok: "-"})
}

// multiplicative parses a * b / c ...
func (p *exprParser) multiplicative() (expr, *stataError) {
	return p.leftAssoc(p.negation, binOp{tok: "*"}, binOp{tok: "/", notBefore: []string{"//", "/*"}})
}

// negation parses unary minus (and plus).
func (p *exprParser) negation() (expr, *stataError) {
	switch {
	case p.accept("-"):
		x, e := p.negation()
		if e != nil {
			return nil, e
		}
		return func(c *evalCtx) (value, *stataError) {
			v, e := x(c)
			if e != nil {
				return value{}, e
			}
			if v.isStr {
				return value{}, errTypeMismatch()
			}
			return num(-v.n), nil
		}, nil
	case p.accept("+"):
		return p.negation()
	}
	return p.power()
}

// power parses a ^ b (left-associative, as in Stata).
func (p *exprParser) power() (expr, *stataError) {
	l, e := p.not()
	for e == nil && p.accept("^") {
		var r expr
		if r, e = p.exponent(); e == nil {
			l = binary("^", l, r)
		}
	}
	return l, e
}

// exponent parses the right operand of ^: an operand with optional unary
// minus (2^-1), but not a further ^, which applies to the result (left
// associativity: 2^3^2 is 64).
func (p *exprParser) exponent() (expr, *stataError) {
	if p.accept("-") {
		x, e := p.exponent()
		if e != nil {
			return nil, e
		}
		return binary("-", constant(num(0)), x), nil
	}
	return p.not()
}

// not parses !x and ~x.
func (p *exprParser) not() (expr, *stataError) {
	if p.accept("!", "!=") || p.accept("~", "~=") {
		x, e := p.not()
		if e != nil {
			return nil, e
		}
		return func(c *evalCtx) (value, *stataError) {
			v, e := x(c)
			if e != nil {
				return value{}, e
			}
			if v.isStr {
				return value{}, errTypeMismatch()
			}
			return truth(v.n == 0), nil
		}, nil
	}
	return p.primary()
}

// constant returns the expression that always has value v.
func constant(v value) expr {
	return func(*evalCtx) (value, *stataError) { return v, nil }
}

// primary parses a number, a string, a parenthesised expression, a name
// (variable, scalar or system variable such as _n, _N, _rc), a subscripted
// variable x[exp], or a function call.
func (p *exprParser) primary() (expr, *stataError) {
	rest := p.peek()
	switch {
	case rest == "":
		return nil, errSyntax()
	case rest[0] == '(':
		p.pos++
		x, e := p.or()
		if e != nil {
			return nil, e
		}
		if !p.accept(")") {
			return nil, errorf(132, "too few ')' or ']'")
		}
		return x, nil
	case strings.HasPrefix(rest, "`\""):
		end := strings.Index(rest, "\"'")
		if end < 0 {
			return nil, errorf(132, "too few quotes")
		}
		p.pos += end + 2
		return constant(str(rest[2:end])), nil
	case rest[0] == '"':
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, errorf(132, "too few quotes")
		}
		p.pos += end + 2
		return constant(str(rest[1 : end+1])), nil
	case rest[0] == '.' && (len(rest) == 1 || !isDigit(rest[1])):
		// ".", or an extended missing value ".a" to ".z".
		p.pos++
		if len(rest) > 1 && rest[1] >= 'a' && rest[1] <= 'z' && (len(rest) == 2 || !isNameByte(rest[2], true)) {
			p.pos++
		}
		return constant(num(missing)), nil
	case isDigit(rest[0]) || rest[0] == '.':
		i := 0
		for i < len(rest) && (isDigit(rest[i]) || rest[i] == '.') {
			i++
		}
		if i < len(rest) && (rest[i] == 'e' || rest[i] == 'E') {
			j := i + 1
			if j < len(rest) && (rest[j] == '+' || rest[j] == '-') {
				j++
			}
			if j < len(rest) && isDigit(rest[j]) {
				for j < len(rest) && isDigit(rest[j]) {
					j++
				}
				i = j
			}
		}
		v, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return nil, errSyntax()
		}
		p.pos += i
		return constant(num(v)), nil
	case isNameByte(rest[0], false):
		i := 0
		for i < len(rest) && isNameByte(rest[i], i > 0) {
			i++
		}
		name := rest[:i]
		p.pos += i
		switch {
		case strings.HasPrefix(p.src[p.pos:], "("):
			p.pos++
			return p.call(name)
		case strings.HasPrefix(p.src[p.pos:], "["):
			p.pos++
			idx, e := p.or()
			if e != nil {
				return nil, e
			}
			if !p.accept("]") {
				return nil, errorf(132, "too few ')' or ']'")
			}
			return subscript(name, idx), nil
		}
		return func(c *evalCtx) (value, *stataError) { return c.lookup(name, c.obs) }, nil
	}
	return nil, errSyntax()
}

// isDigit reports whether c is a decimal digit.
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// subscript is name[idx]: the variable's value in observation idx (1-based),
// missing outside the data.
func subscript(name string, idx expr) expr {
	return func(c *evalCtx) (value, *stataError) {
		i, e := idx(c)
		if e != nil {
			return value{}, e
		}
		if i.isStr {
			return value{}, errTypeMismatch()
		}
		if name == "_n" || name == "_N" {
			return value{}, errSyntax()
		}
		if math.IsNaN(i.n) {
			return c.lookup(name, -1)
		}
		return c.lookup(name, int(i.n)-1)
	}
}

// lookup is the value of a name in observation obs (0-based): the system
// variables _n, _N, _rc and _pi, then a variable (abbreviations allowed), then
// a scalar, as Stata looks names up.
func (c *evalCtx) lookup(name string, obs int) (value, *stataError) {
	s := c.s
	switch name {
	case "_n":
		return num(float64(obs + 1)), nil
	case "_N":
		return num(float64(s.data.n)), nil
	case "_rc":
		return num(float64(s.rc)), nil
	case "_pi":
		return num(math.Pi), nil
	}
	if v, e := s.data.lookupVar(name); e == nil {
		if obs < 0 || obs >= s.data.n {
			return num(missing), nil
		}
		return num(v.vals[obs]), nil
	} else if e.rc != 111 {
		return value{}, e
	}
	if v, ok := s.scalars[name]; ok {
		return v, nil
	}
	return value{}, errorf(111, "%s not found", name)
}

// call parses the arguments of a function call whose "(" has been read and
// returns the call. r(name), e(name) and scalar(name) take a name; the other
// functions take expressions.
func (p *exprParser) call(name string) (expr, *stataError) {
	switch name {
	case "r", "e", "scalar":
		rest := p.src[p.pos:]
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return nil, errorf(132, "too few ')' or ']'")
		}
		key := strings.TrimSpace(rest[:end])
		p.pos += end + 1
		return func(c *evalCtx) (value, *stataError) {
			switch name {
			case "r":
				if v, ok := c.s.rres[key]; ok {
					return v, nil
				}
			case "scalar":
				if v, ok := c.s.scalars[key]; ok {
					return v, nil
				}
			}
			return num(missing), nil
		}, nil
	}
	var args []expr
	if !p.accept(")") {
		for {
			a, e := p.or()
			if e != nil {
				return nil, e
			}
			args = append(args, a)
			if p.accept(")") {
				break
			}
			if !p.accept(",") {
				return nil, errorf(132, "too few ')' or ']'")
			}
		}
	}
	f, ok := functions[name]
	if !ok {
		return nil, errorf(133, "unknown function %s()", name)
	}
	if len(args) < f.min || (f.max >= 0 && len(args) > f.max) {
		return nil, errorf(198, "invalid syntax")
	}
	return func(c *evalCtx) (value, *stataError) {
		vals := make([]value, len(args))
		for i, a := range args {
			v, e := a(c)
			if e != nil {
				return value{}, e
			}
			vals[i] = v
		}
		return f.fn(c, vals)
	}, nil
}

// A function is one of Stata's functions: how many arguments it takes (max
// -1: any number) and what it computes.
type function struct {
	min, max int
	fn       func(c *evalCtx, a []value) (value, *stataError)
}

// numeric1 makes a function of one number; missing in, missing out.
func numeric1(f func(float64) float64) function {
	return function{1, 1, func(_ *evalCtx, a []value) (value, *stataError) {
		if a[0].isStr {
			return value{}, errTypeMismatch()
		}
		return num(f(a[0].n)), nil
	}}
}

// numbers returns the numeric arguments, or a type mismatch.
func numbers(a []value) ([]float64, *stataError) {
	out := make([]float64, len(a))
	for i, v := range a {
		if v.isStr {
			return nil, errTypeMismatch()
		}
		out[i] = v.n
	}
	return out, nil
}

// functions are the functions expressions may call (a small part of
// Stata's).
var functions = map[string]function{
	"sqrt":  numeric1(math.Sqrt),
	"ln":    numeric1(math.Log),
	"log":   numeric1(math.Log),
	"log10": numeric1(math.Log10),
	"exp":   numeric1(math.Exp),
	"abs":   numeric1(math.Abs),
	"int":   numeric1(math.Trunc),
	"trunc": numeric1(math.Trunc),
	"floor": numeric1(math.Floor),
	"ceil":  numeric1(math.Ceil),
	"round": {1, 2, func(_ *evalCtx, a []value) (value, *stataError) {
		x, e := numbers(a)
		if e != nil {
			return value{}, e
		}
		unit := 1.0
		if len(x) == 2 {
			unit = x[1]
		}
		return num(math.Floor(x[0]/unit+0.5) * unit), nil
	}},
	"mod": {2, 2, func(_ *evalCtx, a []value) (value, *stataError) {
		x, e := numbers(a)
		if e != nil {
			return value{}, e
		}
		return num(x[0] - x[1]*math.Floor(x[0]/x[1])), nil
	}},
	"min": {1, -1, func(_ *evalCtx, a []value) (value, *stataError) { return extreme(a, -1) }},
	"max": {1, -1, func(_ *evalCtx, a []value) (value, *stataError) { return extreme(a, 1) }},
	"missing": {1, -1, func(_ *evalCtx, a []value) (value, *stataError) {
		for _, v := range a {
			if (v.isStr && v.s == "") || (!v.isStr && math.IsNaN(v.n)) {
				return truth(true), nil
			}
		}
		return truth(false), nil
	}},
	"cond": {3, 3, func(_ *evalCtx, a []value) (value, *stataError) {
		if a[0].isStr {
			return value{}, errTypeMismatch()
		}
		if a[0].n != 0 {
			return a[1], nil
		}
		return a[2], nil
	}},
	"inrange": {3, 3, func(_ *evalCtx, a []value) (value, *stataError) {
		x, e := numbers(a)
		if e != nil {
			return value{}, e
		}
		return truth(compareNumbers(x[0], x[1]) >= 0 && compareNumbers(x[0], x[2]) <= 0), nil
	}},
	"inlist": {2, -1, func(_ *evalCtx, a []value) (value, *stataError) {
		for _, v := range a[1:] {
			if v.isStr != a[0].isStr {
				return value{}, errTypeMismatch()
			}
			if v == a[0] || (!v.isStr && compareNumbers(v.n, a[0].n) == 0) {
				return truth(true), nil
			}
		}
		return truth(false), nil
	}},
	"runiform": {0, 0, func(c *evalCtx, _ []value) (value, *stataError) {
		return num(c.s.rng.Float64()), nil
	}},
	"rnormal": {0, 2, func(c *evalCtx, a []value) (value, *stataError) {
		x, e := numbers(a)
		if e != nil {
			return value{}, e
		}
		m, sd := 0.0, 1.0
		if len(x) >= 1 {
			m = x[0]
		}
		if len(x) == 2 {
			sd = x[1]
		}
		return num(m + sd*c.s.rng.NormFloat64()), nil
	}},
	"string": {1, 1, func(_ *evalCtx, a []value) (value, *stataError) {
		if a[0].isStr {
			return value{}, errTypeMismatch()
		}
		return str(formatNumber(a[0].n)), nil
	}},
	"real": {1, 1, func(_ *evalCtx, a []value) (value, *stataError) {
		if !a[0].isStr {
			return value{}, errTypeMismatch()
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(a[0].s), 64)
		if err != nil {
			return num(missing), nil
		}
		return num(v), nil
	}},
	"strlen": stringFunc(func(s string) value { return num(float64(len(s))) }),
	"upper":  stringFunc(func(s string) value { return str(strings.ToUpper(s)) }),
	"lower":  stringFunc(func(s string) value { return str(strings.ToLower(s)) }),
	"strtrim": stringFunc(func(s string) value {
		return str(strings.TrimSpace(s))
	}),
}

// stringFunc makes a function of one string.
func stringFunc(f func(string) value) function {
	return function{1, 1, func(_ *evalCtx, a []value) (value, *stataError) {
		if !a[0].isStr {
			return value{}, errTypeMismatch()
		}
		return f(a[0].s), nil
	}}
}

// extreme is min (sign -1) or max (sign 1) of numbers, ignoring missing
// values as Stata's min() and max() do.
func extreme(a []value, sign int) (value, *stataError) {
	x, e := numbers(a)
	if e != nil {
		return value{}, e
	}
	best := missing
	for _, v := range x {
		if math.IsNaN(v) {
			continue
		}
		if math.IsNaN(best) || (sign < 0 && v < best) || (sign > 0 && v > best) {
			best = v
		}
	}
	return num(best), nil
}
