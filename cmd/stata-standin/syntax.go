package main

import (
	"strconv"
	"strings"
)

// topLevel calls f for each byte of s that is outside quotes and
// parentheses, with its index; f returns false to stop.
func topLevel(s string, f func(i int) bool) {
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case depth == 0:
			if !f(i) {
				return
			}
		}
	}
}

// splitOptions splits a command's arguments at the comma that starts its
// options (the first one outside quotes and parentheses).
func splitOptions(args string) (main, opts string) {
	cut := -1
	topLevel(args, func(i int) bool {
		if args[i] == ',' {
			cut = i
			return false
		}
		return true
	})
	if cut < 0 {
		return args, ""
	}
	return args[:cut], strings.TrimSpace(args[cut+1:])
}

// An option is one option of a command: its name and the text of its
// (argument), if any.
type option struct {
	name, arg string
	hasArg    bool
}

// parseOptions splits options into name or name(arg) items.
func parseOptions(opts string) []option {
	var out []option
	rest := strings.TrimSpace(opts)
	for rest != "" {
		i := 0
		for i < len(rest) && isNameByte(rest[i], true) {
			i++
		}
		if i == 0 {
			i = 1 // skip a stray character
			rest = strings.TrimSpace(rest[i:])
			continue
		}
		o := option{name: rest[:i]}
		rest = rest[i:]
		if strings.HasPrefix(rest, "(") {
			depth, end := 0, -1
			inQuote := false
			for j := 0; j < len(rest) && end < 0; j++ {
				switch c := rest[j]; {
				case c == '"':
					inQuote = !inQuote
				case inQuote:
				case c == '(':
					depth++
				case c == ')':
					depth--
					if depth == 0 {
						end = j
					}
				}
			}
			if end < 0 {
				end = len(rest)
			}
			o.arg, o.hasArg = rest[1:min(end, len(rest))], true
			rest = rest[min(end+1, len(rest)):]
		}
		out = append(out, o)
		rest = strings.TrimLeft(rest, " \t,")
	}
	return out
}

// findOption returns the option called name (or an abbreviation of it at
// least min characters long).
func findOption(opts []option, name string, min int) (option, bool) {
	for _, o := range opts {
		if isAbbrev(o.name, name, min) {
			return o, true
		}
	}
	return option{}, false
}

// hasOption reports whether the options text contains the option name.
func hasOption(opts, name string) bool {
	_, ok := findOption(parseOptions(opts), name, len(name))
	return ok
}

// A qualified is a command's arguments split into the main part, the if
// expression, the in range and the options.
type qualified struct {
	main     string
	cond     expr // nil without if
	from, to int  // the in range, 0-based and inclusive; to < 0 without in
	opts     []option
}

// parseQualified splits "main [if exp] [in range] [, options]".
func (s *session) parseQualified(args string) (qualified, *stataError) {
	q := qualified{to: -1}
	main, opts := splitOptions(args)
	q.opts = parseOptions(opts)
	ifAt, inAt := -1, -1
	topLevel(main, func(i int) bool {
		word := i == 0 || main[i-1] == ' ' || main[i-1] == '\t'
		if word && len(main) >= i+3 && (main[i+2] == ' ' || main[i+2] == '\t' || main[i+2] == '(') {
			switch main[i : i+2] {
			case "if":
				if ifAt < 0 {
					ifAt = i
				}
			case "in":
				if inAt < 0 {
					inAt = i
				}
			}
		}
		return true
	})
	end := len(main)
	if inAt >= 0 {
		r := strings.TrimSpace(main[inAt+2:])
		if ifAt > inAt {
			r = strings.TrimSpace(main[inAt+2 : ifAt])
		}
		from, to, e := s.parseRange(r)
		if e != nil {
			return q, e
		}
		q.from, q.to = from, to
		end = inAt
	}
	if ifAt >= 0 {
		c := main[ifAt+2:]
		if inAt > ifAt {
			c = main[ifAt+2 : inAt]
		}
		cond, e := s.parseFullExpr(c)
		if e != nil {
			return q, e
		}
		q.cond = cond
		end = min(end, ifAt)
	}
	q.main = strings.TrimSpace(main[:end])
	return q, nil
}

// parseRange parses an in range: #, #/#, with f and l for the first and last
// observations and negative numbers counting from the end.
func (s *session) parseRange(r string) (int, int, *stataError) {
	pos := func(t string) (int, bool) {
		switch t {
		case "f", "F":
			return 0, true
		case "l", "L":
			return s.data.n - 1, true
		}
		n, err := strconv.Atoi(t)
		if err != nil || n == 0 {
			return 0, false
		}
		if n < 0 {
			return s.data.n + n, true
		}
		return n - 1, true
	}
	a, b, found := strings.Cut(r, "/")
	from, ok := pos(strings.TrimSpace(a))
	to := from
	if ok && found {
		to, ok = pos(strings.TrimSpace(b))
	}
	if !ok {
		return 0, 0, errSyntax()
	}
	if from < 0 || to >= s.data.n || from > to {
		return 0, 0, errorf(198, "Obs. nos. out of range")
	}
	return from, to, nil
}

// selects reports whether observation i satisfies the if and in qualifiers.
func (q qualified) selects(s *session, i int) (bool, *stataError) {
	if q.to >= 0 && (i < q.from || i > q.to) {
		return false, nil
	}
	if q.cond == nil {
		return true, nil
	}
	v, e := q.cond(s.evalCtx(i))
	if e != nil {
		return false, e
	}
	if v.isStr {
		return false, errTypeMismatch()
	}
	return v.n != 0, nil
}
