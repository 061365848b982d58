package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStataErrorCode(t *testing.T) {
	tests := []struct {
		name, log string
		want      int
	}{
		{"success", ". display 1\n1\n\n. \nend of do-file\n", 0},
		{"error", ". error 198\ninvalid syntax\nr(198);\n\nend of do-file\nr(198);\n", 198},
		{"error and trailing blank lines", ". foo\nunrecognized command: foo\nr(199);\n\nend of do-file\nr(199);\n\n\n", 199},
		{"missing do-file", ". do StataMP \nfile StataMP.do not found\nr(601);\n", 601},
		{"displayed, not raised", ". display \"r(5);\"\nr(5);\n\n. \nend of do-file\n", 0},
		{"killed mid-run", ". sleep 60000\n", 0},
		{"empty", "", 0},
		{"a long log", strings.Repeat("x\n", finalErrorWindow) + "end of do-file\nr(459);\n", 459},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".log")
			if err := os.WriteFile(p, []byte(tt.log), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := stataErrorCode(p)
			if err != nil || got != tt.want {
				t.Errorf("stataErrorCode = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestCallDirNamesAndPaths(t *testing.T) {
	for name, want := range map[string]int{
		"call-123-20260101-000000-abc": 123,
		"call-x-1":                     0,
		"call-123":                     0,
		"selection-1.do":               0,
		"call--1-x":                    0,
	} {
		if got, ok := callDirPid(name); got != want || ok != (want != 0) {
			t.Errorf("callDirPid(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	for _, tt := range []struct {
		path, dir string
		want      bool
	}{
		{"/a/b/c.do", "/a/b", true},
		{"/a/b", "/a/b", true},
		{"/a/bc/d.do", "/a/b", false},
		{"/a/d.do", "/a/b", false},
		{"/etc/hostname", "/", true},
		{"/a/..b/c.do", "/a", true},
	} {
		if got := isWithin(tt.path, tt.dir); got != tt.want {
			t.Errorf("isWithin(%q, %q) = %v", tt.path, tt.dir, got)
		}
	}
	for path, ok := range map[string]bool{
		"/home/u/my project/a b.do": true,
		"/home/u/01.clean.do":       true,
		"/home/u/$HOME/a.do":        false,
		"/home/u/`x'/a.do":          false,
		`/home/u/"q".do`:            false,
		"/home/u/a\nb.do":           false,
		"/home/u/a\\b.do":           false,
	} {
		if err := checkStataQuotable("file_path", path); (err == nil) != ok {
			t.Errorf("checkStataQuotable(%q) = %v", path, err)
		}
	}
}
