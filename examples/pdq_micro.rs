//! PDQ (SIMD path) on synthetic images small enough to stay in cache, one thread: the
//! arithmetic's cost without the memory's, steady enough (about 1 % between runs here, against
//! 5–10 % for `pdq_loop` on photos) to compare builds that differ by a few per cent.
//! `cargo run --release --example pdq_micro -- [WxH]...` (default `1400x256 1000x750`); prints
//! the fastest of 5 rounds of about 200 Mpx each in thread CPU time, as ns and core cycles per
//! pixel (the cycles at this machine's 3.67 GHz, measured in BENCHMARKS.md; elsewhere only
//! ns/px means anything).
use vigil::synth::{self, Pattern};

fn main() {
    let mut sizes: Vec<(u32, u32)> = std::env::args()
        .skip(1)
        .map(|a| {
            let (w, h) = a.split_once('x').expect("WxH");
            (w.parse().expect("width"), h.parse().expect("height"))
        })
        .collect();
    if sizes.is_empty() {
        sizes = vec![(1400, 256), (1000, 750)];
    }
    for (w, h) in sizes {
        // Noise: every pixel value occurs, no pattern a box filter could make cheaper (PDQ's
        // cost does not depend on the pixels anyway).
        let img = synth::image(Pattern::Noise, w, h, 3);
        let px = f64::from(w) * f64::from(h);
        let reps = ((200e6 / px) as usize).max(1);
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = vigil::scan::isolate::thread_cpu();
            for _ in 0..reps {
                std::hint::black_box(vigil::pdq::fast::hash(&img.view()));
            }
            let dt = (vigil::scan::isolate::thread_cpu() - t).as_secs_f64() / reps as f64;
            best = best.min(dt);
        }
        println!(
            "{w}x{h}: {:.3} ns/px, {:.1} core cycles/px at 3.67 GHz",
            best / px * 1e9,
            best / px * 3.67e9
        );
    }
}
