#!/usr/bin/python3
"""Golden fixture for package internal/gptq (lstmq), from PyTorch 1.13.

Run by hand from the repository root:

    /usr/bin/python3 internal/gptq/testdata/gen_gptq.py

It writes internal/gptq/testdata/gptq.json: a weight matrix W (12x40,
float32, rows = outputs), calibration inputs X (64x40, float32, correlated
columns, columns 5 and 23 all zero so that they are dead inputs), and the
weights quantized by GPTQ and by round-to-nearest under several settings,
with their output errors trace((W-Q) H (W-Q)^T), H = 2 X^T X / N.

The GPTQ here is a re-implementation, in torch float64, of fasterquant in
IST-DASLab/gptq gptq.py (Frantar et al. 2022): dead inputs (H[i,i] == 0) get
H[i,i] = 1 and W[:,i] = 0; optional act-order (columns sorted by decreasing
H[i,i], groups then fitted statically on the unpermuted W, as gptq.py's
static_groups=True); damping percdamp * mean(diag H); Hinv = the upper
Cholesky factor of (H + damp I)^-1 via cholesky, cholesky_inverse,
cholesky(upper=True); lazy batches of `blocksize` columns, the error of
column i spread as W1[:, i:] -= err1 (x) Hinv1[i, i:] inside the batch and
W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:] after it.

One deliberate difference, fit="current" (what lstmq's package does): the grid
of a group is fitted on the row's current weights, all error updates from the
columns before it applied. gptq.py calls find_params on W[:, c0:c0+group],
the outer W, which misses the updates made inside the current batch when a
group starts inside one (for instance group 8 with blocksize 128). The two
agree when every group start is a batch start (group % blocksize == 0); the
script checks that (fit="gptq.py", blocksize = group) and also checks the
lazy-batch result against a plain column-by-column loop.

The grid (the Go test's symGrid) is symmetric 4-bit, per row and group:
the group's current weights rounded to float32, s = max|w| / 7 in float64
(s = 1 for an all-zero group), q = clamp(round_half_even(float32(v) / s),
-8, 7), value float32(q * s). torch.round rounds half to even, as Go's
math.RoundToEven. `margin` records the smallest distance of any v/s to a
rounding tie, so the Go test knows that summation-order differences (about
1e-13 relative) cannot flip a rounding.

Plain JSON. float32 values are written as Python floats, which hold them
exactly.
"""
import json
import os

import torch

torch.manual_seed(20240607)
torch.set_default_dtype(torch.float64)

ROWS, COLS, N = 12, 40, 64
DEAD = [5, 23]


class SymGrid:
    """Symmetric 4-bit grid, one scale per row: s = max|w|/7."""

    def __init__(self):
        self.margin = float("inf")

    @staticmethod
    def fit(w):
        w32 = w.to(torch.float32).to(torch.float64)
        amax = w32.abs().max(dim=1).values
        s = amax / 7
        s[amax == 0] = 1
        return s

    def round(self, v, s):
        t = v.to(torch.float32).to(torch.float64) / s
        self.margin = min(self.margin, ((t - torch.floor(t)) - 0.5).abs().min().item())
        q = torch.clamp(torch.round(t), -8, 7)
        return (q * s).to(torch.float32).to(torch.float64)


def hessian(x):
    x = x.to(torch.float64)
    return 2 * x.t() @ x / x.shape[0]


def fasterquant(W, H, grid, blocksize=128, percdamp=0.01, groupsize=-1,
                actorder=False, fit="current"):
    W = W.clone().to(torch.float64)
    H = H.clone()
    rows, cols = W.shape
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0

    static = None
    if actorder:
        static = [grid.fit(W[:, c0:c0 + groupsize]) for c0 in range(0, cols, groupsize)]
        perm = torch.sort(torch.diag(H), descending=True, stable=True).indices
        W = W[:, perm]
        H = H[perm][:, perm]
        invperm = torch.argsort(perm)

    Q = torch.zeros_like(W)
    damp = percdamp * torch.mean(torch.diag(H))
    idx = torch.arange(cols)
    H[idx, idx] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    H = torch.linalg.cholesky(H, upper=True)
    Hinv = H

    scale = None
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            c = i1 + i
            if static is not None:
                scale = static[perm[c].item() // groupsize]
            elif c % groupsize == 0:
                if fit == "gptq.py":
                    cur = W[:, c:c + groupsize]
                else:
                    j2 = min(c + groupsize, cols)
                    cur = W1[:, i:min(j2, i2) - i1]
                    if j2 > i2:
                        tail = W[:, i2:j2] - Err1[:, :i] @ Hinv[i1:c, i2:j2]
                        cur = torch.cat([cur, tail], dim=1)
                scale = grid.fit(cur)
            q = grid.round(w, scale)
            Q1[:, i] = q
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])

    if actorder:
        Q = Q[:, invperm]
    return Q, Hinv


