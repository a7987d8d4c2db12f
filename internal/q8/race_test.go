//go:build race

package q8

// The race detector makes sync.Pool drop items at random: allocation counts
// are not checked.
func init() { raceEnabled = true }
