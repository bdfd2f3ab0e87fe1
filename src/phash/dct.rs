//! `scipy.fftpack.dct(x)` (type II, unnormalised, float64) for length 32, reproduced
//! operation for operation from pocketfft (the C++ `pocketfft_hdronly` that SciPy uses):
//! `T_dcst23::exec` (type 2) on top of the real backward FFT `rfftp` (factors 2, 4, 4,
//! `radb2`/`radb4`), with twiddles from `sincos_2pibyn`.
//!
//! Reproducing the algorithm rather than summing `2 Σ x[n] cos(πk(2n+1)/2N)` matters for
//! structured images: where the exact coefficient is 0 (flat regions, symmetric gradients),
//! pocketfft's butterflies produce exact zeros (or specific rounding residues) and
//! imagehash's median and strict `>` then depend on those exact values.

/// Transform length: the 32×32 image imagehash's `phash()` works on.
pub const N: usize = 32;

/// `sincos_2pibyn<double>(n)[idx]`: `(cos, sin)(2π·idx/n)` computed as pocketfft does (octant
/// reduction, then a product of two table entries for large indices).
struct SinCos2PiByN {
    n: usize,
    mask: usize,
    shift: u32,
    v1: Vec<(f64, f64)>,
    v2: Vec<(f64, f64)>,
}

impl SinCos2PiByN {
    fn calc(x: usize, n: usize, ang: f64) -> (f64, f64) {
        let mut x = x << 3;
        let f = |v: usize| v as f64 * ang;
        if x < 4 * n {
            if x < 2 * n {
                if x < n {
                    return (f(x).cos(), f(x).sin());
                }
                return (f(2 * n - x).sin(), f(2 * n - x).cos());
            }
            x -= 2 * n;
            if x < n {
                return (-f(x).sin(), f(x).cos());
            }
            return (-f(2 * n - x).cos(), f(2 * n - x).sin());
        }
        x = 8 * n - x;
        if x < 2 * n {
            if x < n {
                return (f(x).cos(), -f(x).sin());
            }
            return (f(2 * n - x).sin(), -f(2 * n - x).cos());
        }
        x -= 2 * n;
        if x < n {
            return (-f(x).sin(), -f(x).cos());
        }
        (-f(2 * n - x).cos(), -f(2 * n - x).sin())
    }

    fn new(n: usize) -> Self {
        // `Thigh(0.25L*pi/n)`: a power-of-two n only rescales π, so the double result is
        // the same as computing in double.
        let ang = 0.25 * std::f64::consts::PI / n as f64;
        let nval = (n + 2) / 2;
        let mut shift = 1u32;
        while (1usize << shift) * (1usize << shift) < nval {
            shift += 1;
        }
        let mask = (1usize << shift) - 1;
        let mut v1 = vec![(1.0, 0.0); mask + 1];
        for (i, v) in v1.iter_mut().enumerate().skip(1) {
            *v = Self::calc(i, n, ang);
        }
        let mut v2 = vec![(1.0, 0.0); nval.div_ceil(mask + 1)];
        for (i, v) in v2.iter_mut().enumerate().skip(1) {
            *v = Self::calc(i * (mask + 1), n, ang);
        }
        Self {
            n,
            mask,
            shift,
            v1,
            v2,
        }
    }

    fn get(&self, idx: usize) -> (f64, f64) {
        let (idx, conj) = if 2 * idx <= self.n {
            (idx, false)
        } else {
            (self.n - idx, true)
        };
        let (x1, x2) = (self.v1[idx & self.mask], self.v2[idx >> self.shift]);
        let (re, im) = (x1.0 * x2.0 - x1.1 * x2.1, x1.0 * x2.1 + x1.1 * x2.0);
        (re, if conj { -im } else { im })
    }
}

/// Precomputed twiddles for the length-32 DCT-II.
#[derive(Debug, Clone)]
pub struct Dct32 {
    /// `rfftp` twiddles of the first backward pass (radix 2, ido 16).
    tw_radb2: [f64; 15],
    /// `rfftp` twiddles of the second backward pass (radix 4, ido 4).
    tw_radb4: [f64; 9],
    /// `T_dcst23::twiddle[i] = sincos_2pibyn(4N)[i + 1].re`.
    twiddle: [f64; N],
}

impl Default for Dct32 {
    fn default() -> Self {
        Self::new()
    }
}

/// pocketfft's `PM(a, b, c, d)`: `a = c + d; b = c - d`.
#[inline]
fn pm(c: f64, d: f64) -> (f64, f64) {
    (c + d, c - d)
}

/// pocketfft's `MULPM(a, b, c, d, e, f)`: `a = c*e + d*f; b = c*f - d*e`.
#[inline]
fn mulpm(c: f64, d: f64, e: f64, f: f64) -> (f64, f64) {
    (c * e + d * f, c * f - d * e)
}

