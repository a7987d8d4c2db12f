//go:build !(amd64 || arm64) || purego

package q8

import "github.com/lstmq/lstmq/internal/cpu"

// Without assembly only the pure-Go reference exists.

var impls []cpu.Impl

var byName = map[string]*kernel{}

func hasVecQuant() bool { return false }

func quantizeAVX2(dst *uint8, x *float32, n int, invScale float32, zp int32, qmax int32) {
	panic("q8: no assembly")
}

func minMaxAVX2(x *float32, n int) (lo, hi float32) { panic("q8: no assembly") }

func (k *kernel) mul(c *int32, ldc int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, rowSums *int32) {
	panic("q8: no assembly")
}

func (k *kernel) deq(d *float32, ldd int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, sa float32, za int32) {
	panic("q8: no assembly")
}

func (k *kernel) deqBlocks(split bool, d *float32, ldd int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, consts *int32, scales *float32, bias *float32, sa float32, block, flags int) {
	panic("q8: no assembly")
}

func (k *kernel) prepBlocks(c *int32, rowSums *int32, scales *float32, nb int, za int32) {
	panic("q8: no assembly")
}

func (k *kernel) oneDNN(d *float32, ldd int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, za int32) {
	panic("q8: no assembly")
}

func (k *kernel) peak(n int) { panic("q8: no assembly") }
