"""Comparison baseline: online SGD of a shallow erf autoencoder in numpy (one core)."""
import time
import numpy as np
from scipy.special import erf

D, K, ETA = 1000, 4, 1.0
rho = np.full(D, 1 / 35)
rho[:4] = np.array([0.4, 0.2, 0.1, 0.05]) * D
sq = np.sqrt(rho)
rng = np.random.default_rng(0)
W = 0.1 * rng.standard_normal((K, D))
V = 0.1 * rng.standard_normal((K, D))
c = np.sqrt(2 / np.pi)


def step():
    global W, V
    x = sq * rng.standard_normal(D)
    lam = W @ x / np.sqrt(D)
    g = erf(lam / np.sqrt(2))
    dg = c * np.exp(-lam * lam / 2)
    delta = x - g @ V
    vd = V @ delta
    V += (ETA / D) * np.outer(g, delta)
    W += (ETA / D**2) * np.outer(dg * vd / np.sqrt(D), x)


for _ in range(1000):
    step()
n = 20000
t0 = time.perf_counter()
for _ in range(n):
    step()
dt = time.perf_counter() - t0
print(f"numpy SGD D={D} K={K}: {n / dt:,.0f} steps/s")
