package f32

import "github.com/lstmq/lstmq/internal/cpu"

// impl is the kernel family in use: cpu.Generic, cpu.AVX2 or cpu.AVX512.
// Tests swap it to run every variant; a Matrix packs W only if impl was not
// generic when it was made.
var impl = bestLevel()

// Level reports the kernel family the package runs.
func Level() cpu.Level { return impl }
