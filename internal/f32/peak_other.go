//go:build !amd64 || purego

package f32

func measureGHz() float64 { return 0 }
