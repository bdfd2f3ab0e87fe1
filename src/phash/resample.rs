//! The fast CPU resize behind [`super::hash`] and [`super::lanczos::resize_lanczos`]: the
//! integer arithmetic of [`super::lanczos::resize_lanczos_oracle`] (Pillow's), reorganised.
//!
//! * Rows are streamed. Each source row the resize reads is converted to `L` (the fused
//!   `convert('L')`, for image views) into one zero-padded scratch row, resampled
//!   horizontally, and added into the vertical accumulator of every output row whose filter
//!   window contains it; neither the full-size `L` image nor the horizontal pass's
//!   intermediate image is materialised. When Pillow goes vertical first
//!   ([`super::lanczos::vertical_first`]) the source rows go straight into full-width vertical
//!   accumulators and the horizontal pass then runs on the `out_h` rounded rows. Which pass
//!   comes first, and so where the intermediate rounding to 8 bits happens, is Pillow's.
//! * The horizontal dot products (about `6 × in/out` taps per output sample) use AVX2 or
//!   AVX-512BW `vpmaddwd` on the weights split into two 16-bit halves; the vertical
//!   accumulation is a plain loop that LLVM vectorises (compiled per level).
//! * Coefficient tables (`f64` `sin` per tap, then fixed point) are cached per thread by
//!   (input size, output size): [`super::lanczos::Coeffs::lanczos`] is a pure function of the
//!   two sizes, so a cached table is the table.
//!
//! # Why every output byte equals the oracle's
//!
//! Each output sample of a pass is `clip8(BIAS + Σ p_i·w_i)` with pixels `p_i ∈ [0, 255]` and
//! fixed-point weights `w_i`. [`Coeffs::lanczos`] asserts `BIAS + 255·Σ⁺w ≤ i32::MAX` and
//! `255·Σ⁻w ≥ i32::MIN`, so `BIAS` plus any sub-sum of the terms lies in `i32`: Pillow's C
//! `int` never overflows, its result is the exact integer, and exact integer addition gives
//! that same integer in any order or grouping. The streaming order (row by row into the
//! vertical accumulators) is therefore exact with plain `i32` arithmetic. The SIMD horizontal
//! dot product splits each weight as `w = hi·2^15 + lo` with `lo = w & 0x7fff ∈ [0, 32767]`
//! and `hi = w >> 15`; the assertion bounds `|w| < 2^31 / 255 < 2^24`, so
//! `hi ∈ [-2^9, 2^9]`, and both halves fit `i16`. `vpmaddwd` of pixels (≤ 255) with either
//! half is exact (a pair sum is below `2·255·32767 < 2^31`). The lane sums are accumulated
//! with wrapping `i32` adds and combined as `(A << 15) + B + BIAS`, also wrapping: wrapping
//! addition and multiplication are exact modulo `2^32`, so the result is congruent to the true
//! `BIAS + Σ p_i·w_i`, and since that true value lies in `i32`, the wrapped `i32` *is* it.
//! The property tests in this module compare every level with the oracle bit for bit.

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use super::lanczos::{BIAS, Coeffs, clip8, vertical_first};
use super::luma;
use crate::simd::{self, Level};
use crate::{ImageView, PixelLayout};

/// Zero bytes after each scratch row: a SIMD chunk that starts at a tap inside the row may
/// read up to `LANES - 1` bytes past the row's end (with zero weights there).
const PAD: usize = 32;

/// Cached axes per thread, most recently used first.
const CACHE_LEN: usize = 8;

/// Axes with more input samples than this are not cached (their tables are large; such
/// images are rare and slow to hash anyway, so recomputing the `sin`s costs little).
const CACHE_MAX_IN: u32 = 8192;

/// The weights along one axis, with the derived layouts the fast passes use (built lazily).
struct Axis {
    coeffs: Coeffs,
    /// The horizontal pass's split weights, for 16-lane (AVX2) and 32-lane (AVX-512) chunks.
    split: [OnceCell<Split>; 2],
    /// The vertical pass's taps grouped by source row.
    by_row: OnceCell<ByRow>,
}

impl Axis {
    fn new(in_size: u32, out_size: u32) -> Self {
        Self {
            coeffs: Coeffs::lanczos(in_size, out_size),
            split: [OnceCell::new(), OnceCell::new()],
            by_row: OnceCell::new(),
        }
    }

    fn split(&self, lanes: usize) -> &Split {
        let i = usize::from(lanes == 32);
        self.split[i].get_or_init(|| Split::new(&self.coeffs, lanes))
    }

    fn by_row(&self) -> &ByRow {
        self.by_row.get_or_init(|| ByRow::new(&self.coeffs))
    }
}

/// A cache entry: (input size, output size) and the axis.
type CachedAxis = ((u32, u32), Rc<Axis>);

