//! The default CPU path for PDQ: bit-identical to [`super::oracle`], several times faster.
//!
//! Exactness rests on one rule: every running sum sees the same float32 operations in the same
//! order as the oracle's `box1d`; only *which* independent sums run side by side changes.
//!
//! - Horizontal box passes run on strips of `LANES` (16) rows transposed into a small scratch
//!   (`[column][lane]`), so one vector op advances the running sums of 16 rows at once (two
//!   independent 8-lane chains on AVX2, so one chain's add→subtract latency is hidden).
//! - Vertical box passes run row by row with one running sum per column (contiguous lanes).
//! - Only 64 columns and 64 rows survive decimation, so the second horizontal pass divides only
//!   at the 64 decimated columns, and the second vertical pass runs on those 64 columns alone.
//!   (Every running sum still passes over all its samples: a float running sum cannot skip.)
//! - The first horizontal pass writes its rows into a ring of `wc + 16` rows, and the first
//!   vertical pass consumes them as soon as its window allows, streaming its own rows into the
//!   second horizontal pass: no full-size float buffer exists, and the intermediate rows stay
//!   in cache.
//! - Division by the box count (`sum / cnt`) runs over long runs (whole rows; the columns of a
//!   strip with a full window) through [`super::recip`]: a multiply by a reciprocal split in
//!   two floats (one multiply, one FMA), bit-identical to the divide instruction for every count
//!   it is used with.
//!
//! With AVX-512, passes 1–3 run in `pdq::fused` instead: the same order of operations,
//! fused per 32-row strip so luma, transposes and divisions stay in registers (about 1.5×
//! faster on the photo benchmark). Pass 4, the DCT and the bits are shared.
//!
//! The code is generic Rust written so that LLVM vectorises it; [`crate::simd::Level`] picks
//! the instruction set it is compiled for (the same source under `#[target_feature]`). The hot
//! loops call no closures: a closure LLVM does not inline is compiled without the caller's
//! target features (an FMA in one became a library call).

use std::cell::RefCell;

use super::oracle::{self, Buf64, MIN_HASHABLE_DIM, decimation_index, jarosz_window};
use super::oracle::{LUMA_B, LUMA_G, LUMA_R};
use super::recip::Recip;
use super::{Dct16, PdqDihedral, PdqHash, PdqOutput};
use crate::simd::{self, Level};
use crate::{ImageView, PixelLayout};

/// Rows processed side by side in the horizontal passes: two 8-row halves, so two
/// independent running-sum chains (or one 16-lane AVX-512 chain) are in flight and the
/// add→subtract latency of one chain no longer sets the pace.
const LANES: usize = 16;
type Lanes = [f32; LANES];

/// Reusable per-thread buffers, so hashing a stream of images does not page-fault fresh memory
/// for every frame. Buffers above [`KEEP_BYTES`] are released after use.
#[derive(Default)]
struct Scratch {
    ring: Vec<f32>,
    t_in: Vec<Lanes>,
    t_out: Vec<Lanes>,
    strip: Vec<f32>,
    sums: Vec<f32>,
    cols64: Vec<f32>,
    #[cfg(target_arch = "x86_64")]
    fused: super::fused::Scratch,
}

const KEEP_BYTES: usize = 64 << 20;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// PDQ hash and quality at the process's SIMD level.
pub fn hash(view: &ImageView<'_>) -> PdqOutput {
    hash_at(view, simd::level())
}

/// PDQ hash and quality at a given SIMD level (capped at what the CPU supports).
pub fn hash_at(view: &ImageView<'_>, level: Level) -> PdqOutput {
    if too_small(view) {
        return PdqOutput {
            hash: PdqHash::ZERO,
            quality: 0,
        };
    }
    let a = buffer64_at(view, level);
    let (dct, quality) = dct_and_quality(&a, level);
    PdqOutput {
        hash: bits(&dct),
        quality,
    }
}

