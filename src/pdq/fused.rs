//! PDQ's luma and box passes for x86-64 with AVX-512, fused per strip of 32 rows so no
//! full-size intermediate is ever written: bit-identical to [`super::oracle`].
//!
//! Exactness rests on the same rule as [`super::fast`]: every running sum sees the same float32
//! operations in the same order as the oracle's `box1d`; only which independent sums run side
//! by side changes, and data movement (transposes, rings) does no arithmetic.
//!
//! A horizontal pass needs its running sums side by side across rows (a vector holds one
//! column of 16 rows); a vertical pass across columns (a vector holds 16 columns of one row).
//! Each strip of 32 rows (two vectors per column, so two running-sum chains are in flight and
//! one chain's add → subtract latency does not set the pace) goes:
//!
//! 1. **Luma + pass 1** (horizontal), 16 columns at a time: luma of 32 rows × 16 pixels is
//!    computed in registers from the RGB bytes and transposed there (two 16×16 blocks) into a
//!    small ring of columns, and the running sums advance 16 steps (in the full window, in the
//!    same loop as the next block's luma, so the out-of-order core overlaps the sums' latency
//!    chain with it); each output is divided at once and, as soon as 16 outputs exist,
//!    transposed back and stored as rows in a ring of `wc + 32` rows (the only buffer that
//!    grows with the image, with its width).
//! 2. **Pass 2** (vertical) + **pass 3** (horizontal), on every row whose rows pass 1 has
//!    made, 32 columns at a time: the vertical running sums (one per column, kept in a row of
//!    sums) advance up to 32 rows and are divided, the results transposed in registers into a
//!    ring of columns, and pass 3's running sums advance over them. Pass 3 divides only at the 64
//!    columns decimation keeps; pass 4 ([`super::fast`]) runs on those 64 columns.
//!
//! Division by the box count uses [`Recip`] (exact for every count it accepts). Its argument
//! range ([2⁻⁶⁴, 2⁶⁴] or zero) holds for every value here without a check, for 8-bit pixels:
//! luma values are multiples of 2⁻²⁷ (`0.114f32` is a multiple of 2⁻²⁷, `0.587f32` and
//! `0.299f32` of 2⁻²⁵, and rounding a multiple of 2⁻ᵏ to float32 gives a multiple of 2⁻ᵏ), so
//! pass 1's sums are 0 or at least 2⁻²⁷ in magnitude and at most 255 · 4096 (plus a rounding
//! drift far below 2⁶⁴); its quotients are 0 or at least 2⁻³⁹, so multiples of 2⁻⁶², and so
//! are pass 2's sums: 0 or at least 2⁻⁶². A grey view's values are integers.
//!
//! Every function here is compiled for AVX-512 F/BW/VL, AVX2 and FMA and reached only through
//! `passes_1_to_3`, which [`super::fast`] calls after detecting those features.

use std::arch::x86_64::*;

use super::fast::box_counts;
use super::oracle::{LUMA_B, LUMA_G, LUMA_R, decimation_index, jarosz_window};
use super::recip::Recip;
use crate::{ImageView, PixelLayout};

/// Rows per strip: two 16-lane vectors per column.
const L: usize = 32;

/// 16-column blocks pass 2 runs side by side (independent running-sum chains). With four, a
/// row's add → subtract latency (6 cycles) is shorter than the row's work on the pipes, so the
/// chains no longer set the pace (about 2 % less PDQ time than two, on pixels in cache).
const G: usize = 4;

/// How far ahead of the pixels being read pass 1 prefetches, in pixels.
const PREFETCH_PX: usize = 128;

/// One column of a strip: rows 0–15 and rows 16–31.
type Col = [__m512; 2];

