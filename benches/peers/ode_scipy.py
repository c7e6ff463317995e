"""Comparison baseline: the vector-form ODE (docs/theory.md §5) of the erf AE (zero bias) with scipy solve_ivp."""
import time
import numpy as np
from scipy.integrate import solve_ivp

K, ETA = 4, 1.0
P = 2 / np.pi


def kernels(Q):
    d = np.diag(Q)
    A = np.sqrt(P) / np.sqrt(1 + d)
    d3 = -np.sqrt(P) * (1 + d) ** -1.5
    o = np.outer(1 + d, 1 + d)
    I2 = P * np.arcsin(np.clip(Q / np.sqrt(o), -1, 1))
    I2[np.diag_indices(K)] = P * np.arcsin(d / (1 + d))
    det = o - Q**2
    dgdg = P / np.sqrt(det)
    d2gg = -P * Q / ((1 + d)[:, None] * np.sqrt(det))
    np.fill_diagonal(d2gg, -P * d / ((1 + d) * np.sqrt(1 + 2 * d)))
    dgdg1 = P / np.sqrt(1 + 2 * d)
    return A, d3, I2, dgdg, d2gg, dgdg1


def matrices(Q, R, T0):
    A, d3, I2, dgdg, d2gg, dgdg1 = kernels(Q)
    B = np.diag(R) * d3 - (T0 * d2gg).sum(1) - np.diag(T0) * dgdg1
    Bw = -T0 * dgdg
    np.fill_diagonal(Bw, B)
    M0 = np.zeros((2 * K, 2 * K))
    M0[K:, K:] = -ETA * I2
    M1 = np.zeros((2 * K, 2 * K))
    M1[:K, :K] = ETA * Bw
    M1[:K, K:] = ETA * np.diag(A)
    M1[K:, :K] = ETA * np.diag(A)
    return M0, M1


def full_rhs(rho, D):
    def f(t, y):
        Y = y.reshape(-1, 2 * K)
        w, v = Y[:, :K], Y[:, K:]
        Q = (w * rho[:, None]).T @ w / D
        R = (v * rho[:, None]).T @ w / D
        T0 = v.T @ v
        M0, M1 = matrices(Q, R, T0)
        return (Y @ M0.T + (rho / D)[:, None] * (Y @ M1.T)).ravel()
    return f


def spiked_rhs(rho_s, rho_b, D):
    ns = len(rho_s)
    def f(t, y):
        Y = y[: ns * 2 * K].reshape(ns, 2 * K)
        Pb = y[ns * 2 * K:].reshape(2 * K, 2 * K)
        w, v = Y[:, :K], Y[:, K:]
        Q = (w * rho_s[:, None]).T @ w / D + rho_b * Pb[:K, :K] / D
        R = (v * rho_s[:, None]).T @ w / D + rho_b * Pb[K:, :K] / D
        T0 = v.T @ v + Pb[K:, K:]
        M0, M1 = matrices(Q, R, T0)
        dY = Y @ M0.T + (rho_s / D)[:, None] * (Y @ M1.T)
        Mb = M0 + rho_b / D * M1
        dP = Mb @ Pb + Pb @ Mb.T
        return np.concatenate([dY.ravel(), dP.ravel()])
    return f


rng = np.random.default_rng(0)
D = 1000
rho = np.full(D, 1 / 35)
rho[:4] = np.array([0.4, 0.2, 0.1, 0.05]) * D
W, V = 0.1 * rng.standard_normal((K, D)), 0.1 * rng.standard_normal((K, D))
Y = np.concatenate([W.T, V.T / np.sqrt(D)], axis=1)
y0 = np.concatenate([Y[:4].ravel(), (Y[4:].T @ Y[4:]).ravel()])
t0 = time.perf_counter()
t_eval = np.concatenate([[0.0], np.logspace(-1, 4, 100)])  # the 100 output times of the aedyn bench
sol = solve_ivp(spiked_rhs(rho[:4], rho[4:].mean(), D), (0, 1e4), y0, method="RK45", rtol=1e-8, atol=1e-11, t_eval=t_eval)
print(f"scipy RK45 spiked 4 spikes K=4 to t=1e4: {time.perf_counter() - t0:.2f} s ({sol.nfev} RHS evaluations, status {sol.status})")

D = 1024
rho = np.full(D, 1 / 35)
rho[:4] = np.array([0.4, 0.2, 0.1, 0.05]) * D
W, V = 0.1 * rng.standard_normal((K, D)), 0.1 * rng.standard_normal((K, D))
y0 = np.concatenate([W.T, V.T / np.sqrt(D)], axis=1).ravel()
t0 = time.perf_counter()
sol = solve_ivp(full_rhs(rho, D), (0, 1e3), y0, method="RK45", rtol=1e-8, atol=1e-11)
print(f"scipy RK45 full spectrum D=1024 K=4 to t=1e3: {time.perf_counter() - t0:.2f} s ({sol.nfev} RHS evaluations, status {sol.status})")

# the grayscale CIFAR-10 spectrum of the vendored test images, preprocessed as `aedyn run` does
# (docs/theory.md §2: gray = 0.299 R + 0.587 G + 0.114 B, /255, divided by twice the global std, the
# global scalar mean subtracted); initial weights of the same law
raw = np.fromfile("data/cifar10/test_subset.bin", dtype=np.uint8).reshape(-1, 3073)[:, 1:].astype(float)
x = (0.299 * raw[:, :1024] + 0.587 * raw[:, 1024:2048] + 0.114 * raw[:, 2048:]) / 255.0
x = x / (2 * x.std())
x -= x.mean()
rho = np.sort(np.linalg.eigvalsh(x.T @ x / x.shape[0]))[::-1].clip(0)
for t_max in [1e2, 1e3]:
    W, V = 0.1 * rng.standard_normal((K, D)), 0.1 * rng.standard_normal((K, D))
    y0 = np.concatenate([W.T, V.T / np.sqrt(D)], axis=1).ravel()
    t0 = time.perf_counter()
    sol = solve_ivp(full_rhs(rho, D), (0, t_max), y0, method="RK45", rtol=1e-8, atol=1e-11)
    print(f"scipy RK45 CIFAR-10 spectrum D=1024 K=4 to t={t_max:g}: {time.perf_counter() - t0:.3f} s ({sol.nfev} RHS evaluations, status {sol.status})")
