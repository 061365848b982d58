package runner

import "testing"

func TestCountCommands(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want int
	}{
		{"empty", "", 0},
		{"blank lines", "\n  \n\t\n", 0},
		{"plain", "sysuse auto\nregress price mpg\n", 2},
		{"no final newline", "display 1\ndisplay 2", 2},
		{"star comments", "* a comment\n  * indented\ndisplay 1\n", 1},
		{"line comments", "// whole line\ndisplay 1 // trailing\n", 1},
		{"url is not a comment", "display \"http://x\"\n", 1},
		{"continuation", "regress price ///\n    mpg ///\n    weight\nsummarize\n", 2},
		{"continuation with comment", "regress price /// the outcome\n mpg\n", 1},
		{"block comment", "/* a\nlong\ncomment */\ndisplay 1 /* inline */\n", 1},
		{"block then code", "/* c */ display 1\n", 1},
		{"star comment continued", "* a comment ///\n still comment\ndisplay 1\n", 1},
		{"crlf", "display 1\r\ndisplay 2\r\n", 2},
		{"twenty", repeatLine("display 1\n", 20), 20},
	} {
		if got := countCommands(tc.src); got != tc.want {
			t.Errorf("%s: %d commands, want %d", tc.name, got, tc.want)
		}
	}
}

func repeatLine(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
