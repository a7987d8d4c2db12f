//go:build generate

package main
func genF32(g *gen) {}
