//! `video::hash_file` timed in one process, as a service embedding the library runs it (and as
//! `scripts/bench-vpdq.py` times pip vpdq's `computeHash`): no process start-up per video.
//!
//! `cargo run --release --example vpdq_inproc -- SECONDS_PER_HASH REPS VIDEO...`
//!
//! Prints one line per video: path, the best wall time of REPS runs in seconds, and the
//! SHA-256 of its vPDQ lines (so a script can check them against another tool's).
use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};
use vigil::video::{self, VpdqOptions};
use vigil::{Backend, Engine};

fn main() {
    let mut args = std::env::args().skip(1);
    let sph: f64 = args
        .next()
        .expect("SECONDS_PER_HASH")
        .parse()
        .expect("a number");
    let reps: usize = args.next().expect("REPS").parse().expect("a count");
    let engine = Engine::new(Backend::Cpu).expect("the CPU engine");
    let opts = VpdqOptions {
        seconds_per_hash: sph,
        ..VpdqOptions::default()
    };
    for path in args {
        let mut best = f64::INFINITY;
        let mut text = String::new();
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            let h = video::hash_file(Path::new(&path), &opts, &engine).expect("hashed");
            best = best.min(t.elapsed().as_secs_f64());
            text = video::write_vpdq(&h.frames);
        }
        let digest: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("{path}\t{best:.4}\t{digest}");
    }
}