/// The 8 dihedral hashes at a given SIMD level.
pub fn hash_dihedral_at(view: &ImageView<'_>, level: Level) -> PdqDihedral {
    if too_small(view) {
        return PdqDihedral {
            hashes: [PdqHash::ZERO; 8],
            quality: 0,
        };
    }
    let a = buffer64_at(view, level);
    let (dct, quality) = dct_and_quality(&a, level);
    PdqDihedral {
        hashes: oracle::dihedral_dcts(&dct).map(|d| bits(&d)),
        quality,
    }
}

/// The DCT and the quality of the 64×64 buffer, compiled for the widest vectors `level` allows
/// (capped at what the CPU supports). Both are the oracle's operations in the oracle's order:
/// separate multiplies and adds, which LLVM never fuses into FMAs, and an integer sum, so the
/// vector width changes only the speed. At the baseline (SSE2) the quality's saturating
/// float-to-int conversions ran one value at a time: the two took about a tenth of PDQ's time
/// on a 400 × 400 image.
fn dct_and_quality(a: &Buf64, level: Level) -> (Dct16, u8) {
    match level.min(simd::detected()) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level` is capped at `simd::detected()`, which returns Avx512 only after
        // avx512f/bw/vl and avx2 were detected.
        Level::Avx512 => unsafe { dct_and_quality_avx512(a) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above; Avx2 is returned only after avx2 was detected.
        Level::Avx2 => unsafe { dct_and_quality_avx2(a) },
        _ => (dct16(a), quality(a)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
fn dct_and_quality_avx512(a: &Buf64) -> (Dct16, u8) {
    (dct16(a), quality(a))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dct_and_quality_avx2(a: &Buf64) -> (Dct16, u8) {
    (dct16(a), quality(a))
}

/// [`oracle::quality`], operation for operation, inlined into each instruction set's copy.
///
/// The oracle's `d as i32` saturates (and maps NaN to 0), which LLVM compiles one value at a
/// time; for `|d| < 2³¹` it is plain truncation, which vectorises. Every buffer value is in
/// [0, 255] for 8-bit pixels, so `|d| ≤ 100`; a buffer with any value outside ±2¹⁸ (none
/// arises from pixels) takes the oracle's own code instead. Within that bound the integer sum
/// cannot overflow either (8,064 terms under 2¹⁸ each), so adding in any order is exact.
#[inline(always)]
fn quality(a: &Buf64) -> u8 {
    const LIMIT: f32 = (1 << 18) as f32;
    // A fold rather than `any`: without the early exit the check vectorises.
    let odd = a
        .iter()
        .flatten()
        .fold(false, |odd, &x| odd | x.is_nan() | (x.abs() > LIMIT));
    if odd {
        return oracle::quality(a);
    }
    let trunc = |x: f32, y: f32| -> i32 {
        let d = ((x - y) * 100.0) / 255.0;
        // SAFETY: |x|, |y| ≤ 2¹⁸ (checked above), so d is finite and |d| < 2¹⁸ < 2³¹: the
        // truncated value fits an i32, where `to_int_unchecked` equals `as`.
        unsafe { d.to_int_unchecked::<i32>() }.abs()
    };
    let mut sum: i32 = 0;
    for (up, down) in a.iter().zip(&a[1..]) {
        for (&x, &y) in up.iter().zip(down) {
            sum += trunc(x, y);
        }
    }
    for row in a {
        for (&x, &y) in row.iter().zip(&row[1..]) {
            sum += trunc(x, y);
        }
    }
    (sum / 90).min(100) as u8
}

fn too_small(view: &ImageView<'_>) -> bool {
    (view.height() as usize) < MIN_HASHABLE_DIM || (view.width() as usize) < MIN_HASHABLE_DIM
}

/// The 64×64 buffer (luma, blur, decimate), bit-identical to [`oracle::image_buffer64`].
pub fn buffer64_at(view: &ImageView<'_>, level: Level) -> Box<Buf64> {
    let level = level.min(simd::detected());
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let out = match level {
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 | Level::Avx512 if !std::arch::is_x86_feature_detected!("fma") => {
                buffer64_generic::<Portable>(view, &mut s)
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                // SAFETY: `level` is capped at `simd::detected()`, which returns Avx512 only
                // after `is_x86_feature_detected!` confirmed avx512f/bw/vl and avx2; fma was
                // detected in the arm above.
                unsafe { buffer64_avx512(view, &mut s) }
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                // SAFETY: as above; Avx2 is returned only after avx2 was detected.
                unsafe { buffer64_avx2(view, &mut s) }
            }
            _ => buffer64_generic::<Portable>(view, &mut s),
        };
        let held = 4 * (s.ring.capacity() + s.strip.capacity() + s.cols64.capacity())
            + size_of::<Lanes>() * (s.t_in.capacity() + s.t_out.capacity())
            + s.fused_bytes();
        if held > KEEP_BYTES {
            *s = Scratch::default();
        }
        out
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn buffer64_avx2(view: &ImageView<'_>, s: &mut Scratch) -> Box<Buf64> {
    buffer64_generic::<x86::Avx>(view, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
unsafe fn buffer64_avx512(view: &ImageView<'_>, s: &mut Scratch) -> Box<Buf64> {
    let (w, h) = (view.width() as usize, view.height() as usize);
    if w == 64 && h == 64 {
        return luma64(view);
    }
    // SAFETY: this function runs with the target features `passes_1_to_3` needs.
    unsafe { super::fused::passes_1_to_3(view, &mut s.fused, &mut s.cols64) };
    pass4(&s.cols64, h, jarosz_window(h), &mut s.sums)
}

impl Scratch {
    fn fused_bytes(&self) -> usize {
        #[cfg(target_arch = "x86_64")]
        return self.fused.bytes();
        #[cfg(not(target_arch = "x86_64"))]
        0
    }
}

/// A 64×64 image needs no blur: its luma is the buffer (spec §1.5).
#[inline(always)]
fn luma64(view: &ImageView<'_>) -> Box<Buf64> {
    let mut out = Box::new([[0.0f32; 64]; 64]);
    for (i, row) in out.iter_mut().enumerate() {
        fill_luma(view, i, row);
    }
    out
}

/// Luma of one pixel, in the oracle's operation order.
#[inline(always)]
fn luma_px(px: &[u8]) -> f32 {
    LUMA_R * f32::from(px[0]) + LUMA_G * f32::from(px[1]) + LUMA_B * f32::from(px[2])
}

#[inline(always)]
fn buffer64_generic<T: Kernels>(view: &ImageView<'_>, s: &mut Scratch) -> Box<Buf64> {
    let (w, h) = (view.width() as usize, view.height() as usize);
    if w == 64 && h == 64 {
        return luma64(view);
    }
    let (wr, wc) = (jarosz_window(w), jarosz_window(h));
    let Scratch {
        ring,
        t_in,
        t_out,
        strip,
        sums,
        cols64,
        ..
    } = s;
    t_in.clear();
    t_in.resize(w, [0.0; LANES]);
    t_out.clear();
    t_out.resize(w, [0.0; LANES]);
    resize(strip, 2 * LANES * w);
    let (strip, strip2) = strip.split_at_mut(LANES * w);
    // Pass 1's output rows live in a ring: pass 2 needs rows `oi - wc ..= oi + half` only, and
    // runs as soon as they exist, so the full-size intermediate never leaves the cache. A
    // strip of LANES rows never wraps (the ring is a multiple of LANES rows), and holds at
    // least wc + LANES rows, so a strip never overwrites a row pass 2 has still to subtract.
    let ring_rows = (wc + LANES).next_multiple_of(LANES);
    resize(ring, ring_rows * w);
    let recip_r = Recip::new(wr, T::FMA);
    // Counts below the half window are only ever added to, never divided by: no check for them.
    let half_c = (wc + 2) / 2;
    let recip_c: Vec<Recip> = (0..=wc)
        .map(|c| Recip::new(c, T::FMA && c >= half_c))
        .collect();
    // The count each column of a horizontal pass divides by, and the run of columns with a
    // full window (the same for every strip).
    let counts_r: Vec<f32> = box_counts(w, wr).into_iter().map(|c| c as f32).collect();
    let full = counts_r.iter().position(|&c| c as usize == wr).unwrap_or(w);
    let last = counts_r
        .iter()
        .rposition(|&c| c as usize == wr)
        .unwrap_or(0);

    // Which columns survive decimation; the second horizontal pass divides only there.
    let inj: [usize; 64] = std::array::from_fn(|j| decimation_index(j, w));
    let mut wanted = vec![false; w];
    for &c in &inj {
        wanted[c] = true;
    }
    resize(cols64, h * 64);
    let mut strip_rows = 0usize;
    let mut strip_start = 0usize;
    let mut vbox = ColumnBox::new(h, wc, w, sums);

    for r0 in (0..h).step_by(LANES) {
        // Pass 1: luma, then the horizontal box, LANES rows at a time, into the ring.
        let n = LANES.min(h - r0);
        for k in 0..n {
            fill_luma(view, r0 + k, &mut strip[k * w..(k + 1) * w]);
        }
        T::rows_to_lanes(strip, w, n, t_in);
        box_lanes(t_in, w, wr, t_out);
        // Divide (sums in t_out, quotients into t_in, which pass 1 no longer needs): the
        // columns with a full window as one run, the edge columns one by one.
        for c in (0..full).chain(last + 1..w) {
            for (q, v) in t_in[c].iter_mut().zip(&t_out[c]) {
                *q = v / counts_r[c];
            }
        }
        if full <= last {
            T::div_slice(
                &recip_r,
                t_in[full..=last].as_flattened_mut(),
                t_out[full..=last].as_flattened(),
            );
        }
        let at = r0 % ring_rows * w;
        T::lanes_to_rows(t_in, w, n, &mut ring[at..at + n * w]);

        // Pass 2 (vertical box over every column) as far as the rows made so far allow,
        // streaming into pass 3 (horizontal box, decimated columns only), LANES rows at a
        // time. Pass 3 writes an h × 64 buffer.
        while let Some((oi, cnt)) = vbox.next(r0 + n, ring, ring_rows) {
            let dst = &mut strip2[strip_rows * w..(strip_rows + 1) * w];
            T::div_slice(&recip_c[cnt as usize], dst, vbox.sums);
            strip_rows += 1;
            if strip_rows == LANES || oi + 1 == h {
                T::rows_to_lanes(strip2, w, strip_rows, t_in);
                box_lanes(t_in, w, wr, t_out);
                for k in 0..strip_rows {
                    let dst = &mut cols64[(strip_start + k) * 64..(strip_start + k + 1) * 64];
                    for (d, &c) in dst.iter_mut().zip(&inj) {
                        *d = t_out[c][k] / counts_r[c];
                    }
                }
                strip_start += strip_rows;
                strip_rows = 0;
            }
        }
    }
    debug_assert!(vbox.done() && strip_start == h);
    pass4(cols64, h, wc, sums)
}

/// Pass 4: the vertical box over the 64 surviving columns (`cols64`, `h` rows of 64) with
/// window `wc`; keep the 64 decimated rows.
#[inline(always)]
fn pass4(cols64: &[f32], h: usize, wc: usize, sums: &mut Vec<f32>) -> Box<Buf64> {
    let mut out = Box::new([[0.0f32; 64]; 64]);
    let ini: [usize; 64] = std::array::from_fn(|i| decimation_index(i, h));
    let mut next = 0usize;
    let mut vbox = ColumnBox::new(h, wc, 64, sums);
    while let Some((oi, cnt)) = vbox.next(h, cols64, h) {
        while next < 64 && ini[next] == oi {
            for (o, v) in out[next].iter_mut().zip(vbox.sums.iter()) {
                *o = v / cnt;
            }
            next += 1;
        }
    }
    debug_assert_eq!(next, 64);
    out
}

#[inline(always)]
fn fill_luma(view: &ImageView<'_>, i: usize, out: &mut [f32]) {
    let row = view.row(i as u32);
    match view.layout() {
        PixelLayout::Rgb8 => {
            for (o, px) in out.iter_mut().zip(row.chunks_exact(3)) {
                *o = luma_px(px);
            }
        }
        PixelLayout::Luma8 => {
            for (o, &v) in out.iter_mut().zip(row) {
                *o = f32::from(v);
            }
        }
    }
}

fn resize(v: &mut Vec<f32>, n: usize) {
    // Every element is written before it is read, so stale contents are fine.
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// `box1d`'s four phases over `n` samples of [`LANES`] independent sequences, writing each
/// output's running sums, undivided, to `out` (the caller divides them in long runs; every
/// strip's outputs have the counts of [`box_counts`]).
#[inline(always)]
fn box_lanes(input: &[Lanes], n: usize, w: usize, out: &mut [Lanes]) {
    let half = (w + 2) / 2;
    let mut sum: Lanes = [0.0; LANES];
    let (mut li, mut ri, mut oi) = (0, 0, 0);
    for _ in 0..half - 1 {
        add(&mut sum, &input[ri]);
        ri += 1;
    }
    for _ in 0..w - half + 1 {
        add(&mut sum, &input[ri]);
        out[oi] = sum;
        ri += 1;
        oi += 1;
    }
    for _ in 0..n.saturating_sub(w) {
        add(&mut sum, &input[ri]);
        sub(&mut sum, &input[li]);
        out[oi] = sum;
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..half - 1 {
        sub(&mut sum, &input[li]);
        out[oi] = sum;
        li += 1;
        oi += 1;
    }
}

#[inline(always)]
fn add(sum: &mut Lanes, x: &Lanes) {
    for (s, v) in sum.iter_mut().zip(x) {
        *s += v;
    }
}

#[inline(always)]
fn sub(sum: &mut Lanes, x: &Lanes) {
    for (s, v) in sum.iter_mut().zip(x) {
        *s -= v;
    }
}

/// The count `box1d` divides each of its `n` outputs by, for window `w` (`n >= w`): output
/// `oi` is emitted by step `oi + half - 1`, when `min(step + 1, n)` samples have been added and
/// `step + 1 - w` (if positive) subtracted. The smallest is `half - 1` (even `w`, last output).
pub(super) fn box_counts(n: usize, w: usize) -> Vec<u32> {
    let half = (w + 2) / 2;
    (0..n)
        .map(|oi| {
            let t = oi + half - 1;
            let added = (t + 1).min(n);
            let removed = (t + 1).saturating_sub(w);
            (added - removed) as u32
        })
        .collect()
}

/// `box1d` down the columns of a row-major buffer, one running sum per column (each in the
/// oracle's order), run step by step so input rows can be fed as they are produced.
///
/// Over `n` rows with window `w` (`n >= w`, always true for `jarosz_window`), step `s` is the
/// oracle's phases in one sequence: `s < half - 1`: add row `s`; `s < w`: add row `s`, emit;
/// `s < n`: add row `s`, subtract row `s - w`, emit; after that, subtract row `s - w`, emit.
struct ColumnBox<'a> {
    n: usize,
    w: usize,
    half: usize,
    step: usize,
    cnt: f32,
    sums: &'a mut [f32],
}

impl<'a> ColumnBox<'a> {
    fn new(n: usize, w: usize, cols: usize, sums: &'a mut Vec<f32>) -> Self {
        debug_assert!(n >= w && w >= 1);
        sums.clear();
        sums.resize(cols, 0.0);
        ColumnBox {
            n,
            w,
            half: (w + 2) / 2,
            step: 0,
            cnt: 0.0,
            sums,
        }
    }

    /// Every step has run (all `n` outputs emitted).
    fn done(&self) -> bool {
        self.step == self.n + self.half - 1
    }

    /// Run steps until one emits an output, and return its row and count (the sums are in
    /// `self.sums`); `None` when every step has run or the next one needs row `avail` or later.
    /// Input row `r` is `rows[r % ring * cols..][..cols]`.
    #[inline(always)]
    fn next(&mut self, avail: usize, rows: &[f32], ring: usize) -> Option<(usize, f32)> {
        let (n, w, half, cols) = (self.n, self.w, self.half, self.sums.len());
        let row = |r: usize| &rows[r % ring * cols..][..cols];
        let end = if avail >= n { n + half - 1 } else { avail };
        while self.step < end {
            let s = self.step;
            self.step += 1;
            if s < half - 1 {
                row_add(self.sums, row(s));
                self.cnt += 1.0;
                continue;
            }
            if s < w {
                row_add(self.sums, row(s));
                self.cnt += 1.0;
            } else if s < n {
                row_add_sub(self.sums, row(s), row(s - w));
            } else {
                row_sub(self.sums, row(s - w));
                self.cnt -= 1.0;
            }
            return Some((s + 1 - half, self.cnt));
        }
        None
    }
}

#[inline(always)]
fn row_add(sums: &mut [f32], x: &[f32]) {
    for (s, v) in sums.iter_mut().zip(x) {
        *s += v;
    }
}

#[inline(always)]
fn row_sub(sums: &mut [f32], x: &[f32]) {
    for (s, v) in sums.iter_mut().zip(x) {
        *s -= v;
    }
}

#[inline(always)]
fn row_add_sub(sums: &mut [f32], plus: &[f32], minus: &[f32]) {
    for ((s, p), m) in sums.iter_mut().zip(plus).zip(minus) {
        *s += p;
        *s -= m;
    }
}

/// The oracle's DCT with loops reordered so the independent sums vectorise; each sum still
/// adds `k = 0..63` in order from 0.
#[inline(always)]
fn dct16(a: &Buf64) -> Dct16 {
    let d = oracle::dct_matrix();
    let mut t = [[0.0f32; 64]; 16];
    for (trow, drow) in t.iter_mut().zip(&d) {
        for (k, arow) in a.iter().enumerate() {
            let dk = drow[k];
            for (tv, av) in trow.iter_mut().zip(arow) {
                *tv += dk * av;
            }
        }
    }
    let mut dt = [[0.0f32; 16]; 64];
    for (j, drow) in d.iter().enumerate() {
        for (k, &v) in drow.iter().enumerate() {
            dt[k][j] = v;
        }
    }
    let mut b = [[0.0f32; 16]; 16];
    for (brow, trow) in b.iter_mut().zip(&t) {
        for (k, dtrow) in dt.iter().enumerate() {
            let tk = trow[k];
            for (bv, dv) in brow.iter_mut().zip(dtrow) {
                *bv += tk * dv;
            }
        }
    }
    b
}

/// Bits against the lower median, found by selection instead of a full sort.
fn bits(b: &Dct16) -> PdqHash {
    let mut v: [f32; 256] = std::array::from_fn(|k| b[k / 16][k % 16]);
    let (_, &mut median, _) = v.select_nth_unstable_by(127, f32::total_cmp);
    let mut h = PdqHash::ZERO;
    for (k, &x) in b.iter().flatten().enumerate() {
        if x > median {
            h.set_bit(k);
        }
    }
    h
}

/// The per-instruction-set kernels: moving `LANES` rows between row-major layout
/// (`rows[k * w + c]`) and lane layout (`lanes[c][k]`), pure data movement (no arithmetic, so
/// any implementation is exact), and division by a box count ([`Recip`], exact by its check).
trait Kernels {
    /// Whether the instantiation runs with a hardware FMA (see [`Recip::new`]).
    const FMA: bool;
    /// `dst[i] = src[i] / b`.
    fn div_slice(r: &Recip, dst: &mut [f32], src: &[f32]);
    /// `lanes[c][k] = rows[k * w + c]` for `k < n`; lanes `k >= n` are left as they are (their
    /// sums are computed and never read).
    fn rows_to_lanes(rows: &[f32], w: usize, n: usize, lanes: &mut [Lanes]);
    /// `rows[k * w + c] = lanes[c][k]` for `k < n`.
    fn lanes_to_rows(lanes: &[Lanes], w: usize, n: usize, rows: &mut [f32]);
}

/// Element by element, for any CPU.
struct Portable;

impl Kernels for Portable {
    const FMA: bool = false;

    #[inline(always)]
    fn div_slice(r: &Recip, dst: &mut [f32], src: &[f32]) {
        r.div_slice(dst, src);
    }

    #[inline(always)]
    fn rows_to_lanes(rows: &[f32], w: usize, n: usize, lanes: &mut [Lanes]) {
        for (c, t) in lanes[..w].iter_mut().enumerate() {
            for (k, v) in t.iter_mut().enumerate().take(n) {
                *v = rows[k * w + c];
            }
        }
    }

    #[inline(always)]
    fn lanes_to_rows(lanes: &[Lanes], w: usize, n: usize, rows: &mut [f32]) {
        for k in 0..n {
            for (d, t) in rows[k * w..(k + 1) * w].iter_mut().zip(lanes) {
                *d = t[k];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! 8×8 block transposes in AVX registers, two per 16-row strip.

    use super::{Kernels, LANES, Lanes, Portable, Recip};
    use std::arch::x86_64::*;

    /// AVX 8×8 block transposes. Only instantiated inside `buffer64_avx2` and
    /// `buffer64_avx512`, which run only after AVX2 (which implies AVX) and FMA were detected.
    pub(super) struct Avx;

    impl Kernels for Avx {
        const FMA: bool = true;

        #[inline(always)]
        fn div_slice(r: &Recip, dst: &mut [f32], src: &[f32]) {
            // SAFETY: `Avx` is only used where AVX2 and FMA were detected.
            unsafe { r.div_slice_avx(dst, src) }
        }

        #[inline(always)]
        fn rows_to_lanes(rows: &[f32], w: usize, n: usize, lanes: &mut [Lanes]) {
            if n < LANES {
                return Portable::rows_to_lanes(rows, w, n, lanes);
            }
            // SAFETY: `Avx` is only used where AVX was detected (see the type's documentation).
            unsafe { rows_to_lanes_avx(rows, w, lanes) }
        }

        #[inline(always)]
        fn lanes_to_rows(lanes: &[Lanes], w: usize, n: usize, rows: &mut [f32]) {
            if n < LANES {
                return Portable::lanes_to_rows(lanes, w, n, rows);
            }
            // SAFETY: as above.
            unsafe { lanes_to_rows_avx(lanes, w, rows) }
        }
    }

    /// Transpose the 8×8 block held in `r` (row i = `r[i]`).
    #[inline]
    #[target_feature(enable = "avx")]
    fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }

    /// `lanes[c][k] = rows[k * w + c]` for all [`LANES`] rows, as 8×8 block transposes.
    #[inline]
    #[target_feature(enable = "avx")]
    fn rows_to_lanes_avx(rows: &[f32], w: usize, lanes: &mut [Lanes]) {
        assert!(rows.len() >= LANES * w && lanes.len() >= w);
        let blocks = w / 8 * 8;
        for half in 0..LANES / 8 {
            for c in (0..blocks).step_by(8) {
                // SAFETY: row (8 * half + k)'s block is rows[(8 * half + k) * w + c ..][..8],
                // in bounds because c + 8 <= w and rows.len() >= LANES * w (asserted); the
                // stores go to lanes[c + j][8 * half ..][..8], in bounds because c + j < w <=
                // lanes.len() and 8 * half + 8 <= LANES. Loads and stores are unaligned.
                unsafe {
                    let p = rows.as_ptr().add(8 * half * w + c);
                    let r = [
                        _mm256_loadu_ps(p),
                        _mm256_loadu_ps(p.add(w)),
                        _mm256_loadu_ps(p.add(2 * w)),
                        _mm256_loadu_ps(p.add(3 * w)),
                        _mm256_loadu_ps(p.add(4 * w)),
                        _mm256_loadu_ps(p.add(5 * w)),
                        _mm256_loadu_ps(p.add(6 * w)),
                        _mm256_loadu_ps(p.add(7 * w)),
                    ];
                    let t = transpose8(r);
                    let q = lanes.as_mut_ptr().add(c).cast::<f32>().add(8 * half);
                    for (j, v) in t.into_iter().enumerate() {
                        _mm256_storeu_ps(q.add(LANES * j), v);
                    }
                }
            }
        }
        for c in blocks..w {
            for k in 0..LANES {
                lanes[c][k] = rows[k * w + c];
            }
        }
    }

    /// `rows[k * w + c] = lanes[c][k]` for all [`LANES`] rows, as 8×8 block transposes.
    #[inline]
    #[target_feature(enable = "avx")]
    fn lanes_to_rows_avx(lanes: &[Lanes], w: usize, rows: &mut [f32]) {
        assert!(rows.len() >= LANES * w && lanes.len() >= w);
        let blocks = w / 8 * 8;
        for half in 0..LANES / 8 {
            for c in (0..blocks).step_by(8) {
                // SAFETY: bounds as in `rows_to_lanes_avx`, with the roles of the slices
                // swapped.
                unsafe {
                    let p = lanes.as_ptr().add(c).cast::<f32>().add(8 * half);
                    let r = [
                        _mm256_loadu_ps(p),
                        _mm256_loadu_ps(p.add(LANES)),
                        _mm256_loadu_ps(p.add(2 * LANES)),
                        _mm256_loadu_ps(p.add(3 * LANES)),
                        _mm256_loadu_ps(p.add(4 * LANES)),
                        _mm256_loadu_ps(p.add(5 * LANES)),
                        _mm256_loadu_ps(p.add(6 * LANES)),
                        _mm256_loadu_ps(p.add(7 * LANES)),
                    ];
                    let t = transpose8(r);
                    let q = rows.as_mut_ptr().add(8 * half * w + c);
                    for (k, v) in t.into_iter().enumerate() {
                        _mm256_storeu_ps(q.add(k * w), v);
                    }
                }
            }
        }
        for c in blocks..w {
            for k in 0..LANES {
                rows[k * w + c] = lanes[c][k];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Buf64, box_counts, dct_and_quality, oracle};
    use crate::simd;

    /// Buffers as the passes make them (values in [0, 255], as smooth or as rough as images
    /// give, so every quality from 0 to 100 occurs), some with up to 8 values no pixel
    /// gives (NaN, or beyond ±2¹⁸, where the quality takes the oracle's code): few enough that
    /// the oracle's integer sum cannot overflow, which would panic in a test build.
    fn buffer() -> impl Strategy<Value = Box<Buf64>> {
        let odd = prop_oneof![
            Just(f32::NAN),
            Just(262_144.0f32),
            Just(-262_144.0f32),
            262_144.0f32..67_108_864.0,
            -67_108_864.0f32..-262_144.0,
        ];
        (
            proptest::collection::vec(-1.0f32..=1.0, 64 * 64),
            // How far neighbours differ: from a flat image (quality 0) to noise (100).
            prop_oneof![0.0f32..8.0, Just(128.0)],
            proptest::collection::vec((0..64 * 64usize, odd), 0..=8),
        )
            .prop_map(|(v, amp, odd)| {
                let mut a = Box::new([[0.0f32; 64]; 64]);
                for (k, u) in v.into_iter().enumerate() {
                    a[k / 64][k % 64] = (128.0 + amp * u).clamp(0.0, 255.0);
                }
                for (k, x) in odd {
                    a[k / 64][k % 64] = x;
                }
                a
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The DCT and the quality at every SIMD level equal the oracle's bit for bit (any NaN
        /// as any other: none arises from pixels, and a NaN sets no bit).
        #[test]
        fn dct_and_quality_equal_the_oracle_at_every_level(a in buffer()) {
            let want = (oracle::dct16(&a), oracle::quality(&a));
            for level in simd::available() {
                let got = dct_and_quality(&a, level);
                prop_assert_eq!(got.1, want.1, "quality [{}]", level.name());
                // NaN payloads may differ (the loops run in another order), never anything else.
                let bits = |d: &super::Dct16| {
                    d.map(|r| r.map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() }))
                };
                prop_assert_eq!(bits(&got.0), bits(&want.0), "dct [{}]", level.name());
            }
        }
    }

    /// The closed form against `box1d`'s own count (phases 1–4 of the oracle).
    #[test]
    fn box_counts_follow_the_oracles_phases() {
        let sizes = (1usize..40).flat_map(|w| (w..w + 300).step_by(7).map(move |n| (n, w)));
        for (n, w) in sizes {
            let half = (w + 2) / 2;
            let mut want = Vec::new();
            let mut cnt = half - 1;
            for _ in 0..w - half + 1 {
                cnt += 1;
                want.push(cnt as u32);
            }
            want.extend(std::iter::repeat_n(cnt as u32, n.saturating_sub(w)));
            for _ in 0..half - 1 {
                cnt -= 1;
                want.push(cnt as u32);
            }
            assert_eq!(box_counts(n, w), want, "n {n} w {w}");
        }
    }
}
