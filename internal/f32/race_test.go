//go:build race

package f32

// The race detector makes sync.Pool drop items at random, so the block
// buffer is sometimes reallocated: allocation counts are not checked.
func init() { raceEnabled = true }