/// Buffers kept between images (per thread, in [`super::fast`]'s scratch).
#[derive(Default)]
pub(super) struct Scratch {
    /// Pass 1's output rows: `nb` 16-column blocks of `rr` rows and a row of zeros each
    /// (block-major, so the rows pass 2 reads for one block are contiguous).
    ring: Vec<__m512>,
    /// Pass 2's running sums, one 16-column block per entry.
    sums: Vec<__m512>,
    /// Ring of transposed columns that a horizontal pass reads.
    cols: Vec<Col>,
    /// Pass 3's divided outputs at the kept (decimated) columns, per strip.
    kept: Vec<Col>,
}

impl Scratch {
    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        64 * (self.ring.capacity() + self.sums.capacity())
            + 128 * (self.cols.capacity() + self.kept.capacity())
    }
}

/// The fixed facts of one image's passes.
struct Plan {
    w: usize,
    h: usize,
    /// 16-column blocks per row (a multiple of [`G`]).
    nb: usize,
    wr: usize,
    wc: usize,
    half_r: usize,
    half_c: usize,
    /// Pass 1 and 3's count per output column; pass 2's per output row.
    counts_r: Vec<u32>,
    counts_c: Vec<u32>,
    /// Division by each count `0..=wr` / `0..=wc`.
    div_r: Vec<Recip>,
    div_c: Vec<Recip>,
    /// Rows in pass 1's ring.
    rr: usize,
    /// A ring block's length: its `rr` rows, then a row of zeros (pass 2's stand-in).
    rs: usize,
    /// `cols.len() - 1` (a power of two minus one).
    mask: usize,
    /// For each column: its index among the kept columns, or `u16::MAX`.
    slot: Vec<u16>,
    /// For each of the 64 decimated columns: its slot.
    inj_slot: [u16; 64],
}

/// `cols64[r * 64 + j]` = pass 3's output at row `r`, decimated column `j`, for every row.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VL, AVX2 and FMA.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn passes_1_to_3(view: &ImageView<'_>, s: &mut Scratch, cols64: &mut Vec<f32>) {
    let (w, h) = (view.width() as usize, view.height() as usize);
    let (wr, wc) = (jarosz_window(w), jarosz_window(h));
    let (half_r, half_c) = ((wr + 2) / 2, (wc + 2) / 2);
    let nb = w.next_multiple_of(16 * G) / 16;
    let divs = |n: usize, half: usize| -> Vec<Recip> {
        // Counts below `half - 1` are never divided by (see `box_counts`).
        (0..=n)
            .map(|c| Recip::new(c, c + 1 >= half && c >= 1))
            .collect()
    };
    let mut slot = vec![u16::MAX; w];
    let mut kept = 0u16;
    let mut inj_slot = [0u16; 64];
    for (j, sl) in inj_slot.iter_mut().enumerate() {
        let c = decimation_index(j, w);
        if slot[c] == u16::MAX {
            slot[c] = kept;
            kept += 1;
        }
        *sl = slot[c];
    }
    // Before pass 1's strip at r0, pass 2 has made every row whose added row (o + half_c - 1)
    // was made, so the rows it has left subtract rows from r0 - wc on, and the strip overwrites
    // rows up to r0 + L - 1 - rr: with wc + L rows, pass 1 never overwrites a row pass 2 has
    // still to read. (A smaller ring than pass 2 in whole L-row strips would need, and not
    // rounded up to a multiple of L, so a strip may wrap round its end: 40 rows instead of 64
    // for most photos, which leaves more of L2 to the photo's rows; about 2 % and 3 % less PDQ
    // time on photos just decoded, `examples/pdq_loop` fresh, for each of the two steps.)
    let rr = wc + L;
    let p = Plan {
        w,
        h,
        nb,
        wr,
        wc,
        half_r,
        half_c,
        counts_r: box_counts(w, wr),
        counts_c: box_counts(h, wc),
        div_r: divs(wr, half_r),
        div_c: divs(wc, half_c),
        rr,
        rs: rr + 1,
        mask: (wr + 16).next_power_of_two() - 1,
        slot,
        inj_slot,
    };
    let zero = _mm512_setzero_ps();
    // The ring, the column ring and the kept outputs are written before they are read (a
    // ring block past the image's last column may hold an earlier image's values: it feeds
    // only lanes that are never used), so they are not cleared.
    grow(&mut s.ring, p.rs * nb, zero);
    for m in 0..nb {
        s.ring[m * p.rs + rr] = zero;
    }
    grow(&mut s.cols, p.mask + 1, [zero; 2]);
    grow(&mut s.kept, usize::from(kept), [zero; 2]);
    s.sums.clear();
    s.sums.resize(nb, zero);
    // Every entry is written (each strip stores all 64 columns of its rows), so what an
    // earlier image left is not cleared first (that was a 256 KB memset a photo).
    cols64.resize(h * 64, 0.0);

    let mut o0 = 0;
    for r0 in (0..h).step_by(L) {
        pass1_strip(&p, view, r0, &mut s.ring, &mut s.cols);
        let avail = (r0 + L).min(h);
        // Pass 2's row o adds row o + half_c - 1 (none past the image).
        let end = if avail == h {
            h
        } else {
            (avail + 1).saturating_sub(p.half_c)
        };
        while o0 < end {
            let n = L.min(end - o0);
            pass23_strip(&p, o0, n, s, cols64);
            o0 += n;
        }
    }
    debug_assert!(o0 >= h);
}