impl Dct32 {
    /// Build the twiddle tables (pocketfft's `rfftp::comp_twiddle` and `T_dcst23::T_dcst23`).
    pub fn new() -> Self {
        let twid = SinCos2PiByN::new(N);
        let mut tw_radb2 = [0.0; 15];
        // Factor 0: ip = 2, l1 = 1, ido = 16.
        for i in 1..=7 {
            let (re, im) = twid.get(i);
            tw_radb2[2 * i - 2] = re;
            tw_radb2[2 * i - 1] = im;
        }
        // Factor 1: ip = 4, l1 = 2, ido = 4.
        let mut tw_radb4 = [0.0; 9];
        for j in 1..4 {
            let (re, im) = twid.get(j * 2);
            tw_radb4[(j - 1) * 3] = re;
            tw_radb4[(j - 1) * 3 + 1] = im;
        }
        let tw4 = SinCos2PiByN::new(4 * N);
        let mut twiddle = [0.0; N];
        for (i, t) in twiddle.iter_mut().enumerate() {
            *t = tw4.get(i + 1).0;
        }
        Self {
            tw_radb2,
            tw_radb4,
            twiddle,
        }
    }

    /// pocketfft `radb2` (halfcomplex → real, radix 2).
    fn radb2(ido: usize, l1: usize, cc: &[f64], ch: &mut [f64], wa: &[f64]) {
        let cci = |a: usize, b: usize, c: usize| a + ido * (b + 2 * c);
        let chi = |a: usize, b: usize, c: usize| a + ido * (b + l1 * c);
        for k in 0..l1 {
            let (a, b) = pm(cc[cci(0, 0, k)], cc[cci(ido - 1, 1, k)]);
            ch[chi(0, k, 0)] = a;
            ch[chi(0, k, 1)] = b;
        }
        if ido % 2 == 0 {
            for k in 0..l1 {
                ch[chi(ido - 1, k, 0)] = 2.0 * cc[cci(ido - 1, 0, k)];
                ch[chi(ido - 1, k, 1)] = -2.0 * cc[cci(0, 1, k)];
            }
        }
        if ido <= 2 {
            return;
        }
        for k in 0..l1 {
            for i in (2..ido).step_by(2) {
                let ic = ido - i;
                let (a, tr2) = pm(cc[cci(i - 1, 0, k)], cc[cci(ic - 1, 1, k)]);
                ch[chi(i - 1, k, 0)] = a;
                let (ti2, b) = pm(cc[cci(i, 0, k)], cc[cci(ic, 1, k)]);
                ch[chi(i, k, 0)] = b;
                let (x, y) = mulpm(wa[i - 2], wa[i - 1], ti2, tr2);
                ch[chi(i, k, 1)] = x;
                ch[chi(i - 1, k, 1)] = y;
            }
        }
    }

    /// pocketfft `radb4` (halfcomplex → real, radix 4).
    fn radb4(ido: usize, l1: usize, cc: &[f64], ch: &mut [f64], wa: &[f64]) {
        const SQRT2: f64 = std::f64::consts::SQRT_2;
        let cci = |a: usize, b: usize, c: usize| a + ido * (b + 4 * c);
        let chi = |a: usize, b: usize, c: usize| a + ido * (b + l1 * c);
        let w = |x: usize, i: usize| wa[i + x * (ido - 1)];
        for k in 0..l1 {
            let (tr2, tr1) = pm(cc[cci(0, 0, k)], cc[cci(ido - 1, 3, k)]);
            let tr3 = 2.0 * cc[cci(ido - 1, 1, k)];
            let tr4 = 2.0 * cc[cci(0, 2, k)];
            let (a, b) = pm(tr2, tr3);
            ch[chi(0, k, 0)] = a;
            ch[chi(0, k, 2)] = b;
            let (a, b) = pm(tr1, tr4);
            ch[chi(0, k, 3)] = a;
            ch[chi(0, k, 1)] = b;
        }
        if ido % 2 == 0 {
            for k in 0..l1 {
                let (ti1, ti2) = pm(cc[cci(0, 3, k)], cc[cci(0, 1, k)]);
                let (tr2, tr1) = pm(cc[cci(ido - 1, 0, k)], cc[cci(ido - 1, 2, k)]);
                ch[chi(ido - 1, k, 0)] = tr2 + tr2;
                ch[chi(ido - 1, k, 1)] = SQRT2 * (tr1 - ti1);
                ch[chi(ido - 1, k, 2)] = ti2 + ti2;
                ch[chi(ido - 1, k, 3)] = -SQRT2 * (tr1 + ti1);
            }
        }
        if ido <= 2 {
            return;
        }
        for k in 0..l1 {
            for i in (2..ido).step_by(2) {
                let ic = ido - i;
                let (tr2, tr1) = pm(cc[cci(i - 1, 0, k)], cc[cci(ic - 1, 3, k)]);
                let (ti1, ti2) = pm(cc[cci(i, 0, k)], cc[cci(ic, 3, k)]);
                let (tr4, ti3) = pm(cc[cci(i, 2, k)], cc[cci(ic, 1, k)]);
                let (tr3, ti4) = pm(cc[cci(i - 1, 2, k)], cc[cci(ic - 1, 1, k)]);
                let (a, cr3) = pm(tr2, tr3);
                ch[chi(i - 1, k, 0)] = a;
                let (a, ci3) = pm(ti2, ti3);
                ch[chi(i, k, 0)] = a;
                let (cr4, cr2) = pm(tr1, tr4);
                let (ci2, ci4) = pm(ti1, ti4);
                for (x, (ci, cr)) in [(ci2, cr2), (ci3, cr3), (ci4, cr4)].into_iter().enumerate() {
                    let (a, b) = mulpm(w(x, i - 2), w(x, i - 1), ci, cr);
                    ch[chi(i, k, x + 1)] = a;
                    ch[chi(i - 1, k, x + 1)] = b;
                }
            }
        }
    }

