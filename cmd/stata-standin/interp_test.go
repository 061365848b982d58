package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// consoleRun types lines at an in-process console (no signals, sleeps that
// return at once) and returns what it writes.
func consoleRun(t *testing.T, lines ...string) string {
	t.Helper()
	var b bytes.Buffer
	s := newSession(&b, newBreaker())
	s.sleepFn = func(time.Duration) {}
	if err := s.consoleLoop(strings.NewReader(strings.Join(lines, "\n")+"\n"), s.brk); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// result returns what one command prints at the console, without its echo
// and the blank line after it.
func result(t *testing.T, setup []string, cmd string) string {
	t.Helper()
	out := consoleRun(t, append(setup, `display "--mark--"`, cmd)...)
	_, after, ok := strings.Cut(out, "--mark--\n\n. "+cmd+"\n")
	if !ok {
		t.Fatalf("no echo of %q in:\n%s", cmd, out)
	}
	return strings.TrimSuffix(after, "\n")
}

// check runs table cases of command and expected output (each after the
// same setup lines).
func check(t *testing.T, setup []string, cases [][2]string) {
	t.Helper()
	for _, c := range cases {
		if got := result(t, setup, c[0]); got != c[1] {
			t.Errorf("%s\n got: %q\nwant: %q", c[0], got, c[1])
		}
	}
}

func TestExpressions(t *testing.T) {
	check(t, nil, [][2]string{
		{"display 1+2*3", "7\n"},
		{"display (1+2)*3", "9\n"},
		{"display 2^3^2", "64\n"},
		{"display -2^2", "-4\n"},
		{"display 7/2 \" \" 1/3", "3.5 .33333333\n"},
		{"display 1/0", ".\n"},
		{"display . == . \" \" (. > 1e300) \" \" (1 < .)", "1 1 1\n"},
		{`display "a" + "b" " " ("a" == "a") " " ("a" < "b")`, "ab 1 1\n"},
		{"display !0 \" \" !5 \" \" (3 > 2 & 2 > 3) \" \" (1 | 0) \" \" (2 != 3)", "1 0 0 1 1\n"},
		{"display mod(7,3) \" \" round(2.567, .01) \" \" sqrt(16) \" \" max(1,.,3) \" \" missing(.)", "1 2.57 4 3 1\n"},
		{"display cond(1, \"yes\", \"no\") inlist(2, 1, 2) inrange(5, 1, 4) strlen(\"abc\") upper(\"x\")", "yes103X\n"},
		{"display %9.2f 3.14159 \"|\" %-6.0g 5 \"|\" %12.0fc 1234567", "     3.14|5     |   1,234,567\n"},
		{`display "a" _n "b" _col(5) "c" _skip(2) "d" _dup(3) "ab"`, "a\nb   c  dababab\n"},
		{"display _N \" \" _rc \" \" _pi", "0 0 3.1415927\n"},
		{`display "x" + 1`, "type mismatch\nr(109);\n"},
		{"display foo(1)", "unknown function foo()\nr(133);\n"},
		{"display (1", "too few ')' or ']'\nr(132);\n"},
		{`display "unclosed`, "too few quotes\nr(132);\n"},
		{"display nosuch", "nosuch not found\nr(111);\n"},
		{"display", "\n"},
	})
}

func TestMacros(t *testing.T) {
	setup := []string{"local a 5", "local b = `a' + 1", `local c "x y"`, "local i 2", "local v2 hello", "local f = 1/3"}
	check(t, setup, [][2]string{
		{"display `a'*2", "10\n"},
		{"display \"`b' `c'\"", "6 x y\n"},
		{"display \"`v`i''\"", "hello\n"},
		{"display \"[`undefined']\"", "[]\n"},
		{"display \"`f'\"", ".3333333333333333\n"},
		{"display `\"`a' \"quoted\"\"'", "5 \"quoted\"\n"},
		{"display `=2*`a''", "10\n"},
	})
	check(t, []string{"local n 1", "local ++n", "local ++n", "local --n"}, [][2]string{{"display `n'", "2\n"}})
	check(t, []string{`global dir "/data"`, "global n = 2+2", "local g dir"}, [][2]string{
		{"display \"$dir/x ${n}th $nosuch| $5 $ ${`g'}\"", "/data/x 4th | $5 $ /data\n"},
	})
}

// TestDoFileLocals checks do-file arguments and that locals belong to the
// do-file that defines them, as in Stata.
func TestDoFileLocals(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "args.do")
	if err := os.WriteFile(f, []byte("display \"[`1'|`2'|`0']\"\nlocal inner 1\ndisplay \"[`outer']\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := consoleRun(t, "local outer 1", `do "`+f+`" a "b c"`, "display \"[`inner'][`outer']\"")
	for _, want := range []string{"[a|b c|a b c]\n", "\n. display \"[`outer']\"\n[]\n", "[][1]\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDataset(t *testing.T) {
	got := consoleRun(t,
		"set obs 3", "generate y = _n^2", "gen z = 1 if y > 1", "replace z = 5 if y == 9", "replace z = .",
		"generate lag = y[_n-1]", "count", "count if y > 1", "count in 2/3", "generate y = 1", "replace nosuch = 1",
		"assert y > 0", "assert y > 1", "drop if y == 4", "list y lag", "drop z", "summarize y", "describe")
	want := `. set obs 3
Number of observations (_N) was 0, now 3.

. generate y = _n^2

. gen z = 1 if y > 1
(1 missing value generated)

. replace z = 5 if y == 9
(1 real change made)

. replace z = .
(2 real changes made, 2 to missing)

. generate lag = y[_n-1]
(1 missing value generated)

. count
  3

. count if y > 1
  2

. count in 2/3
  2

. generate y = 1
variable y already defined
r(110);

. replace nosuch = 1
variable nosuch not found
r(111);

. assert y > 0

. assert y > 1
1 contradiction in 3 observations
assertion is false
r(9);

. drop if y == 4
(1 observation deleted)

. list y lag

     +---------+
     | y   lag |
     |---------|
  1. | 1     . |
  2. | 9     4 |
     +---------+

. drop z

. summarize y

    Variable |        Obs        Mean    Std. dev.       Min        Max
-------------+---------------------------------------------------------
           y |          2           5    5.656854          1          9

. describe

Contains data
 Observations:             2
    Variables:             2
--------------------------------------------------------------------------------
Variable      Storage   Display    Value
    name         type    format    label      Variable label
--------------------------------------------------------------------------------
y               double  %10.0g    
lag             double  %10.0g    
--------------------------------------------------------------------------------
Sorted by: 
     Note: Dataset has changed since last saved.

`
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	check(t, nil, [][2]string{{"list x", "no variables defined\nr(111);\n"}, {"count", "  0\n"}})
	check(t, []string{"set obs 4", "generate x = _n"}, [][2]string{{"count if(x > 2)", "  2\n"}, {"count if x>1 in 1/3", "  2\n"}})
}

func TestSysuseSaveUse(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("other.dta", []byte("not ours\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := consoleRun(t,
		"sysuse auto", "count if rep78 == .", "count if foreign", "generate k = 1", "sysuse auto",
		"sysuse auto, clear", "summarize mpg, meanonly", `display r(N) " " r(min) " " r(max)`,
		"keep if _n <= 3", "keep price mpg", `save "cars"`, `save "cars"`, "replace mpg = . in 1", `use "cars"`,
		`use "cars", clear`, "describe, short", `display r(N) " " r(k) " " r(changed)`, `use "nope", clear`,
		`use "other", clear`, "sysuse nope")
	for _, want := range []string{
		". sysuse auto\n(1978 automobile data)\n",
		". count if rep78 == .\n  5\n",
		". count if foreign\n  22\n",
		". sysuse auto\nno; dataset in memory has changed since last saved\nr(4);\n",
		"74 12 41\n",
		". keep if _n <= 3\n(71 observations deleted)\n",
		". save \"cars\"\nfile cars.dta saved\n",
		". save \"cars\"\nfile cars.dta already exists\nr(602);\n",
		". use \"cars\"\nno; dataset in memory has changed since last saved\nr(4);\n",
		"Contains data from cars.dta\n Observations:             3",
		"3 2 0\n",
		"file nope.dta not found\nr(601);\n",
		"file other.dta not Stata format\nr(610);\n",
		"file \"nope.dta\" not found\nr(601);\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestScalars(t *testing.T) {
	check(t, []string{"scalar s = 2*3", `scalar t = "text"`, "set obs 1", "generate s = 9"}, [][2]string{
		{"display s \" \" scalar(s) \" \" t", "9 6 text\n"},
		{"scalar list s t", "         s =          6\n         t = text\n"},
		{"scalar drop nope", "scalar nope not found\nr(111);\n"},
	})
}

// TestBreakInProcess drives Break without signals: a press during a sleep
// stops it (and its do-file), nobreak defers it, capture catches it, and a
// press while the console waits for input is forgotten.
func TestBreakInProcess(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "two.do")
	if err := os.WriteFile(f, []byte("sleep 100\ndisplay \"second\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	brk := newBreaker()
	s := newSession(&b, brk)
	s.sleepFn = func(time.Duration) { brk.press() } // Break arrives during every sleep
	brk.press()                                     // and one before the first line: dropped
	in := strings.Join([]string{`do "` + f + `"`, "nobreak sleep 100", "capture sleep 5", `display _rc`}, "\n") + "\n"
	if err := s.consoleLoop(strings.NewReader(in), brk); err != nil {
		t.Fatal(err)
	}
	want := `. do "` + f + `"

. sleep 100
--Break--
r(1);

end of do-file
r(1);

. nobreak sleep 100
--Break--
r(1);

. capture sleep 5

. display _rc
1

`
	if b.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestConsoleMisc(t *testing.T) {
	check(t, nil, [][2]string{
		{"set foo 1", "unrecognized command:  set foo\nr(199);\n"},
		{`quietly display "hidden"`, ""},
		{`noisily display "shown"`, "shown\n"},
		{"* a comment", ""},
		{"`nothing'", ""},
		{`display "a" // a comment`, "a\n"},
		{"set obs 20000000", "no room to add more observations\n    stata-standin keeps at most 10,000,000 observations.\nr(901);\n"},
		{"pwd extra", "invalid syntax\nr(198);\n"},
	})
	// exit refuses to drop changed data, then ends the console.
	got := consoleRun(t, "set obs 1", "exit", "exit, clear", `display "not reached"`)
	if !strings.HasSuffix(got, ". exit\nno; dataset in memory has changed since last saved\nr(4);\n\n. exit, clear\n") {
		t.Errorf("exit:\n%s", got)
	}
}

// TestBatchSharesTheInterpreter checks that batch mode runs the same
// language, with the log format it always had.
func TestBatchSharesTheInterpreter(t *testing.T) {
	got := runLog(t, "sysuse auto\ncount if foreign\nexit 459\ndisplay \"not reached\"\n")
	want := ". sysuse auto\n(1978 automobile data)\n\n. count if foreign\n  22\n\n. exit 459\n\nend of do-file\nr(459);\n"
	if got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

// TestBreakUndoes checks that Break stops a command that loops over the
// observations and leaves the data as they were, as Stata does.
func TestBreakUndoes(t *testing.T) {
	var b bytes.Buffer
	s := newSession(&b, newBreaker())
	for _, cmd := range []string{"set obs 10000", "generate x = _n"} {
		if e := s.command(cmd); e != nil {
			t.Fatalf("%s: %v", cmd, e.msg)
		}
	}
	for _, cmd := range []string{"generate y = 1", "replace x = -x", "drop if x > 5"} {
		s.brk.press()
		if e := s.command(cmd); e != errBreak {
			t.Errorf("%s with Break pending: %+v, want errBreak", cmd, e)
		}
	}
	if len(s.data.vars) != 1 || s.data.n != 10000 || s.data.vars[0].vals[9999] != 10000 || s.data.vars[0].vals[0] != 1 {
		t.Errorf("data changed by interrupted commands: %d vars, %d obs", len(s.data.vars), s.data.n)
	}
}

// TestIncludeSharesLocals checks that include runs a file in its caller's
// scope: the locals it defines stay defined after it, and it sees the
// caller's, where a do-file sees neither.
func TestIncludeSharesLocals(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "inc.do")
	if err := os.WriteFile(f, []byte("display \"[`outer']\"\nlocal inner 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := consoleRun(t, "local outer 1", `capture noisily include "`+f+`"`, "display \"[`inner'][`outer']\"")
	for _, want := range []string{"\n. display \"[`outer']\"\n[1]\n", "[7][1]\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out = consoleRun(t, `include "`+filepath.Join(dir, "nothere.do")+`"`)
	if !strings.Contains(out, "r(601);") {
		t.Errorf("include of a missing file: no r(601):\n%s", out)
	}
}