fn grow<T: Copy>(v: &mut Vec<T>, n: usize, fill: T) {
    if v.len() < n {
        v.resize(n, fill);
    }
}

/// Luma + pass 1 over the strip of rows `r0..r0 + 32` (rows past the image repeat its last
/// row; their results are never stored), into pass 1's ring.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn pass1_strip(p: &Plan, view: &ImageView<'_>, r0: usize, ring: &mut [__m512], cols: &mut [Col]) {
    let n_rows = L.min(p.h - r0);
    let mut rows: [&[u8]; L] = [&[]; L];
    for (k, row) in rows.iter_mut().enumerate() {
        *row = view.row((r0 + k).min(p.h - 1) as u32);
    }
    // The next strip's rows, fetched into L2 a strip ahead (the same columns as this strip's
    // block, so each line is asked for once).
    let next: [*const u8; L] =
        std::array::from_fn(|k| view.row((r0 + L + k).min(p.h - 1) as u32).as_ptr());
    let luma = Luma::new(view.layout());
    let row_len = p.w * luma.bpp;
    let zero = _mm512_setzero_ps();
    let mut state = [zero; 2]; // the running sums between blocks
    let mut out = [[zero; 2]; 32];
    let mut done = 0; // outputs made
    let mut stored = 0; // output blocks moved to the ring
    // Where the strip's first row goes in the ring (the others follow, wrapping at its end).
    let base = r0 % p.rr;
    // Luma of the current block, rows 0–15 and 16–31; `ready` when the previous block's steps
    // already made it (see `steps1_luma`).
    let mut px = [[zero; 16]; 2];
    let mut ready = false;
    // Whether every row holds a full 64-byte load from pixel `c` (rows are equally long):
    // then a plain load, else masked ones (a masked byte load that crosses a cache line is
    // slow on some CPUs).
    let full = |c: usize| luma.bpp == 3 && c < p.w && row_len - 3 * c >= 64;
    for m in 0..p.w.div_ceil(16) {
        let c = 16 * m;
        for (half, px) in px.iter_mut().enumerate() {
            if !ready {
                if full(c) {
                    for (v, row) in px.iter_mut().zip(&rows[16 * half..]) {
                        // SAFETY: at least 64 bytes of `row` remain from pixel `c` (`full`).
                        *v = unsafe { luma.rgb16(row.as_ptr().add(3 * c)) };
                    }
                } else {
                    for (v, row) in px.iter_mut().zip(&rows[16 * half..]) {
                        *v = luma.sixteen(row, c);
                    }
                }
            }
            // `c` is a multiple of 16 and the ring's length a larger power of two, so the 16
            // columns are consecutive there (one bounds check, not 16).
            let dst = &mut cols[c & p.mask..][..16];
            for (d, v) in dst.iter_mut().zip(transpose16(*px)) {
                d[half] = v;
            }
        }
        // 32 rows read side by side are more streams than the hardware prefetcher follows:
        // ask for the line 8 blocks ahead in each (a block reads 48 bytes of a row; without
        // this, pass 1 took about a third longer on photos from L3 or memory), and for the
        // next strip's lines at this block into L2 (about 7 % less PDQ time on photos just
        // decoded, `examples/pdq_loop` in `fresh` mode).
        for row in &rows {
            let ahead = row.as_ptr().wrapping_add(luma.bpp * (c + PREFETCH_PX));
            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
        }
        for row in &next {
            _mm_prefetch::<_MM_HINT_T1>(row.wrapping_add(luma.bpp * c).cast());
        }
        // When this block's steps are all in the full window and the next block is full width,
        // its luma is computed beside them. (`full(cn)` means pixel cn + 21 exists, so steps
        // c..c + 16 stay below w: no step adds a column past the image.)
        let cn = c + 16;
        ready = c >= p.wr && full(cn);
        if ready {
            // SAFETY: 64 bytes of every row remain from pixel `cn` (`full(cn)`).
            done = unsafe {
                steps1_luma(
                    p,
                    c,
                    &mut state,
                    cols,
                    &mut out,
                    (&luma, &rows, cn),
                    &mut px,
                )
            };
        } else {
            let made = steps1(p, c, (c + 16).min(p.w), &mut state, cols, &mut out);
            done = made.unwrap_or(done);
        }
        while 16 * stored + 16 <= done {
            store_block(stored, &out, ring, p.rs, base, n_rows);
            stored += 1;
        }
    }
    let [mut sa, mut sb] = state;
    for t in p.w..p.w + p.half_r - 1 {
        if let Some((oi, q)) = step(p, t, &mut sa, &mut sb, cols) {
            out[oi & 31] = q;
            if oi % 16 == 15 {
                store_block(stored, &out, ring, p.rs, base, n_rows);
                stored += 1;
            }
        }
    }
    // The last block, if partial.
    while 16 * stored < p.w {
        store_block(stored, &out, ring, p.rs, base, n_rows);
        stored += 1;
    }
}

