#!/usr/bin/python3
"""Golden fixtures for package internal/f32's PyTorch-exact pointwise math
(LSTMCellTorch, SigmoidTorch, TanhTorch), from PyTorch 1.13 (Debian build:
Sleef 3.5.1, glibc 2.36, AVX2 code path).

Run by hand from the repository root:

    /usr/bin/python3 testdata/torch/gen_torchmath.py

It writes testdata/torch/torchmath.json. Every float32 is stored as its
uint32 bit pattern, so NaN payloads and signed zeros survive.

  x        chosen inputs: special values (signed zeros, subnormals, ±Inf, NaN
           payloads), the edges of Sleef's and glibc's ranges (±ulps around
           -104, 100, 88.72, -87.34, -103.97, 8.664…), random normals and
           uniforms, and random bit patterns.
  exp      torch.exp(x) on the whole (contiguous) tensor: Sleef_expf8_u10 on
           every element (vml::vexp maps the tail through a partial vector).
  tanh     torch.tanh(x), likewise Sleef_tanhf8_u10 on every element.
  libm     glibc's expf(x) called through ctypes (the scalar tail of sigmoid).
  sigmoid  rows of length 1..40 and 256, torch.sigmoid on each row: the first
           floor(n/16)·16 elements take the vectorized path, the rest the
           scalar one, 1/(1+expf(-a)).
  cells    the LSTM cell's pointwise step as RNN.cpp's LSTMCell runs it:
           in-place sigmoid_/tanh_ on gates.unsafe_chunk(4, 1), then
           cy = (f*cx).add_(i*g) and hy = o*cy.tanh().
"""
import ctypes
import json
import os

import numpy as np
import torch

torch.set_num_threads(1)
f32 = np.float32
rng = np.random.default_rng(20240613)


def bits(a):
    return np.ascontiguousarray(a, dtype=f32).view(np.uint32).ravel().tolist()


def around(v, k):
    """v and its k neighbours on each side (float32 ulps)."""
    out, lo, hi = [f32(v)], f32(v), f32(v)
    for _ in range(k):
        lo = np.nextafter(lo, f32(-np.inf))
        hi = np.nextafter(hi, f32(np.inf))
        out += [lo, hi]
    return out


def inputs():
    sp = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, np.inf, -np.inf, 1e-30, -1e-30, 1e-8, -1e-8,
          1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, 1.1754944e-38, 3.4028235e38, -3.4028235e38]
    x = [f32(v) for v in sp]
    x += [np.uint32(b).view(f32) for b in [0x7fc00000, 0xffc00000, 0x7fc01234, 0x7f800001, 0xff812345, 0x7fffffff]]
    for edge in [-104, 104, 100, -100, 88.72283, -88.72283, 88.0, -87.33654, 87.33654, -103.97208, 103.97208,
                 -103.27893, 8.664339742, -8.664339742, 0.0, 1e-4, -1e-4, 0.34657359, -0.34657359, 9.0, -9.0]:
        x += around(edge, 6)
    x += list((rng.standard_normal(900) * 4).astype(f32))
    x += list(rng.uniform(-110, 110, 700).astype(f32))
    x += list(rng.uniform(-10, 10, 500).astype(f32))
    x += list((rng.standard_normal(200) * 1e-3).astype(f32))
    b = rng.integers(0, 1 << 32, 400, dtype=np.uint64).astype(np.uint32)
    x += list(b.view(f32))
    return np.array(x, dtype=f32)


def main():
    root = os.path.dirname(os.path.abspath(__file__))
    x = inputs()
    xt = torch.from_numpy(x.copy())
    libm = ctypes.CDLL('libm.so.6')
    libm.expf.restype = ctypes.c_float
    libm.expf.argtypes = [ctypes.c_float]
    out = dict(
        torch=torch.__version__,
        x=bits(x),
        exp=bits(torch.exp(xt).numpy()),
        tanh=bits(torch.tanh(xt).numpy()),
        libm=bits(np.array([libm.expf(float(v)) for v in x], dtype=f32)),
    )

    rows = []
    for n in list(range(1, 41)) + [256]:
        a = (rng.standard_normal(n) * 6).astype(f32)
        if n % 5 == 0:  # specials in vector blocks and in tails
            a[rng.integers(0, n)] = np.uint32(0x7f800001).view(f32)
            a[rng.integers(0, n)] = f32(-np.inf)
            a[rng.integers(0, n)] = f32(-0.0)
            a[rng.integers(0, n)] = f32(95.0)
        rows.append(dict(x=bits(a), y=bits(torch.sigmoid(torch.from_numpy(a.copy())).numpy())))
    out['sigmoid'] = rows

    cells = []
    for h, b in [(16, 1), (16, 3), (20, 1), (20, 3), (256, 1), (256, 2)]:
        g = (rng.standard_normal((b, 4 * h)) * 3).astype(f32)
        cx = (rng.standard_normal((b, h)) * 2).astype(f32)
        gt = torch.from_numpy(g.copy())
        ch = gt.unsafe_chunk(4, 1)
        i_ = ch[0].sigmoid_()
        f_ = ch[1].sigmoid_()
        c_ = ch[2].tanh_()
        o_ = ch[3].sigmoid_()
        cy = (f_ * torch.from_numpy(cx)).add_(i_ * c_)
        hy = o_ * cy.tanh()
        cells.append(dict(b=b, h=h, gates=bits(g), c=bits(cx), cy=bits(cy.numpy()), hy=bits(hy.numpy())))
    out['cells'] = cells

    path = os.path.join(root, 'torchmath.json')
    with open(path, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')
    print(f'{path}: {x.size} inputs, {len(rows)} sigmoid rows, {len(cells)} cells, {os.path.getsize(path)} bytes')


if __name__ == '__main__':
    main()
