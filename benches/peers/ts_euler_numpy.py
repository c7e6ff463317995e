"""Peer: fixed-step Euler on the erf teacher–student ODE (Saad & Solla; Goldt et al. 2019), the way
the public scripts integrate it (dt = 0.01, numpy, the closed forms of docs/theory.md §8 written by
hand and vectorised over all index tuples). Soft committee machine, K = M = 4, η = 0.5, T = I.

Usage: python3 benches/peers/ts_euler_numpy.py [T_MAX]   (default 100; the cost is linear in T_MAX,
so the time to t = 1e4 is 100× the printed time at T_MAX = 100.)
"""
import sys
import time

import numpy as np

K = M = 4
ETA = 0.5
DT = 0.01


def i2(c11, c12, c22):
    return 2 / np.pi * np.arcsin(c12 / np.sqrt((1 + c11) * (1 + c22)))


def step(Q, R, T):
    n = K + M
    om = np.block([[Q, R], [R.T, T]])
    u = np.concatenate([np.ones(K), -np.ones(M)])
    d = np.diag(om)
    # I3(a, b, c) = 2/π (C_bc (1 + C_aa) − C_ab C_ac) / ((1 + C_aa) √((1 + C_aa)(1 + C_cc) − C_ac²))
    a = np.arange(K)[:, None, None]
    b = np.arange(n)[None, :, None]
    c = np.arange(n)[None, None, :]
    caa = d[a]
    lam3 = (1 + caa) * (1 + d[c]) - om[a, c] ** 2
    i3 = 2 / np.pi * (om[b, c] * (1 + caa) - om[a, b] * om[a, c]) / ((1 + caa) * np.sqrt(lam3))
    A = np.einsum("kbc,c->kb", i3, u)
    # I4(k, l, c, d)
    k_ = np.arange(K)[:, None, None, None]
    l_ = np.arange(K)[None, :, None, None]
    c_ = np.arange(n)[None, None, :, None]
    d_ = np.arange(n)[None, None, None, :]
    c11, c22, c12 = d[k_], d[l_], om[k_, l_]
    c33, c44, c34 = d[c_], d[d_], om[c_, d_]
    c13, c14, c23, c24 = om[k_, c_], om[k_, d_], om[l_, c_], om[l_, d_]
    l4 = (1 + c11) * (1 + c22) - c12 ** 2
    l0 = l4 * c34 - c23 * c24 * (1 + c11) - c13 * c14 * (1 + c22) + c12 * c13 * c24 + c12 * c14 * c23
    l1 = l4 * (1 + c33) - c23 ** 2 * (1 + c11) - c13 ** 2 * (1 + c22) + 2 * c12 * c13 * c23
    l2 = l4 * (1 + c44) - c24 ** 2 * (1 + c11) - c14 ** 2 * (1 + c22) + 2 * c12 * c14 * c24
    i4 = 4 / np.pi ** 2 / np.sqrt(l4) * np.arcsin(l0 / np.sqrt(l1 * l2))
    B = np.einsum("klcd,c,d->kl", i4, u, u)
    dR = -ETA * A[:, K:]
    dQ = -ETA * (A[:, :K] + A[:, :K].T) + ETA ** 2 * B
    return Q + DT * dQ, R + DT * dR


def error(Q, R, T):
    om = np.block([[Q, R], [R.T, T]])
    d = np.diag(om)
    u = np.concatenate([np.ones(K), -np.ones(M)])
    return 0.5 * u @ i2(d[:, None], om, d[None, :]) @ u


def main():
    t_max = float(sys.argv[1]) if len(sys.argv) > 1 else 100.0
    rng = np.random.default_rng(0)
    n = 1000
    w = rng.normal(0, 0.01, (K, n))
    ws = np.linalg.qr(rng.normal(size=(n, M)))[0].T * np.sqrt(n)
    Q, R, T = w @ w.T / n, w @ ws.T / n, ws @ ws.T / n
    steps = int(round(t_max / DT))
    start = time.perf_counter()
    for _ in range(steps):
        Q, R = step(Q, R, T)
    el = time.perf_counter() - start
    print(f"numpy Euler dt={DT}: t = {t_max}: {steps} steps in {el:.2f} s "
          f"(→ t = 1e4: {el * 1e4 / t_max:.0f} s); eps = {error(Q, R, T):.6f}")


if __name__ == "__main__":
    main()