/// Steps `t0..t1` of pass 1 (see [`step`]), each output into `out` (by output index mod 32);
/// returns one past the last output made, if any. A function of its own so the running sums
/// stay in registers (inlined into the strip loop, LLVM kept them on the stack: a store and a
/// load in the add → subtract chain of every step).
#[inline(never)]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn steps1(
    p: &Plan,
    t0: usize,
    t1: usize,
    state: &mut Col,
    cols: &[Col],
    out: &mut [Col; 32],
) -> Option<usize> {
    let [mut sa, mut sb] = *state;
    let mut done = None;
    // The middle phase (add and subtract, full window) without per-step tests.
    let (lo, hi) = (t0.max(p.wr), t1.min(p.w));
    let mut t = t0;
    while t < t1 {
        if t == lo && lo < hi {
            let d = p.div_r[p.wr];
            let half = p.half_r - 1;
            for t in lo..hi {
                [sa, sb] = full_step(p, t, [sa, sb], cols);
                out[(t - half) & 31] = [d.div16(sa), d.div16(sb)];
            }
            done = Some(hi - half);
            t = hi;
            continue;
        }
        if let Some((oi, q)) = step(p, t, &mut sa, &mut sb, cols) {
            out[oi & 31] = q;
            done = Some(oi + 1);
        }
        t += 1;
    }
    *state = [sa, sb];
    done
}

