package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// defaultHealthURL is the health report of the demo's stata_runner, the
// one the container image runs.
const defaultHealthURL = "http://localhost:4000/mcp"

// healthTimeout bounds the whole health check.
const healthTimeout = 5 * time.Second

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "health",
		Usage: "[<url>]",
		Short: "Exits 0 if a health report answers 2xx, for container health checks",
		Long: `
Sends GET <url> with Accept: application/json (default ` + defaultHealthURL + `,
the health report of the demo's stata_runner) and exits 0 if the answer is
2xx with a JSON body within 5 seconds, 1 otherwise, printing the answer's
status and body. A JSON body is required because Caddy answers a request
for a host it has no site for with an empty 200.

It lets a container image without curl or a shell check the server: the
Dockerfile's HEALTHCHECK runs it.`,
		Func: func(fl caddycmd.Flags) (int, error) {
			args := fl.Args()
			if len(args) > 1 {
				return caddy.ExitCodeFailedStartup, fmt.Errorf("health: one URL at most, not %q", args)
			}
			url := defaultHealthURL
			if len(args) == 1 {
				url = args[0]
			}
			if err := checkHealth(url, os.Stdout); err != nil {
				return caddy.ExitCodeFailedStartup, err
			}
			return caddy.ExitCodeSuccess, nil
		},
	})
}

// checkHealth asks url for its health report and returns an error unless it
// answers 2xx with a JSON body; it prints the status and the body to out.
// An empty 200 is refused: it is what Caddy answers for a host that no site
// serves, as when the URL names 127.0.0.1 and the site localhost.
func checkHealth(url string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(out, "%s %s\n", resp.Status, body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("health: %s answered %s", url, resp.Status)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" || !json.Valid(body) {
		return fmt.Errorf("health: %s answered %s without a JSON health report (Content-Type %q); does a site serve that host?", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	return nil
}
