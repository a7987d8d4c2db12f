// Package cputest runs a test body over every implementation of a kernel
// family that this CPU has, as Go's crypto/internal/cryptotest does.
package cputest