/// Steps `t0..t0 + 16` of pass 1, all in the full window, with the luma of the next block
/// (pixels `cn..cn + 16` of the strip's 32 rows, `next`) computed beside them into `px`. The
/// running sums are a latency chain (an add, then a subtract, per step); the luma is
/// independent work the out-of-order core runs in its shadow. As separate loops, a block's
/// luma and transposes filled the reorder window and the chain ran alone: about 10 % less PDQ
/// time on photos just decoded (`examples/pdq_loop` fresh). The steps are [`steps1`]'s middle
/// phase, operation for operation; returns one past the last output made, as [`steps1`].
///
/// # Safety
/// 64 bytes of every row must be readable from pixel `cn`.
#[inline(never)]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
unsafe fn steps1_luma(
    p: &Plan,
    t0: usize,
    state: &mut Col,
    cols: &[Col],
    out: &mut [Col; 32],
    next: (&Luma, &[&[u8]; L], usize),
    px: &mut [[__m512; 16]; 2],
) -> usize {
    let (luma, rows, cn) = next;
    let [mut sa, mut sb] = *state;
    let d = p.div_r[p.wr];
    let half = p.half_r - 1;
    for j in 0..16 {
        // SAFETY: the caller guarantees 64 readable bytes from pixel `cn` in every row.
        unsafe {
            px[0][j] = luma.rgb16(rows[j].as_ptr().add(3 * cn));
            px[1][j] = luma.rgb16(rows[16 + j].as_ptr().add(3 * cn));
        }
        let t = t0 + j;
        [sa, sb] = full_step(p, t, [sa, sb], cols);
        out[(t - half) & 31] = [d.div16(sa), d.div16(sb)];
    }
    *state = [sa, sb];
    t0 + 16 - half
}

/// Steps `t0..t1` of pass 3 (see [`step3`]); a function of its own as [`steps1`].
#[inline(never)]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn steps3(p: &Plan, t0: usize, t1: usize, state: &mut Col, cols: &[Col], kept: &mut [Col]) {
    let [mut sa, mut sb] = *state;
    let (lo, hi) = (t0.max(p.wr), t1.min(p.w));
    let mut t = t0;
    while t < t1 {
        if t == lo && lo < hi {
            // The middle phase without per-step tests but the kept-column one.
            let half = p.half_r - 1;
            for t in lo..hi {
                [sa, sb] = full_step(p, t, [sa, sb], cols);
                keep(p, t - half, sa, sb, kept);
            }
            t = hi;
            continue;
        }
        step3(p, t, &mut sa, &mut sb, cols, kept);
        t += 1;
    }
    *state = [sa, sb];
}

/// Output block `m` (outputs `16m..16m + 16` of the 32 rows, in `out` by output index mod 32)
/// transposed into rows `base..base + n_rows` (modulo `rs - 1`) of the ring's block `m` (`rs`
/// entries a block: `rs - 1` rows and the row of zeros).
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn store_block(
    m: usize,
    out: &[Col; 32],
    ring: &mut [__m512],
    rs: usize,
    base: usize,
    n_rows: usize,
) {
    let rr = rs - 1;
    let ring = &mut ring[m * rs..][..rr];
    for half in 0..2 {
        let mut v = [out[0][0]; 16];
        for (j, v) in v.iter_mut().enumerate() {
            *v = out[(16 * m + j) & 31][half];
        }
        for (k, v) in transpose16(v).into_iter().enumerate() {
            let k = 16 * half + k;
            if k < n_rows {
                let at = base + k;
                ring[if at >= rr { at - rr } else { at }] = v;
            }
        }
    }
}

/// One step `t` of a horizontal `box1d` over the strip's 32 rows (columns from `cols`): add
/// column `t` (if `t < w`), subtract column `t - wr` (if `t >= wr`), and return output
/// `t + 1 - half_r` (if any) divided by its count.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn step(
    p: &Plan,
    t: usize,
    sa: &mut __m512,
    sb: &mut __m512,
    cols: &[Col],
) -> Option<(usize, Col)> {
    add_sub(p, t, sa, sb, cols);
    if t + 1 >= p.half_r {
        let oi = t + 1 - p.half_r;
        let d = &p.div_r[p.counts_r[oi] as usize];
        return Some((oi, [d.div16(*sa), d.div16(*sb)]));
    }
    None
}

