//! Gauss–Hermite rules for the standard normal weight (probabilists'), by Golub–Welsch:
//! the nodes are the eigenvalues of the Jacobi matrix of the Heₙ recurrence (zero diagonal,
//! off-diagonal √k), the weights the squared first components of its unit eigenvectors.
//! `E[f(z)] ≈ Σ wᵢ f(zᵢ)`, exact for polynomials of degree ≤ 2n − 1.

/// Nodes and weights of the n-point rule, nodes ascending, weights summing to 1.
pub fn rule(n: usize) -> (Vec<f64>, Vec<f64>) {
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
    let mut pairs: Vec<(f64, f64)> = (0..n).map(|i| (a[i][i], v[0][i] * v[0][i])).collect();
    pairs.sort_by(|x, y| x.0.total_cmp(&y.0));
    // symmetrise (the rule is exactly symmetric about 0)
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
