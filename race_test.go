//go:build race

package lstmq_test

// The race detector makes sync.Pool drop items at random: allocation counts
// are not checked.
func init() { raceEnabled = true }
