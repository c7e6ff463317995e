//! Gauss–Hermite rules for the standard normal weight (probabilists'), `E[f(z)] ≈ Σ wᵢ f(zᵢ)`,
//! exact for polynomials of degree ≤ 2n − 1, by Golub–Welsch: the nodes are the eigenvalues of
//! the Jacobi matrix of the Heₙ recurrence (zero diagonal, off-diagonal √k), the weights the
//! squared first components of its unit eigenvectors. The symmetric tridiagonal eigenproblem is
//! solved by the implicit QL algorithm with Wilkinson shifts, carrying only the first row of the
//! eigenvector matrix: O(n²) work, so rules of a few hundred nodes cost milliseconds (dense
//! Jacobi rotations, kept in the tests as the reference, took 20 s for 400 nodes).

/// Nodes and weights of the n-point rule, nodes ascending, weights summing to 1.
pub fn rule(n: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(n >= 1, "a Gauss–Hermite rule needs at least one node");
    // diagonal d (zero) and off-diagonal e[i] between rows i and i + 1 (√(i+1))
    let mut d = vec![0.0_f64; n];
    let mut e: Vec<f64> = (0..n)
        .map(|i| {
            if i + 1 < n {
                ((i + 1) as f64).sqrt()
            } else {
                0.0
            }
        })
        .collect();
    // first row of the eigenvector matrix
    let mut first = vec![0.0_f64; n];
    first[0] = 1.0;
    for l in 0..n {
        let mut converged = false;
        for _ in 0..200 {
            // the first negligible off-diagonal element at or after l
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l {
                converged = true;
                break;
            }
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0_f64, 1.0_f64, 0.0_f64);
            let mut underflow = false;
            for i in (l..m).rev() {
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    underflow = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                let f = first[i + 1];
                first[i + 1] = s * first[i] + c * f;
                first[i] = c * first[i] - s * f;
            }
            if underflow {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
        // (the QL iteration on this matrix converges in a few sweeps; as in tqli, not converging
        // is a defect, not an input)
        assert!(
            converged,
            "Gauss–Hermite rule of {n} nodes: QL did not converge"
        );
    }
    symmetric_rule(d.into_iter().zip(first.iter().map(|v| v * v)).collect())
}

/// The rule from its (node, weight) pairs in any order: nodes ascending, made exactly symmetric
/// about 0 (as the rule is), weights normalised to sum to 1.
fn symmetric_rule(mut pairs: Vec<(f64, f64)>) -> (Vec<f64>, Vec<f64>) {
    let n = pairs.len();
    pairs.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut nodes: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let mut weights: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    for i in 0..n / 2 {
        let j = n - 1 - i;
        let z = 0.5 * (nodes[j] - nodes[i]);
        let w = 0.5 * (weights[i] + weights[j]);
        nodes[i] = -z;
        nodes[j] = z;
        weights[i] = w;
        weights[j] = w;
    }
    if n % 2 == 1 {
        nodes[n / 2] = 0.0;
    }
    let total: f64 = weights.iter().sum();
    for w in weights.iter_mut() {
        *w /= total;
    }
    (nodes, weights)
}

#[cfg(test)]
mod tests {
    /// The rule by Golub–Welsch: the nodes are the eigenvalues of the Jacobi matrix of the Heₙ
    /// recurrence (zero diagonal, off-diagonal √k), the weights the squared first components of
    /// its unit eigenvectors (cyclic Jacobi rotations). The reference for [`super::rule`].
    fn dense_jacobi_rule(n: usize) -> (Vec<f64>, Vec<f64>) {
        let mut a = vec![vec![0.0; n]; n];
        for k in 1..n {
            a[k - 1][k] = (k as f64).sqrt();
            a[k][k - 1] = (k as f64).sqrt();
        }
        let mut v = vec![vec![0.0; n]; n];
        for (i, row) in v.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        // cyclic Jacobi rotations until the off-diagonal part vanishes
        for _sweep in 0..100 {
            let off: f64 = (0..n)
                .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| a[i][j] * a[i][j])
                .sum();
            if off < 1e-30 {
                break;
            }
            for p in 0..n {
                for q in p + 1..n {
                    if a[p][q].abs() < 1e-300 {
                        continue;
                    }
                    let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                    let t = if theta == 0.0 { 1.0 } else { t };
                    let c = 1.0 / (t * t + 1.0).sqrt();
                    let s = t * c;
                    for row in a.iter_mut() {
                        let (akp, akq) = (row[p], row[q]);
                        row[p] = c * akp - s * akq;
                        row[q] = s * akp + c * akq;
                    }
                    let (rp, rq) = (a[p].clone(), a[q].clone());
                    for (k, (apk, aqk)) in rp.iter().zip(&rq).enumerate() {
                        a[p][k] = c * apk - s * aqk;
                        a[q][k] = s * apk + c * aqk;
                    }
                    for row in v.iter_mut() {
                        let (vp, vq) = (row[p], row[q]);
                        row[p] = c * vp - s * vq;
                        row[q] = s * vp + c * vq;
                    }
                }
            }
        }
        super::symmetric_rule((0..n).map(|i| (a[i][i], v[0][i] * v[0][i])).collect())
    }

    /// The implicit QL rule equals the one by dense Jacobi rotations, for small and large rules
    /// and odd and even n.
    #[test]
    fn implicit_ql_equals_dense_jacobi() {
        for n in [1, 2, 3, 4, 5, 7, 20, 31, 64] {
            let (z, w) = super::rule(n);
            let (zr, wr) = dense_jacobi_rule(n);
            for i in 0..n {
                assert!(
                    (z[i] - zr[i]).abs() < 1e-12 * zr[i].abs().max(1.0),
                    "n = {n}, node {i}"
                );
                assert!((w[i] - wr[i]).abs() < 1e-14, "n = {n}, weight {i}");
            }
        }
    }

    /// Large rules: nodes strictly ascending and symmetric, weights non-negative, and exact
    /// moments of degree up to 2n − 1 (here E[z²ᵏ] = (2k − 1)!! to k = 12).
    #[test]
    fn large_rules_integrate_the_moments() {
        for n in [96, 176, 400] {
            let (z, w) = super::rule(n);
            assert!(
                z.windows(2).all(|p| p[0] < p[1]),
                "n = {n}: nodes not ascending"
            );
            // (the outermost weights of 400 nodes, below e^{−800}, underflow to 0)
            assert!(w.iter().all(|&v| v >= 0.0), "n = {n}: negative weight");
            for i in 0..n {
                assert!((z[i] + z[n - 1 - i]).abs() < 1e-12, "n = {n}: asymmetric");
            }
            let mut double_factorial = 1.0;
            for k in 0..=12 {
                if k > 0 {
                    double_factorial *= (2 * k - 1) as f64;
                }
                let m: f64 = z.iter().zip(&w).map(|(z, w)| w * z.powi(2 * k)).sum();
                assert!(
                    (m - double_factorial).abs() < 1e-11 * double_factorial,
                    "n = {n}, k = {k}: {m}"
                );
            }
        }
    }

    #[test]
    fn moments_of_the_standard_normal() {
        let (z, w) = super::rule(20);
        let m = |k: i32| z.iter().zip(&w).map(|(z, w)| w * z.powi(k)).sum::<f64>();
        assert!((m(0) - 1.0).abs() < 1e-14);
        assert!(m(1).abs() < 1e-14);
        assert!((m(2) - 1.0).abs() < 1e-13);
        assert!((m(4) - 3.0).abs() < 1e-12);
        assert!((m(10) - 945.0).abs() < 1e-9);
    }
}