thread_local! {
    static AXES: RefCell<Vec<CachedAxis>> = const { RefCell::new(Vec::new()) };
}

/// The (possibly cached) axis for resampling `in_size` samples to `out_size`.
fn axis(in_size: u32, out_size: u32) -> Rc<Axis> {
    if in_size > CACHE_MAX_IN {
        return Rc::new(Axis::new(in_size, out_size));
    }
    AXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let key = (in_size, out_size);
        if let Some(i) = cache.iter().position(|(k, _)| *k == key) {
            let hit = cache.remove(i);
            let axis = Rc::clone(&hit.1);
            cache.insert(0, hit);
            return axis;
        }
        let axis = Rc::new(Axis::new(in_size, out_size));
        cache.insert(0, (key, Rc::clone(&axis)));
        cache.truncate(CACHE_LEN);
        axis
    })
}

/// Where one output sample's padded taps are in a [`Split`].
#[derive(Debug, Clone, Copy)]
struct Taps {
    /// First source sample (Pillow's `xmin`).
    start: usize,
    /// Number of `lanes`-wide chunks (taps padded with zero weights).
    chunks: usize,
    /// Offset of the first weight in [`Split::hi`] / [`Split::lo`].
    offset: usize,
}

/// Horizontal weights as `hi·2^15 + lo` halves in `i16`, each output's taps zero-padded to
/// whole chunks of `lanes` (see the module docs for why the split is exact).
struct Split {
    taps: Vec<Taps>,
    hi: Vec<i16>,
    lo: Vec<i16>,
}

impl Split {
    fn new(coeffs: &Coeffs, lanes: usize) -> Self {
        let mut taps = Vec::with_capacity(coeffs.bounds.len());
        let total: usize = coeffs
            .bounds
            .iter()
            .map(|&(_, n)| n.div_ceil(lanes) * lanes)
            .sum();
        let (mut hi, mut lo) = (Vec::with_capacity(total), Vec::with_capacity(total));
        for (&(start, n), w) in coeffs.bounds.iter().zip(&coeffs.weights) {
            let chunks = n.div_ceil(lanes);
            taps.push(Taps {
                start,
                chunks,
                offset: hi.len(),
            });
            for &w in w {
                let h = i16::try_from(w >> 15).expect("weight bounded by Coeffs::lanczos");
                hi.push(h);
                lo.push((w & 0x7fff) as i16);
            }
            hi.resize(hi.len() + chunks * lanes - n, 0);
            lo.resize(lo.len() + chunks * lanes - n, 0);
        }
        Self { taps, hi, lo }
    }
}

/// The vertical taps inverted: for source row `y`, the `(output row, weight)` pairs at
/// `pairs[start[y]..start[y + 1]]`.
struct ByRow {
    start: Vec<usize>,
    pairs: Vec<(usize, i32)>,
}

impl ByRow {
    fn new(coeffs: &Coeffs) -> Self {
        let rows = coeffs
            .bounds
            .iter()
            .map(|&(min, n)| min + n)
            .max()
            .unwrap_or(0);
        let mut count = vec![0usize; rows + 1];
        for &(min, n) in &coeffs.bounds {
            for c in &mut count[min + 1..min + n + 1] {
                *c += 1;
            }
        }
        for y in 1..=rows {
            count[y] += count[y - 1];
        }
        let mut next = count.clone();
        let mut pairs = vec![(0, 0); count[rows]];
        for (yy, (&(min, _), w)) in coeffs.bounds.iter().zip(&coeffs.weights).enumerate() {
            for (i, &k) in w.iter().enumerate() {
                pairs[next[min + i]] = (yy, k);
                next[min + i] += 1;
            }
        }
        Self {
            start: count,
            pairs,
        }
    }

    /// The `(output row, weight)` pairs that read source row `y`.
    fn row(&self, y: usize) -> &[(usize, i32)] {
        match self.start.get(y + 1) {
            Some(&end) => &self.pairs[self.start[y]..end],
            None => &[],
        }
    }

    /// The source rows some output row reads: `first..last`.
    fn span(&self, coeffs: &Coeffs) -> (usize, usize) {
        let first = coeffs.bounds.iter().map(|b| b.0).min().unwrap_or(0);
        (first.min(self.start.len() - 1), self.start.len() - 1)
    }
}

/// A source of `L` rows: a packed grey buffer, or an image view converted as Pillow's
/// `convert('L')` does.
trait Rows {
    /// Write row `y` (`dst.len()` = width samples) as `L`.
    fn fill(&self, y: usize, dst: &mut [u8], level: Level);
}

/// A tightly packed grey image `w` samples wide.
struct Packed<'a> {
    data: &'a [u8],
    w: usize,
}

impl Rows for Packed<'_> {
    fn fill(&self, y: usize, dst: &mut [u8], _level: Level) {
        dst.copy_from_slice(&self.data[y * self.w..][..self.w]);
    }
}