    /// `scipy.fftpack.dct(x)` for one length-32 vector: type II, unnormalised,
    /// `y[k] = 2 Σ x[n] cos(πk(2n+1)/64)`, with pocketfft's exact rounding.
    pub fn dct2(&self, x: &[f64; N]) -> [f64; N] {
        let mut c = *x;
        c[0] *= 2.0;
        c[N - 1] *= 2.0;
        for k in (1..N - 1).step_by(2) {
            // MPINPLACE(c[k+1], c[k]): a -= b; b += a_old.
            let t = c[k + 1];
            c[k + 1] = t - c[k];
            c[k] += t;
        }
        // rfftp backward (hc2r), factors 2, 4, 4 applied in that order.
        let mut ch = [0.0; N];
        Self::radb2(16, 1, &c, &mut ch, &self.tw_radb2);
        Self::radb4(4, 2, &ch, &mut c, &self.tw_radb4);
        Self::radb4(1, 8, &c, &mut ch, &[]);
        let mut c = ch;
        let tw = &self.twiddle;
        const NS2: usize = N.div_ceil(2);
        for k in 1..NS2 {
            let kc = N - k;
            let t1 = tw[k - 1] * c[kc] + tw[kc - 1] * c[k];
            let t2 = tw[k - 1] * c[k] - tw[kc - 1] * c[kc];
            c[k] = 0.5 * (t1 + t2);
            c[kc] = 0.5 * (t1 - t2);
        }
        c[NS2] *= tw[NS2 - 1];
        c
    }

    /// The top-left 8×8 of `dct(dct(pixels, axis=0), axis=1)` for a 32×32 row-major image,
    /// as imagehash's `phash()` computes it (`[row frequency][column frequency]`).
    pub fn low_8x8(&self, pixels: &[u8; N * N]) -> [[f64; 8]; 8] {
        // Axis 0: transform every column; keep the 8 lowest vertical frequencies.
        let mut cols = [[0.0f64; N]; 8]; // cols[k][x]
        for x in 0..N {
            let mut v = [0.0; N];
            for (y, e) in v.iter_mut().enumerate() {
                *e = f64::from(pixels[y * N + x]);
            }
            let d = self.dct2(&v);
            for k in 0..8 {
                cols[k][x] = d[k];
            }
        }
        // Axis 1: transform the 8 kept rows.
        let mut out = [[0.0; 8]; 8];
        for (k, row) in cols.iter().enumerate() {
            let d = self.dct2(row);
            out[k].copy_from_slice(&d[..8]);
        }
        out
    }
}

/// `numpy.median` of 64 values: the mean `(a + b) / 2` of the two middle sorted values.
pub fn median64(values: &[f64; 64]) -> f64 {
    let mut s = *values;
    s.sort_by(f64::total_cmp);
    (s[31] + s[32]) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(x: &[f64; N]) -> [f64; N] {
        let mut y = [0.0; N];
        for (k, yk) in y.iter_mut().enumerate() {
            *yk = 2.0
                * x.iter()
                    .enumerate()
                    .map(|(n, &v)| {
                        v * (std::f64::consts::PI * (k * (2 * n + 1)) as f64 / (2 * N) as f64).cos()
                    })
                    .sum::<f64>();
        }
        y
    }

    #[test]
    fn agrees_with_definition() {
        let dct = Dct32::new();
        let mut x = [0.0; N];
        let mut s = 12345u32;
        for v in &mut x {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *v = f64::from(s >> 24);
        }
        let (a, b) = (dct.dct2(&x), direct(&x));
        for k in 0..N {
            assert!((a[k] - b[k]).abs() < 1e-9, "k={k}: {} vs {}", a[k], b[k]);
        }
    }

    #[test]
    fn constant_input_gives_exact_zeros() {
        let dct = Dct32::new();
        let y = dct.dct2(&[7.0; N]);
        assert_eq!(y[0], 2.0 * 7.0 * N as f64);
        assert!(y[1..].iter().all(|&v| v == 0.0), "{y:?}");
    }

    #[test]
    fn median_of_two_middles() {
        let mut v = [0.0; 64];
        for (i, e) in v.iter_mut().enumerate() {
            *e = (63 - i) as f64;
        }
        assert_eq!(median64(&v), 31.5);
    }
}
