package main

import "strings"

// A statement is one logical command of a do-file: the physical lines it spans
// (for the echo) and the command text left after comments and continuations
// are removed. An empty cmd is a comment or a blank line.
type statement struct {
	lines []string
	cmd   string
}

// parse splits a do-file into statements, removing comments and joining ///
// continuations. An unterminated /* comment runs to the end of the file, as in
// Stata.
func parse(src string) []statement {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	lines := strings.Split(src, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var (
		out     []statement
		cur     statement
		inBlock bool // inside /* ... */
		pending bool // cur continues on the next line
	)
	var cmd strings.Builder
	for _, line := range lines {
		cur.lines = append(cur.lines, line)
		code, block, cont := stripComments(line, inBlock, !pending)
		inBlock = block
		if cmd.Len() > 0 && code != "" {
			cmd.WriteByte(' ')
		}
		cmd.WriteString(code)
		if inBlock || cont {
			pending = true
			continue
		}
		pending = false
		cur.cmd = strings.TrimSpace(cmd.String())
		out = append(out, cur)
		cur = statement{}
		cmd.Reset()
	}
	if len(cur.lines) > 0 {
		cur.cmd = strings.TrimSpace(cmd.String())
		out = append(out, cur)
	}
	return out
}

// stripComments removes the comments from one physical line. inBlock says the
// line starts inside a /* comment; first says it starts a new statement (where
// * and // comment out the whole line). It returns the code left, whether the
// line ends inside a /* comment, and whether it ends with a /// continuation.
// Comment markers inside double-quoted strings are not comments.
func stripComments(line string, inBlock, first bool) (code string, block, cont bool) {
	if first && !inBlock {
		t := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(t, "*") || (strings.HasPrefix(t, "//") && !strings.HasPrefix(t, "///")) {
			return "", false, false
		}
	}
	var b strings.Builder
	inQuote := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if inBlock {
			if strings.HasPrefix(line[i:], "*/") {
				inBlock = false
				i++
			}
			continue
		}
		if c == '"' {
			inQuote = !inQuote
		}
		if !inQuote {
			if strings.HasPrefix(line[i:], "/*") {
				inBlock = true
				i++
				continue
			}
			if strings.HasPrefix(line[i:], "//") && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
				if strings.HasPrefix(line[i:], "///") {
					return strings.TrimSpace(b.String()), false, true
				}
				break
			}
		}
		b.WriteByte(c)
	}
	return strings.TrimSpace(b.String()), inBlock, false
}
