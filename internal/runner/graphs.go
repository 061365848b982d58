package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// stataNameRE matches a Stata name, as graph names are.
var stataNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,31}$`)

// exportGraphs exports the graphs in Stata's memory as PNG files in dir, at
// most limit of them, drops every graph, and returns the files written.
func (s *session) exportGraphs(dir string, limit int) ([]string, error) {
	token := newToken()
	list, err := s.control(marker("graphs", token), "quietly graph dir, memory",
		displayMarker("graphs", token, "\"`r(list)'\""))
	if err != nil {
		return nil, err
	}
	var cmds, files []string
	for _, name := range strings.Fields(list) {
		if len(files) == limit {
			break
		}
		if !stataNameRE.MatchString(name) {
			continue
		}
		file := filepath.Join(dir, "graph-"+name+".png")
		files = append(files, file)
		cmds = append(cmds, fmt.Sprintf(`quietly graph export "%s", name(%s) as(png) replace`, file, name))
	}
	cmds = append(cmds, "graph drop _all", displayMarker("graphs-done", token))
	if _, err := s.control(marker("graphs-done", token), cmds...); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			written = append(written, f)
		}
	}
	return written, nil
}