/// Step `t` of a horizontal pass in its full window (`wr <= t < w`): add column `t`, then
/// subtract column `t - wr`, in both halves; the middle phase of [`steps1`], [`steps1_luma`]
/// and [`steps3`], as [`add_sub`] with both branches taken.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn full_step(p: &Plan, t: usize, s: Col, cols: &[Col]) -> Col {
    let x = &cols[t & p.mask];
    let y = &cols[(t - p.wr) & p.mask];
    [
        _mm512_sub_ps(_mm512_add_ps(s[0], x[0]), y[0]),
        _mm512_sub_ps(_mm512_add_ps(s[1], x[1]), y[1]),
    ]
}

/// The running sums' part of step `t` of a horizontal pass: add column `t` (if `t < w`), then
/// subtract column `t - wr` (if `t >= wr`).
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn add_sub(p: &Plan, t: usize, sa: &mut __m512, sb: &mut __m512, cols: &[Col]) {
    if t < p.w {
        let x = &cols[t & p.mask];
        *sa = _mm512_add_ps(*sa, x[0]);
        *sb = _mm512_add_ps(*sb, x[1]);
    }
    if t >= p.wr {
        let x = &cols[(t - p.wr) & p.mask];
        *sa = _mm512_sub_ps(*sa, x[0]);
        *sb = _mm512_sub_ps(*sb, x[1]);
    }
}

/// Pass 2 over output rows `o0..o0 + m_rows` (at most 32) and pass 3 over those rows, into
/// `cols64`.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn pass23_strip(p: &Plan, o0: usize, m_rows: usize, s: &mut Scratch, cols64: &mut [f32]) {
    debug_assert!(m_rows <= L && o0 + m_rows <= p.h);
    // Per output row: the ring rows pass 2 adds and subtracts, and the divisor. Where the
    // oracle's phase has no add (or no subtract) the row of zeros stands in: adding or
    // subtracting +0 leaves every sum as it is (a sum is never −0: it starts at +0, and x − x
    // and x + (−x) round to +0), so the middle rows and the edges run the same code.
    let at = |r: usize| r % p.rr;
    let mut plus = [p.rr; L];
    let mut minus = [p.rr; L];
    let mut divs = [&p.div_c[0]; L];
    for k in 0..m_rows {
        let st = o0 + k + p.half_c - 1;
        if st < p.h {
            plus[k] = at(st);
        }
        if st >= p.wc {
            minus[k] = at(st - p.wc);
        }
        divs[k] = &p.div_c[p.counts_c[o0 + k] as usize];
    }
    let Scratch {
        ring,
        sums,
        cols,
        kept,
    } = s;
    let zero = _mm512_setzero_ps();
    let mut state = [zero; 2]; // pass 3's running sums between blocks
    // Rows past `m_rows` stay zero: they fill lanes whose results are never used.
    let mut res = [[zero; G]; L];
    for m in (0..p.nb).step_by(G) {
        let mut a: [__m512; G] = sums[m..m + G].try_into().unwrap();
        if o0 == 0 {
            for r in 0..p.half_c - 1 {
                for (i, a) in a.iter_mut().enumerate() {
                    *a = _mm512_add_ps(*a, ring[(m + i) * p.rs + at(r)]);
                }
            }
        }
        for k in 0..m_rows {
            let (pl, mi) = (plus[k], minus[k]);
            for (i, a) in a.iter_mut().enumerate() {
                let block = &ring[(m + i) * p.rs..][..p.rs];
                *a = _mm512_sub_ps(_mm512_add_ps(*a, block[pl]), block[mi]);
            }
            for (o, a) in res[k].iter_mut().zip(&a) {
                *o = divs[k].div16(*a);
            }
        }
        sums[m..m + G].copy_from_slice(&a);
        for i in 0..G {
            let c = 16 * (m + i);
            if c >= p.w {
                break;
            }
            for half in 0..2 {
                let mut v = [zero; 16];
                for (v, r) in v.iter_mut().zip(&res[16 * half..]) {
                    *v = r[i];
                }
                // Consecutive in the ring, as in `pass1_strip`.
                let dst = &mut cols[c & p.mask..][..16];
                for (d, v) in dst.iter_mut().zip(transpose16(v)) {
                    d[half] = v;
                }
            }
            steps3(p, c, (c + 16).min(p.w), &mut state, cols, kept);
        }
    }
    let [mut sa, mut sb] = state;
    for t in p.w..p.w + p.half_r - 1 {
        step3(p, t, &mut sa, &mut sb, cols, kept);
    }
    // The 64 decimated columns of the strip's rows into `cols64` (row-major), 16 columns ×
    // 16 rows at a time through a transpose.
    for (g, slots) in p.inj_slot.chunks_exact(16).enumerate() {
        for half in [0, 1] {
            let v: [__m512; 16] = std::array::from_fn(|i| kept[usize::from(slots[i])][half]);
            for (r, v) in transpose16(v).into_iter().enumerate() {
                let k = 16 * half + r;
                if k < m_rows {
                    let dst: &mut [f32; 16] = (&mut cols64[(o0 + k) * 64 + 16 * g..][..16])
                        .try_into()
                        .unwrap();
                    *dst = bytemuck::cast(v);
                }
            }
        }
    }
}