impl Rows for ImageView<'_> {
    fn fill(&self, y: usize, dst: &mut [u8], level: Level) {
        let row = self.row(y as u32);
        match self.layout() {
            PixelLayout::Luma8 => dst.copy_from_slice(&row[..dst.len()]),
            PixelLayout::Rgb8 => luma::rgb_row_to_l_at(&row[..3 * dst.len()], dst, level),
        }
    }
}

/// [`super::lanczos::resize_lanczos_at`]: a packed grey image.
pub(super) fn resize_packed(
    src: &[u8],
    width: u32,
    height: u32,
    out_w: u32,
    out_h: u32,
    level: Level,
) -> Vec<u8> {
    let rows = Packed {
        data: src,
        w: width as usize,
    };
    resize(&rows, width, height, out_w, out_h, level)
}

/// `resize_lanczos_32(pillow_l(view))` without the full-size `L` image.
///
/// # Panics
/// If the view is empty (Pillow cannot resize it either).
pub fn resize_view_32_at(view: &ImageView<'_>, level: Level) -> [u8; 1024] {
    let v = resize(view, view.width(), view.height(), 32, 32, level);
    let mut out = [0u8; 1024];
    out.copy_from_slice(&v);
    out
}

/// The resize of `rows` (`width × height`) to `out_w × out_h`, same bytes as the oracle.
fn resize<R: Rows + ?Sized>(
    rows: &R,
    width: u32,
    height: u32,
    out_w: u32,
    out_h: u32,
    level: Level,
) -> Vec<u8> {
    assert!(
        width > 0 && height > 0 && out_w > 0 && out_h > 0,
        "empty resize {width}x{height} -> {out_w}x{out_h}"
    );
    let level = level.min(simd::detected());
    let w = width as usize;
    let (ow, oh) = (out_w as usize, out_h as usize);
    // Every byte of `row` past `w` stays 0; fills overwrite `row[..w]` only.
    let mut row = vec![0u8; w + PAD];
    let need_horizontal = out_w != width;
    let need_vertical = out_h != height;

    if vertical_first(width, height, out_w, out_h) {
        let (horiz, vert) = (axis(width, out_w), axis(height, out_h));
        let by_row = vert.by_row();
        let (first, last) = by_row.span(&vert.coeffs);
        let mut acc = vec![BIAS; w * oh];
        for y in first..last {
            rows.fill(y, &mut row[..w], level);
            accumulate(level, &mut acc, w, &row[..w], by_row.row(y));
        }
        let mut out = vec![0u8; ow * oh];
        for (acc_row, out_row) in acc.chunks_exact(w).zip(out.chunks_exact_mut(ow)) {
            for (p, &a) in row.iter_mut().zip(acc_row) {
                *p = clip8(a);
            }
            horizontal(level, &horiz, &row, out_row);
        }
        return out;
    }

    let mut out = vec![0u8; ow * oh];
    let vert = need_vertical.then(|| axis(height, out_h));
    let (first, last) = match &vert {
        Some(vert) => vert.by_row().span(&vert.coeffs),
        None => (0, height as usize),
    };
    let mut acc = vec![BIAS; if need_vertical { ow * oh } else { 0 }];
    if !need_horizontal {
        // Width unchanged: the vertical pass alone (a copy when neither pass is needed).
        for y in first..last {
            match &vert {
                Some(vert) => {
                    rows.fill(y, &mut row[..w], level);
                    accumulate(level, &mut acc, ow, &row[..w], vert.by_row().row(y));
                }
                None => rows.fill(y, &mut out[y * ow..][..ow], level),
            }
        }
    } else {
        // The horizontal pass, `BATCH` source rows at a time (they share the weight loads).
        let horiz = axis(width, out_w);
        let stride = w + PAD;
        // As with `row`, the bytes past each row's `w` stay 0.
        let mut batch = vec![0u8; BATCH * stride];
        let mut hrows = vec![0u8; BATCH * ow];
        for y0 in (first..last).step_by(BATCH) {
            let n = BATCH.min(last - y0);
            for (i, r) in batch.chunks_exact_mut(stride).take(n).enumerate() {
                rows.fill(y0 + i, &mut r[..w], level);
            }
            horizontal_batch(level, &horiz, &batch, stride, n, &mut hrows);
            for (i, hrow) in hrows.chunks_exact(ow).take(n).enumerate() {
                match &vert {
                    Some(vert) => accumulate(level, &mut acc, ow, hrow, vert.by_row().row(y0 + i)),
                    None => out[(y0 + i) * ow..][..ow].copy_from_slice(hrow),
                }
            }
        }
    }
    if need_vertical {
        for (o, &a) in out.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

/// Source rows per batch of the horizontal pass.
const BATCH: usize = 4;

/// The horizontal pass of `n ≤ BATCH` rows, each `stride` bytes apart in `batch` (the row,
/// then at least [`PAD`] bytes), into `out` (`out_size` samples per row, rows consecutive).
fn horizontal_batch(
    level: Level,
    axis: &Axis,
    batch: &[u8],
    stride: usize,
    n: usize,
    out: &mut [u8],
) {
    let ow = axis.coeffs.bounds.len();
    if n == BATCH {
        match level {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                // SAFETY: `resize` capped `level` at `simd::detected()` (avx512f/bw/vl, avx2).
                unsafe { x86::horizontal4_avx512(axis.split(32), batch, stride, out) };
                return;
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                // SAFETY: as above; avx2 was detected.
                unsafe { x86::horizontal4_avx2(axis.split(16), batch, stride, out) };
                return;
            }
            _ => {}
        }
    }
    for (r, o) in batch
        .chunks_exact(stride)
        .zip(out.chunks_exact_mut(ow))
        .take(n)
    {
        horizontal(level, axis, r, o);
    }
}

/// Add `row` times each pair's weight into that output row of `acc` (rows `width` wide).
fn accumulate(level: Level, acc: &mut [i32], width: usize, row: &[u8], pairs: &[(usize, i32)]) {
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => {
            // SAFETY: `resize` capped `level` at `simd::detected()`, which reports Avx512 only
            // after avx512f/bw/vl and avx2 were detected.
            unsafe { accumulate_avx512(acc, width, row, pairs) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            // SAFETY: as above; Avx2 is reported only after avx2 was detected.
            unsafe { accumulate_avx2(acc, width, row, pairs) }
        }
        _ => accumulate_generic(acc, width, row, pairs),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn accumulate_avx2(acc: &mut [i32], width: usize, row: &[u8], pairs: &[(usize, i32)]) {
    accumulate_generic(acc, width, row, pairs);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
fn accumulate_avx512(acc: &mut [i32], width: usize, row: &[u8], pairs: &[(usize, i32)]) {
    accumulate_generic(acc, width, row, pairs);
}

#[inline(always)]
fn accumulate_generic(acc: &mut [i32], width: usize, row: &[u8], pairs: &[(usize, i32)]) {
    let row = &row[..width];
    for &(yy, k) in pairs {
        let acc_row = &mut acc[yy * width..][..width];
        for (a, &p) in acc_row.iter_mut().zip(row) {
            // No overflow: `BIAS` plus any sub-sum of an output's terms fits `i32` (module
            // docs), and this accumulator holds exactly such a sum.
            *a += i32::from(p) * k;
        }
    }
}

/// One row of the horizontal pass: `row` is the source row followed by at least [`PAD`]
/// bytes (any values: their weights are 0), `out` receives `out_size` samples.
fn horizontal(level: Level, axis: &Axis, row: &[u8], out: &mut [u8]) {
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => {
            // SAFETY: `resize` capped `level` at `simd::detected()` (avx512f/bw/vl, avx2).
            unsafe { x86::horizontal_avx512(axis.split(32), row, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            // SAFETY: as above; avx2 was detected.
            unsafe { x86::horizontal_avx2(axis.split(16), row, out) }
        }
        _ => {
            let c = &axis.coeffs;
            for ((o, &(start, n)), w) in out.iter_mut().zip(&c.bounds).zip(&c.weights) {
                let acc = row[start..start + n]
                    .iter()
                    .zip(w)
                    // No overflow: see `accumulate_generic`.
                    .fold(BIAS, |acc, (&p, &w)| acc + i32::from(p) * w);
                *o = clip8(acc);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{BIAS, Split, Taps, clip8};
    use crate::phash::lanczos::PRECISION_BITS;

    /// One output's `(A << 15) + B` lanes (AVX2, 16 taps per `vpmaddwd` pair): their wrapping
    /// sum plus `BIAS` is the exact accumulator (module docs).
    #[target_feature(enable = "avx2")]
    fn dot_avx2(split: &Split, row: &[u8], t: &Taps) -> __m256i {
        let len = t.chunks * 16;
        let px = &row[t.start..t.start + len];
        let hi = &split.hi[t.offset..t.offset + len];
        let lo = &split.lo[t.offset..t.offset + len];
        let (mut ah, mut al) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for ((p, h), l) in px
            .chunks_exact(16)
            .zip(hi.chunks_exact(16))
            .zip(lo.chunks_exact(16))
        {
            // SAFETY: `p` holds 16 bytes and `h`, `l` 16 `i16`s each (chunks_exact), read with
            // unaligned loads.
            let (p, h, l) = unsafe {
                (
                    _mm_loadu_si128(p.as_ptr().cast()),
                    _mm256_loadu_si256(h.as_ptr().cast()),
                    _mm256_loadu_si256(l.as_ptr().cast()),
                )
            };
            let p = _mm256_cvtepu8_epi16(p);
            // Exact pair sums; the lane sums wrap (module docs).
            ah = _mm256_add_epi32(ah, _mm256_madd_epi16(p, h));
            al = _mm256_add_epi32(al, _mm256_madd_epi16(p, l));
        }
        _mm256_add_epi32(_mm256_slli_epi32::<15>(ah), al)
    }

    /// The same with AVX-512BW, 32 taps per `vpmaddwd` pair.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    fn dot_avx512(split: &Split, row: &[u8], t: &Taps) -> __m512i {
        let len = t.chunks * 32;
        let px = &row[t.start..t.start + len];
        let hi = &split.hi[t.offset..t.offset + len];
        let lo = &split.lo[t.offset..t.offset + len];
        let (mut ah, mut al) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        for ((p, h), l) in px
            .chunks_exact(32)
            .zip(hi.chunks_exact(32))
            .zip(lo.chunks_exact(32))
        {
            // SAFETY: `p` holds 32 bytes and `h`, `l` 32 `i16`s each (chunks_exact), read with
            // unaligned loads.
            let (p, h, l) = unsafe {
                (
                    _mm256_loadu_si256(p.as_ptr().cast()),
                    _mm512_loadu_si512(h.as_ptr().cast()),
                    _mm512_loadu_si512(l.as_ptr().cast()),
                )
            };
            let p = _mm512_cvtepu8_epi16(p);
            // Exact pair sums; the lane sums wrap (module docs).
            ah = _mm512_add_epi32(ah, _mm512_madd_epi16(p, h));
            al = _mm512_add_epi32(al, _mm512_madd_epi16(p, l));
        }
        _mm512_add_epi32(_mm512_slli_epi32::<15>(ah), al)
    }

    /// The 8 wrapping lane sums of `v[0..8]`, in order, in one register.
    #[target_feature(enable = "avx2")]
    fn reduce8(v: &[__m256i; 8]) -> __m256i {
        // `hadd(a, b)` per 128-bit lane: [a0+a1, a2+a3, b0+b1, b2+b3]; two levels give, per
        // lane, the lane sums of four inputs; adding the two lanes finishes them.
        let h01 = _mm256_hadd_epi32(v[0], v[1]);
        let h23 = _mm256_hadd_epi32(v[2], v[3]);
        let h45 = _mm256_hadd_epi32(v[4], v[5]);
        let h67 = _mm256_hadd_epi32(v[6], v[7]);
        let a = _mm256_hadd_epi32(h01, h23);
        let b = _mm256_hadd_epi32(h45, h67);
        _mm256_add_epi32(
            _mm256_permute2x128_si256::<0x20>(a, b),
            _mm256_permute2x128_si256::<0x31>(a, b),
        )
    }

    /// `clip8(BIAS + sum)` of 8 sums into 8 bytes. `clip8(acc)` is `clamp(acc >> 22, 0, 255)`
    /// with an arithmetic shift (≥ 2^30 gives ≥ 256, ≤ 0 gives ≤ 0); the shifted values lie
    /// in [-512, 511], so the signed pack to i16 is exact and the unsigned pack to u8 clamps.
    #[target_feature(enable = "avx2")]
    fn store8(sums: __m256i, out: &mut [u8; 8]) {
        let acc = _mm256_add_epi32(sums, _mm256_set1_epi32(BIAS));
        let s = _mm256_srai_epi32::<{ PRECISION_BITS as i32 }>(acc);
        let w = _mm_packs_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
        let b = _mm_packus_epi16(w, w);
        // SAFETY: `out` is 8 writable bytes; the store writes the low 8 bytes of `b`.
        unsafe { _mm_storel_epi64(out.as_mut_ptr().cast(), b) };
    }

    /// The wrapping sum of `v`'s lanes, then `clip8(BIAS + sum)`.
    #[target_feature(enable = "avx2")]
    fn finish1(v: __m256i) -> u8 {
        let v = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let v = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
        let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b01>(v));
        // Congruent to the exact sum mod 2^32, which fits i32, so equal to it.
        clip8(_mm_cvtsi128_si32(v).wrapping_add(BIAS))
    }

    /// The low and high 256-bit halves of `v` added (lane sums unchanged mod 2^32).
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    fn fold512(v: __m512i) -> __m256i {
        _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v))
    }

    /// [`super::horizontal`] with AVX2: outputs 8 at a time, reduced together.
    #[target_feature(enable = "avx2")]
    pub(super) fn horizontal_avx2(split: &Split, row: &[u8], out: &mut [u8]) {
        let mut outs = out.chunks_exact_mut(8);
        let mut taps = split.taps.chunks_exact(8);
        for (o, t) in (&mut outs).zip(&mut taps) {
            let mut v = [_mm256_setzero_si256(); 8];
            for (v, t) in v.iter_mut().zip(t) {
                *v = dot_avx2(split, row, t);
            }
            store8(reduce8(&v), o.try_into().expect("8 outputs"));
        }
        for (o, t) in outs.into_remainder().iter_mut().zip(taps.remainder()) {
            *o = finish1(dot_avx2(split, row, t));
        }
    }

    /// [`super::horizontal`] with AVX-512BW: outputs 8 at a time, reduced together.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    pub(super) fn horizontal_avx512(split: &Split, row: &[u8], out: &mut [u8]) {
        let mut outs = out.chunks_exact_mut(8);
        let mut taps = split.taps.chunks_exact(8);
        for (o, t) in (&mut outs).zip(&mut taps) {
            let mut v = [_mm256_setzero_si256(); 8];
            for (v, t) in v.iter_mut().zip(t) {
                *v = fold512(dot_avx512(split, row, t));
            }
            store8(reduce8(&v), o.try_into().expect("8 outputs"));
        }
        for (o, t) in outs.into_remainder().iter_mut().zip(taps.remainder()) {
            *o = finish1(fold512(dot_avx512(split, row, t)));
        }
    }

    /// [`dot_avx2`] of four rows at once, sharing the weight loads.
    #[target_feature(enable = "avx2")]
    fn dot4_avx2(split: &Split, rows: &[&[u8]; 4], t: &Taps) -> [__m256i; 4] {
        let len = t.chunks * 16;
        let px = [
            &rows[0][t.start..t.start + len],
            &rows[1][t.start..t.start + len],
            &rows[2][t.start..t.start + len],
            &rows[3][t.start..t.start + len],
        ];
        let hi = &split.hi[t.offset..t.offset + len];
        let lo = &split.lo[t.offset..t.offset + len];
        let mut ah = [_mm256_setzero_si256(); 4];
        let mut al = [_mm256_setzero_si256(); 4];
        for c in 0..t.chunks {
            let at = 16 * c;
            // SAFETY: `at + 16 <= len`, the length of `hi`, `lo` and each `px[r]`; unaligned
            // loads of 16 `i16`s and 16 bytes.
            let (h, l) = unsafe {
                (
                    _mm256_loadu_si256(hi.as_ptr().add(at).cast()),
                    _mm256_loadu_si256(lo.as_ptr().add(at).cast()),
                )
            };
            for r in 0..4 {
                // SAFETY: as above.
                let p = unsafe { _mm_loadu_si128(px[r].as_ptr().add(at).cast()) };
                let p = _mm256_cvtepu8_epi16(p);
                // Exact pair sums; the lane sums wrap (module docs).
                ah[r] = _mm256_add_epi32(ah[r], _mm256_madd_epi16(p, h));
                al[r] = _mm256_add_epi32(al[r], _mm256_madd_epi16(p, l));
            }
        }
        let mut v = [_mm256_setzero_si256(); 4];
        for r in 0..4 {
            v[r] = _mm256_add_epi32(_mm256_slli_epi32::<15>(ah[r]), al[r]);
        }
        v
    }

    /// [`dot_avx512`] of four rows at once, sharing the weight loads; halves folded.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    fn dot4_avx512(split: &Split, rows: &[&[u8]; 4], t: &Taps) -> [__m256i; 4] {
        let len = t.chunks * 32;
        let px = [
            &rows[0][t.start..t.start + len],
            &rows[1][t.start..t.start + len],
            &rows[2][t.start..t.start + len],
            &rows[3][t.start..t.start + len],
        ];
        let hi = &split.hi[t.offset..t.offset + len];
        let lo = &split.lo[t.offset..t.offset + len];
        let mut ah = [_mm512_setzero_si512(); 4];
        let mut al = [_mm512_setzero_si512(); 4];
        for c in 0..t.chunks {
            let at = 32 * c;
            // SAFETY: `at + 32 <= len`, the length of `hi`, `lo` and each `px[r]`; unaligned
            // loads of 32 `i16`s and 32 bytes.
            let (h, l) = unsafe {
                (
                    _mm512_loadu_si512(hi.as_ptr().add(at).cast()),
                    _mm512_loadu_si512(lo.as_ptr().add(at).cast()),
                )
            };
            for r in 0..4 {
                // SAFETY: as above.
                let p = unsafe { _mm256_loadu_si256(px[r].as_ptr().add(at).cast()) };
                let p = _mm512_cvtepu8_epi16(p);
                // Exact pair sums; the lane sums wrap (module docs).
                ah[r] = _mm512_add_epi32(ah[r], _mm512_madd_epi16(p, h));
                al[r] = _mm512_add_epi32(al[r], _mm512_madd_epi16(p, l));
            }
        }
        let mut v = [_mm256_setzero_si256(); 4];
        for r in 0..4 {
            v[r] = fold512(_mm512_add_epi32(_mm512_slli_epi32::<15>(ah[r]), al[r]));
        }
        v
    }

    /// The four rows of `batch` (`stride` apart) as slices.
    fn four_rows(batch: &[u8], stride: usize) -> [&[u8]; 4] {
        [
            &batch[..stride],
            &batch[stride..2 * stride],
            &batch[2 * stride..3 * stride],
            &batch[3 * stride..4 * stride],
        ]
    }

    /// [`super::horizontal_batch`] of four rows with AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) fn horizontal4_avx2(split: &Split, batch: &[u8], stride: usize, out: &mut [u8]) {
        let rows = four_rows(batch, stride);
        let ow = split.taps.len();
        let mut v = [[_mm256_setzero_si256(); 8]; 4];
        let mut taps = split.taps.chunks_exact(8);
        let mut x = 0;
        for t8 in &mut taps {
            for (i, t) in t8.iter().enumerate() {
                let d = dot4_avx2(split, &rows, t);
                for r in 0..4 {
                    v[r][i] = d[r];
                }
            }
            for (r, v) in v.iter().enumerate() {
                let o = &mut out[r * ow + x..r * ow + x + 8];
                store8(reduce8(v), o.try_into().expect("8 outputs"));
            }
            x += 8;
        }
        for t in taps.remainder() {
            let d = dot4_avx2(split, &rows, t);
            for (r, &d) in d.iter().enumerate() {
                out[r * ow + x] = finish1(d);
            }
            x += 1;
        }
    }

    /// [`super::horizontal_batch`] of four rows with AVX-512BW.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    pub(super) fn horizontal4_avx512(split: &Split, batch: &[u8], stride: usize, out: &mut [u8]) {
        let rows = four_rows(batch, stride);
        let ow = split.taps.len();
        let mut v = [[_mm256_setzero_si256(); 8]; 4];
        let mut taps = split.taps.chunks_exact(8);
        let mut x = 0;
        for t8 in &mut taps {
            for (i, t) in t8.iter().enumerate() {
                let d = dot4_avx512(split, &rows, t);
                for r in 0..4 {
                    v[r][i] = d[r];
                }
            }
            for (r, v) in v.iter().enumerate() {
                let o = &mut out[r * ow + x..r * ow + x + 8];
                store8(reduce8(v), o.try_into().expect("8 outputs"));
            }
            x += 8;
        }
        for t in taps.remainder() {
            let d = dot4_avx512(split, &rows, t);
            for (r, &d) in d.iter().enumerate() {
                out[r * ow + x] = finish1(d);
            }
            x += 1;
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::simd::{self, Level};

        /// The SIMD `clip8` (shift, packs) and reduction against the scalar ones, at the
        /// accumulator's edges.
        #[test]
        fn store8_is_clip8() {
            if simd::detected() < Level::Avx2 {
                return;
            }
            let edges = [
                i32::MIN,
                -(1 << 22),
                -1,
                0,
                1,
                (1 << 22) - 1,
                1 << 22,
                (255 << 22) + (1 << 22) - 1,
                1 << 30,
                (1 << 30) - 1,
                i32::MAX,
            ];
            for (i, &a) in edges.iter().enumerate() {
                for &b in &edges[i..] {
                    // Lane sums that are the edge values minus BIAS (wrapping), spread over
                    // the lanes of each of the 8 inputs.
                    let want = |k: i32| clip8(if k % 2 == 0 { a } else { b });
                    let lanes = |k: i32| {
                        let s = (if k % 2 == 0 { a } else { b }).wrapping_sub(BIAS);
                        let part = s / 8;
                        let mut l = [part; 8];
                        l[7] = s.wrapping_sub(part.wrapping_mul(7));
                        l
                    };
                    // SAFETY: AVX2 was detected above; the loads read 8 i32s from arrays.
                    let got = unsafe {
                        let v: [__m256i; 8] = std::array::from_fn(|k| {
                            _mm256_loadu_si256(lanes(k as i32).as_ptr().cast())
                        });
                        let mut out = [0u8; 8];
                        store8(reduce8(&v), &mut out);
                        assert_eq!(finish1(v[1]), want(1));
                        out
                    };
                    let want: Vec<u8> = (0..8).map(want).collect();
                    assert_eq!(got.to_vec(), want, "{a} {b}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phash::lanczos::resize_lanczos_oracle;

    #[test]
    fn by_row_inverts_the_windows() {
        for (i, o) in [(1, 32), (7, 32), (100, 32), (1000, 7), (3, 5000)] {
            let c = Coeffs::lanczos(i, o);
            let r = ByRow::new(&c);
            let mut n = 0;
            for y in 0..i as usize {
                for &(yy, k) in r.row(y) {
                    let (min, _) = c.bounds[yy];
                    assert_eq!(c.weights[yy][y - min], k);
                    n += 1;
                }
            }
            assert_eq!(n, c.weights.iter().map(Vec::len).sum::<usize>());
        }
    }

    #[test]
    fn split_recombines() {
        for lanes in [16, 32] {
            let c = Coeffs::lanczos(1000, 32);
            let s = Split::new(&c, lanes);
            for (t, w) in s.taps.iter().zip(&c.weights) {
                for (i, &w) in w.iter().enumerate() {
                    let (h, l) = (s.hi[t.offset + i], s.lo[t.offset + i]);
                    assert_eq!(i32::from(h) * (1 << 15) + i32::from(l), w);
                }
                assert!(t.chunks * lanes - w.len() < lanes);
            }
        }
    }

    #[test]
    fn cache_is_bounded_and_hits() {
        let a = axis(123, 32);
        let b = axis(123, 32);
        assert!(Rc::ptr_eq(&a, &b));
        for i in 0..2 * CACHE_LEN as u32 {
            axis(200 + i, 32);
        }
        AXES.with(|c| assert_eq!(c.borrow().len(), CACHE_LEN));
    }

    /// Deterministic pseudo-random bytes; `mode` biases them towards 0/255 runs so that the
    /// clamps in `clip8` are exercised as well as the middle.
    fn content(len: usize, seed: u64, mode: u8) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match mode % 3 {
                    0 => (x >> 56) as u8,
                    1 => {
                        if (x >> 60) & 1 == 1 {
                            255
                        } else {
                            0
                        }
                    }
                    _ => {
                        if (i / 7) % 2 == 0 {
                            255
                        } else {
                            (x >> 63) as u8
                        }
                    }
                }
            })
            .collect()
    }

    fn check(w: u32, h: u32, ow: u32, oh: u32, seed: u64, mode: u8) {
        let src = content((w * h) as usize, seed, mode);
        let want = resize_lanczos_oracle(&src, w, h, ow, oh);
        for level in simd::available() {
            let got = resize_packed(&src, w, h, ow, oh, level);
            assert_eq!(
                got, want,
                "{w}x{h} -> {ow}x{oh} {level:?} seed {seed} mode {mode}"
            );
        }
    }

    #[test]
    fn extreme_shapes_match_the_oracle() {
        for (w, h) in [
            (1, 1),
            (1, 5000),
            (5000, 1),
            (5000, 3),
            (3, 5000),
            (2, 3),
            (31, 33),
            (33, 31),
            (32, 32),
            (32, 1000),
            (1000, 32),
            (97, 1103),
            (4032, 3024),
        ] {
            for mode in 0..3 {
                check(w, h, 32, 32, u64::from(w * 7919 + h), mode);
            }
        }
        // Other output sizes, up and down, and passes skipped.
        for (w, h, ow, oh) in [
            (3, 5, 64, 100),
            (64, 7, 64, 300),
            (300, 40, 17, 40),
            (100, 100, 100, 100),
            (1000, 1, 3, 1),
            (9, 2000, 9, 5),
        ] {
            check(w, h, ow, oh, 42, 0);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

        /// Random sizes (mostly small, some to a few thousand, extreme aspect ratios), random
        /// outputs (mostly the 32×32 of pHash), random content: every level equals the oracle.
        #[test]
        fn fast_resize_equals_oracle(
            w in proptest::prop_oneof![1u32..64, 1u32..700, 1u32..3000],
            h in proptest::prop_oneof![1u32..64, 1u32..700, 1u32..3000],
            out in proptest::prop_oneof![
                3 => proptest::strategy::Just((32u32, 32u32)),
                1 => (1u32..80, 1u32..80),
            ],
            seed in proptest::prelude::any::<u64>(),
            mode in 0u8..3,
        ) {
            // Keep each case to a few megapixels.
            let h = if u64::from(w) * u64::from(h) > 3_000_000 { 3_000_000 / w } else { h };
            check(w, h, out.0, out.1, seed, mode);
        }

        /// The fused `convert('L')` + resize of RGB views (with row padding) equals the
        /// oracle's `pillow_l` then resize, at every level.
        #[test]
        fn fused_view_equals_oracle(
            w in proptest::prop_oneof![1u32..64, 1u32..1500],
            h in proptest::prop_oneof![1u32..64, 1u32..1500],
            extra in 0usize..5,
            seed in proptest::prelude::any::<u64>(),
            mode in 0u8..3,
        ) {
            let stride = 3 * w as usize + extra;
            let data = content(stride * h as usize, seed, mode);
            let view = ImageView::rgb8(&data, w, h, stride).unwrap();
            let l = luma::pillow_l(&view);
            let want = resize_lanczos_oracle(&l, w, h, 32, 32);
            for level in simd::available() {
                proptest::prop_assert_eq!(&resize_view_32_at(&view, level)[..], &want[..]);
            }
        }
    }
}
