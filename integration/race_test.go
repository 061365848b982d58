//go:build race

package integration

// raceEnabled tells whether the tests run with the race detector; the
// caddy-stata binary they drive is then built with it too.
const raceEnabled = true