/// A step of pass 3: as [`step`], but only outputs at kept columns are divided (exactly, by
/// the divide instruction: 64 a row) and stored.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn step3(p: &Plan, t: usize, sa: &mut __m512, sb: &mut __m512, cols: &[Col], kept: &mut [Col]) {
    add_sub(p, t, sa, sb, cols);
    if t + 1 >= p.half_r {
        keep(p, t + 1 - p.half_r, *sa, *sb, kept);
    }
}

/// Pass 3's output `oi`, divided, into `kept` if decimation keeps its column.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn keep(p: &Plan, oi: usize, sa: __m512, sb: __m512, kept: &mut [Col]) {
    let sl = p.slot[oi];
    if sl != u16::MAX {
        let b = _mm512_set1_ps(p.counts_r[oi] as f32);
        kept[usize::from(sl)] = [_mm512_div_ps(sa, b), _mm512_div_ps(sb, b)];
    }
}

/// Luma of 16 pixels of a row as float32, in the oracle's operation order.
struct Luma {
    bpp: usize,
}

/// In each 128-bit lane, picks channel `ch` of its 4 pixels into the low bytes of the 32-bit
/// lanes: byte `i` takes byte `ch + 3 · (i / 4)` for `i % 4 == 0`. The other bytes are masked
/// off in [`Luma::rgb`] (they keep 2²³'s), so their indices do not matter.
const fn pick(ch: i8) -> [i8; 64] {
    let mut all = [-1i8; 64];
    let mut i = 0;
    while i < 64 {
        let k = (i % 16) as i8;
        if k % 4 == 0 {
            all[i] = ch + 3 * (k / 4);
        }
        i += 1;
    }
    all
}

/// [`pick`] for red, green and blue.
const PICK: [[i8; 64]; 3] = [pick(0), pick(1), pick(2)];

impl Luma {
    // The shuffle tables and coefficients are constants (`RGB16_TO_LANES`, `PICK`, `LUMA_*`),
    // not fields built for each strip: about 1.5 % less PDQ time on pixels in cache
    // (`examples/pdq_micro`). `steps1_luma`'s loop compiles nearly the same either way (the
    // eleven vectors are loaded into registers before it), so the saving is elsewhere in
    // passes 1–3, or in code layout.
    fn new(layout: PixelLayout) -> Luma {
        Luma {
            bpp: layout.bytes_per_pixel(),
        }
    }

