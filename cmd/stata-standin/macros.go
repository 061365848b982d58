package main

import "strings"

// expandMacros replaces the macros in a command line, as Stata does before it
// runs each line: `name' by the local macro of the running do-file (or the
// console), `r(name)' by a stored result, `=exp' by the value of exp. An
// undefined macro is empty. Nested macros expand from the inside out, so
// that a macro's name may itself come from a macro. A backtick that opens a compound quote (`")
// is not a macro. Then global macros, $name and ${name}, are replaced by their
// values (a $ not followed by a name stays as it is).
func (s *session) expandMacros(line string) (string, *stataError) {
	limit := len(line)
	for {
		open := strings.LastIndexByte(line[:limit], '`')
		if open < 0 {
			return s.expandGlobals(line), nil
		}
		limit = open
		if open+1 < len(line) && line[open+1] == '"' {
			continue // compound quote
		}
		end := strings.IndexByte(line[open+1:], '\'')
		if end < 0 {
			continue
		}
		end += open + 1
		val, e := s.macroValue(line[open+1 : end])
		if e != nil {
			return "", e
		}
		line = line[:open] + val + line[end+1:]
		limit = len(line)
	}
}

// macroValue is the text a macro expands to.
func (s *session) macroValue(name string) (string, *stataError) {
	switch {
	case strings.HasPrefix(name, "="):
		v, e := s.evalExpr(name[1:])
		if e != nil {
			return "", e
		}
		if v.isStr {
			return v.s, nil
		}
		return formatMacroNumber(v.n), nil
	case strings.HasPrefix(name, "r(") && strings.HasSuffix(name, ")"):
		v, ok := s.rres[strings.TrimSpace(name[2:len(name)-1])]
		switch {
		case !ok:
			return "", nil
		case v.isStr:
			return v.s, nil
		}
		return formatMacroNumber(v.n), nil
	case strings.HasPrefix(name, "e(") && strings.HasSuffix(name, ")"):
		return "", nil
	}
	return s.frames[len(s.frames)-1][name], nil
}

// expandGlobals replaces $name and ${name} by the global macro's value.
func (s *session) expandGlobals(line string) string {
	if !strings.Contains(line, "$") {
		return line
	}
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] != '$' {
			b.WriteByte(line[i])
			continue
		}
		rest := line[i+1:]
		if strings.HasPrefix(rest, "{") {
			if end := strings.IndexByte(rest, '}'); end > 0 && isName(rest[1:end]) {
				b.WriteString(s.globals[rest[1:end]])
				i += end + 1
				continue
			}
		}
		n := 0
		for n < len(rest) && isNameByte(rest[n], n > 0) {
			n++
		}
		if n == 0 {
			b.WriteByte('$')
			continue
		}
		b.WriteString(s.globals[rest[:n]])
		i += n
	}
	return b.String()
}