def columnwise(W, H, grid, percdamp, groupsize):
    """GPTQ without batches: every update applied at once, grid fitted on the current row."""
    W = W.clone().to(torch.float64)
    H = H.clone()
    rows, cols = W.shape
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(cols)
    U = torch.linalg.cholesky(torch.linalg.inv(H), upper=True)
    Q = torch.zeros_like(W)
    for c in range(cols):
        if c % groupsize == 0:
            scale = grid.fit(W[:, c:c + groupsize])
        Q[:, c] = grid.round(W[:, c], scale)
        err = (W[:, c] - Q[:, c]) / U[c, c]
        W[:, c:] -= err.unsqueeze(1) * U[c, c:].unsqueeze(0)
    return Q


def rtn(W, grid, groupsize):
    W = W.to(torch.float64)
    Q = torch.zeros_like(W)
    for c0 in range(0, W.shape[1], groupsize):
        s = grid.fit(W[:, c0:c0 + groupsize])
        Q[:, c0:c0 + groupsize] = grid.round(W[:, c0:c0 + groupsize], s.unsqueeze(1))
    return Q


def output_error(W, Q, H):
    D = W.to(torch.float64) - Q
    return torch.trace(D @ H @ D.t()).item()


def floats(t):
    return [float(v) for v in t.reshape(-1).tolist()]


def main():
    W = torch.randn(ROWS, COLS, dtype=torch.float32)
    W[3, 17] = 4.0  # an outlier, so one group has a coarse grid
    mix = torch.eye(COLS) + 0.4 * torch.randn(COLS, COLS)
    X = (torch.randn(N, COLS) @ mix).to(torch.float32)
    X[:, DEAD] = 0
    H = hessian(X)

    grid = SymGrid()
    cases = []
    for name, block, group, damp, actorder in [
        ("default", 128, 8, 0.01, False),
        ("group12", 128, 12, 0.01, False),
        ("damp0.1", 128, 8, 0.1, False),
        ("actorder", 128, 8, 0.01, True),
    ]:
        Q, Hinv = fasterquant(W, H, grid, blocksize=block, percdamp=damp,
                              groupsize=group, actorder=actorder)
        if not actorder:
            ref = columnwise(W, H, grid, damp, group)
            assert torch.allclose(Q, ref, rtol=0, atol=1e-12), name
        case = {
            "name": name, "block": block, "group": group, "damp": damp,
            "act_order": actorder, "q": floats(Q),
            "output_error": output_error(W, Q, H),
        }
        if name == "default":
            case["hinv"] = floats(Hinv)
            # gptq.py's own fit (outer W) agrees once groups start batches...
            Qpy, _ = fasterquant(W, H, grid, blocksize=group, percdamp=damp,
                                 groupsize=group, fit="gptq.py")
            assert torch.equal(Qpy, Q)
            # ...and differs with blocksize 128, where it fits stale weights.
            Qstale, _ = fasterquant(W, H, grid, blocksize=block, percdamp=damp,
                                    groupsize=group, fit="gptq.py")
            assert not torch.equal(Qstale, Q)
        cases.append(case)

    rtns = []
    for group in (8, 12):
        Q = rtn(W, grid, group)
        rtns.append({"group": group, "q": floats(Q), "output_error": output_error(W, Q, H)})

    assert grid.margin > 1e-6, grid.margin
    out = {
        "rows": ROWS, "cols": COLS, "n": N, "dead": DEAD,
        "margin": grid.margin,
        "w": floats(W), "x": floats(X),
        "gptq": cases, "rtn": rtns,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gptq.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    for c in cases:
        print(c["name"], "output error", c["output_error"])
    for r in rtns:
        print("rtn group", r["group"], "output error", r["output_error"])
    print("margin", grid.margin)


if __name__ == "__main__":
    main()