    /// Pixels `c..c + 16` of `row` (zeros past its end), through masked loads: grey rows,
    /// and the RGB blocks near a row's end where a 64-byte load would overrun (the strip loop
    /// takes [`Luma::rgb16`] for the others).
    #[inline]
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
    fn sixteen(&self, row: &[u8], c: usize) -> __m512 {
        let n = row.len().saturating_sub(self.bpp * c).min(16 * self.bpp);
        let p = row[self.bpp * c..].as_ptr().cast::<i8>();
        if self.bpp == 1 {
            let k = if n >= 16 { u16::MAX } else { (1u16 << n) - 1 };
            // SAFETY: the masked load reads only the `n` bytes left in `row` from pixel `c`
            // (masked-off bytes are neither read nor able to fault).
            let v = unsafe { _mm_maskz_loadu_epi8(k, p) };
            return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v));
        }
        // SAFETY: as for the grey load: only the `n` bytes left are read.
        self.rgb(unsafe { _mm512_maskz_loadu_epi8((1u64 << n) - 1, p) })
    }

    /// Luma of the 16 RGB pixels at `p`.
    ///
    /// # Safety
    /// 64 bytes from `p` must be readable.
    #[inline]
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
    unsafe fn rgb16(&self, p: *const u8) -> __m512 {
        // SAFETY: the caller guarantees 64 readable bytes.
        self.rgb(unsafe { _mm512_loadu_si512(p.cast()) })
    }

    /// Luma of the 16 RGB pixels in the first 48 bytes of `v`.
    ///
    /// Each channel byte is shuffled into the low byte of a 32-bit lane whose other bytes are
    /// those of 2²³ (`0x4B00_0000`, kept by the mask), which makes the float 2²³ + x exactly;
    /// then `fma(c, 2²³ + x, −c · 2²³)` is `c · x` before its one rounding, so it equals the
    /// oracle's `RN(c · x)` (for x = 0 too: `c·2²³ − c·2²³` is +0). Three shuffles and three
    /// FMAs instead of three shuffles, three conversions and three multiplies: about 2 % less
    /// PDQ time on pixels in cache.
    #[inline]
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
    fn rgb(&self, v: __m512i) -> __m512 {
        /// The low byte of every 32-bit lane.
        const LOW: u64 = 0x1111_1111_1111_1111;
        /// 2²³.
        const TWO23: f32 = 8_388_608.0;
        let spread: __m512i = bytemuck::cast(crate::simd::RGB16_TO_LANES);
        let v = _mm512_permutexvar_epi32(spread, v);
        let magic = _mm512_set1_epi32(0x4B00_0000);
        let ch = |k: usize, coef: f32| {
            let x = _mm512_mask_shuffle_epi8(magic, LOW, v, bytemuck::cast(PICK[k]));
            // `−coef · 2²³` is exact (a power-of-two scaling).
            let neg = _mm512_set1_ps(-coef * TWO23);
            _mm512_fmadd_ps(_mm512_set1_ps(coef), _mm512_castsi512_ps(x), neg)
        };
        let r = ch(0, LUMA_R);
        let g = ch(1, LUMA_G);
        let b = ch(2, LUMA_B);
        _mm512_add_ps(_mm512_add_ps(r, g), b)
    }
}

/// Transpose the 16×16 block held in `r` (row i = `r[i]`): in-lane 4×4 transposes, then the
/// 128-bit lanes.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    let mut t = r;
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4i + j], lane l: rows 4i..4i + 4 of column 4l + j.
    let mut u = t;
    for i in 0..4 {
        u[4 * i] = _mm512_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
    }
    let mut o = u;
    for j in 0..4 {
        let x = _mm512_shuffle_f32x4::<0x44>(u[j], u[4 + j]);
        let y = _mm512_shuffle_f32x4::<0xEE>(u[j], u[4 + j]);
        let x2 = _mm512_shuffle_f32x4::<0x44>(u[8 + j], u[12 + j]);
        let y2 = _mm512_shuffle_f32x4::<0xEE>(u[8 + j], u[12 + j]);
        o[j] = _mm512_shuffle_f32x4::<0x88>(x, x2);
        o[4 + j] = _mm512_shuffle_f32x4::<0xDD>(x, x2);
        o[8 + j] = _mm512_shuffle_f32x4::<0x88>(y, y2);
        o[12 + j] = _mm512_shuffle_f32x4::<0xDD>(y, y2);
    }
    o
}
