//! The hashing engine: one entry point for PDQ ([`Engine::hash_batch`]) and pHash
//! ([`Engine::phash_batch`]) over batches of images, whichever backend runs.
//!
//! | [`Backend`] | what hashes |
//! |---|---|
//! | `Auto` | a **hardware** GPU when one is found (wgpu `DeviceType` other than `Cpu`, and not a known software renderer), else the CPU fast path |
//! | `Gpu` | any GPU adapter, software ones such as lavapipe included; none is an error, never a silent fallback |
//! | `Cpu` | [`crate::pdq::fast`] (SIMD), images in parallel with rayon |
//! | `Scalar` | [`crate::pdq::oracle`], the reference |
//!
//! A GPU engine still sends some images to the CPU fast path, and counts them in
//! [`Counters::gpu_fallback_cpu`]: images the GPU buffers cannot hold (a side over
//! [`gpu::MAX_SIDE`] or more pixels than a batch), and whole batches when the device is lost
//! or a batch fails. Images smaller than 5×5 hash to zero with quality 0 by rule; they are
//! counted under the engine's own backend.
//!
//! Check mode: with `VIGIL_CHECK_GPU=1` in the environment (or [`Engine::set_check`]) every
//! GPU batch is re-hashed by the oracle; each difference is printed to stderr and counted in
//! [`Counters::check_mismatches`]. The GPU result is still the one returned.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use crate::ImageView;
use crate::gpu::{self, GpuContext, GpuError};
use crate::pdq::{self, PdqDihedral, PdqHash, PdqOutput, oracle};
use crate::phash::{self, PHash};

/// Which implementation hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// A hardware GPU if there is one, else the CPU fast path.
    #[default]
    Auto,
    /// Any GPU adapter (software ones included); an error when there is none.
    Gpu,
    /// The CPU fast path ([`crate::pdq::fast`]).
    Cpu,
    /// The scalar oracle ([`crate::pdq::oracle`]).
    Scalar,
}

impl Backend {
    /// Parse `auto`, `gpu`, `cpu` or `scalar`.
    pub fn from_name(s: &str) -> Option<Backend> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Backend::Auto,
            "gpu" => Backend::Gpu,
            "cpu" => Backend::Cpu,
            "scalar" => Backend::Scalar,
            _ => return None,
        })
    }
}

/// Why an engine could not be built or an image not hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The GPU backend was asked for and could not be opened.
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// How many images each path hashed since the engine was built (each PDQ or pHash batch
/// counts each of its images once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Hashed on the GPU (plus images under 5×5 on a GPU engine).
    pub gpu: u64,
    /// Hashed by the CPU fast path on a CPU engine (`Cpu`, or `Auto` without hardware GPU).
    pub cpu: u64,
    /// Hashed by the scalar oracle on a `Scalar` engine.
    pub scalar: u64,
    /// Hashed by the CPU fast path on a GPU engine: too large, device lost or batch failed.
    pub gpu_fallback_cpu: u64,
    /// Check mode: GPU results that differed from the oracle.
    pub check_mismatches: u64,
}

#[derive(Default)]
struct AtomicCounters {
    gpu: AtomicU64,
    cpu: AtomicU64,
    scalar: AtomicU64,
    gpu_fallback_cpu: AtomicU64,
    check_mismatches: AtomicU64,
}

fn bump(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::Relaxed);
}

enum Path {
    Gpu(Box<GpuContext>),
    Cpu,
    Scalar,
}

/// A PDQ engine. Build once ([`Engine::new`]) and share: hashing takes `&self`.
pub struct Engine {
    path: Path,
    description: String,
    counters: AtomicCounters,
    check: AtomicBool,
    warned_lost: AtomicBool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("backend", &self.backend_name())
            .field("description", &self.description)
            .finish()
    }
}

/// One image's result before the bits: the 16×16 DCT and the quality, or a finished result.
enum Partial {
    /// Hashed on the GPU, median and bits included (`hashes[1..]` only when dihedral).
    Gpu(Box<[PdqHash; 8]>, u8),
    Tiny,
}

impl Engine {
    /// Build an engine for `backend`. `Gpu` fails when no adapter can be opened; `Auto` never
    /// fails (it takes the CPU path when there is no hardware GPU, and says why in
    /// [`Engine::description`]).
    pub fn new(backend: Backend) -> Result<Engine, EngineError> {
        let check = std::env::var("VIGIL_CHECK_GPU").is_ok_and(|v| v != "0" && !v.is_empty());
        let simd = crate::simd::level().name();
        let (path, description) = match backend {
            Backend::Gpu => {
                let ctx = GpuContext::new(false)?;
                let d = gpu_description(&ctx);
                (Path::Gpu(Box::new(ctx)), d)
            }
            Backend::Auto if !gpu_device_nodes() => (
                Path::Cpu,
                format!(
                    "cpu fast path, simd {simd}, rayon (auto: no GPU device node in /dev/dri or /dev/nvidia*)"
                ),
            ),
            Backend::Auto => match GpuContext::new(true) {
                Ok(ctx) => {
                    let d = gpu_description(&ctx);
                    (
                        Path::Gpu(Box::new(ctx)),
                        format!("{d} (auto: hardware adapter found)"),
                    )
                }
                Err(e) => (
                    Path::Cpu,
                    format!("cpu fast path, simd {simd}, rayon (auto: {e})"),
                ),
            },
            Backend::Cpu => (Path::Cpu, format!("cpu fast path, simd {simd}, rayon")),
            Backend::Scalar => (Path::Scalar, "scalar oracle, rayon".to_owned()),
        };
        Ok(Engine {
            path,
            description,
            counters: AtomicCounters::default(),
            check: AtomicBool::new(check),
            warned_lost: AtomicBool::new(false),
        })
    }

    /// `gpu`, `cpu` or `scalar`: the path this engine takes.
    pub fn backend_name(&self) -> &'static str {
        match self.path {
            Path::Gpu(_) => "gpu",
            Path::Cpu => "cpu",
            Path::Scalar => "scalar",
        }
    }

    /// One line: the path, the adapter or SIMD level, and for `Auto` why it was chosen.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The GPU context, when this engine runs on the GPU.
    pub fn gpu(&self) -> Option<&GpuContext> {
        match &self.path {
            Path::Gpu(ctx) => Some(ctx),
            _ => None,
        }
    }

    /// Turn check mode on or off (see the module docs; `VIGIL_CHECK_GPU=1` turns it on).
    pub fn set_check(&self, on: bool) {
        self.check.store(on, Ordering::Relaxed);
    }

    /// A snapshot of the per-path counters.
    pub fn counters(&self) -> Counters {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            gpu: get(&c.gpu),
            cpu: get(&c.cpu),
            scalar: get(&c.scalar),
            gpu_fallback_cpu: get(&c.gpu_fallback_cpu),
            check_mismatches: get(&c.check_mismatches),
        }
    }

    /// Test seam: lose the GPU device as a driver reset would. Later batches are re-hashed on
    /// the CPU and counted in [`Counters::gpu_fallback_cpu`]. No effect on a CPU engine.
    pub fn simulate_device_loss(&self) {
        if let Path::Gpu(ctx) = &self.path {
            ctx.simulate_device_loss();
        }
    }

    /// PDQ hash and quality of each image, in order.
    pub fn hash_batch(&self, images: &[ImageView<'_>]) -> Vec<Result<PdqOutput, EngineError>> {
        match &self.path {
            Path::Cpu => {
                bump(&self.counters.cpu, images.len());
                images.par_iter().map(|v| Ok(pdq::fast::hash(v))).collect()
            }
            Path::Scalar => {
                bump(&self.counters.scalar, images.len());
                images.par_iter().map(|v| Ok(oracle::hash(v))).collect()
            }
            Path::Gpu(ctx) => self
                .gpu_partials(ctx, images, false, pdq::fast::hash)
                .into_iter()
                .map(|p| {
                    Ok(match p {
                        Ok(Partial::Gpu(hashes, quality)) => PdqOutput {
                            hash: hashes[0],
                            quality,
                        },
                        Ok(Partial::Tiny) => PdqOutput {
                            hash: PdqHash::ZERO,
                            quality: 0,
                        },
                        Err(out) => out,
                    })
                })
                .collect(),
        }
    }

    /// The 8 dihedral PDQ hashes of each image, in order.
    pub fn hash_batch_dihedral(
        &self,
        images: &[ImageView<'_>],
    ) -> Vec<Result<PdqDihedral, EngineError>> {
        let level = crate::simd::level();
        match &self.path {
            Path::Cpu => {
                bump(&self.counters.cpu, images.len());
                images
                    .par_iter()
                    .map(|v| Ok(pdq::fast::hash_dihedral_at(v, level)))
                    .collect()
            }
            Path::Scalar => {
                bump(&self.counters.scalar, images.len());
                images
                    .par_iter()
                    .map(|v| Ok(oracle::hash_dihedral(v)))
                    .collect()
            }
            Path::Gpu(ctx) => self
                .gpu_partials(ctx, images, true, |v| pdq::fast::hash_dihedral_at(v, level))
                .into_iter()
                .map(|p| {
                    Ok(match p {
                        Ok(Partial::Gpu(hashes, quality)) => PdqDihedral {
                            hashes: *hashes,
                            quality,
                        },
                        Ok(Partial::Tiny) => PdqDihedral {
                            hashes: [PdqHash::ZERO; 8],
                            quality: 0,
                        },
                        Err(out) => out,
                    })
                })
                .collect(),
        }
    }

    /// pHash (imagehash 4.3.2 `phash()`) of each image, in order.
    ///
    /// On a GPU engine the GPU computes Pillow's `convert('L')` and the 32×32 LANCZOS resize
    /// ([`GpuContext::phash_resize_batch`], integer-only, so exact on any adapter); the DCT,
    /// median and bits run on the CPU ([`phash::hash_32x32`]), since imagehash's DCT is
    /// scipy's pocketfft in float64 and is reproduced operation for operation there. Images the
    /// GPU buffers cannot hold, and whole batches after a device loss or a failed batch, go to
    /// [`phash::hash`] on the CPU and count in [`Counters::gpu_fallback_cpu`]; empty images
    /// hash to `PHash(0)` and count under the engine's backend. `Cpu` and `Scalar` engines run
    /// [`phash::hash`] (there is one pHash implementation) with rayon, counted under their
    /// backend. Check mode compares every GPU result with [`phash::hash`].
    pub fn phash_batch(&self, images: &[ImageView<'_>]) -> Vec<Result<PHash, EngineError>> {
        let ctx = match &self.path {
            Path::Cpu | Path::Scalar => {
                let c = match self.path {
                    Path::Cpu => &self.counters.cpu,
                    _ => &self.counters.scalar,
                };
                bump(c, images.len());
                return images.par_iter().map(|v| Ok(phash::hash(v))).collect();
            }
            Path::Gpu(ctx) => ctx,
        };
        let mut results: Vec<Option<PHash>> = vec![None; images.len()];
        let mut on_gpu: Vec<usize> = Vec::new();
        let mut to_cpu: Vec<usize> = Vec::new();
        for (i, v) in images.iter().enumerate() {
            if v.width() == 0 || v.height() == 0 {
                results[i] = Some(PHash(0));
            } else if ctx.phash_fits(v.width(), v.height()) {
                on_gpu.push(i);
            } else {
                to_cpu.push(i);
            }
        }
        bump(
            &self.counters.gpu,
            images.len() - on_gpu.len() - to_cpu.len(),
        );
        if !on_gpu.is_empty() {
            let views: Vec<ImageView<'_>> = on_gpu.iter().map(|&i| images[i]).collect();
            match ctx.phash_resize_batch(&views) {
                Ok(small) => {
                    bump(&self.counters.gpu, small.len());
                    let hashes: Vec<PHash> = small.par_iter().map(phash::hash_32x32).collect();
                    if self.check.load(Ordering::Relaxed) {
                        self.check_phash(&views, &hashes);
                    }
                    for (&i, h) in on_gpu.iter().zip(hashes) {
                        results[i] = Some(h);
                    }
                }
                Err(e) => {
                    let lost = matches!(e, GpuError::DeviceLost);
                    if !lost || !self.warned_lost.swap(true, Ordering::Relaxed) {
                        eprintln!("vigil: {e}; hashing on the CPU instead");
                    }
                    to_cpu.extend(on_gpu.iter().copied());
                }
            }
        }
        bump(&self.counters.gpu_fallback_cpu, to_cpu.len());
        let cpu: Vec<(usize, PHash)> = to_cpu
            .par_iter()
            .map(|&i| (i, phash::hash(&images[i])))
            .collect();
        for (i, h) in cpu {
            results[i] = Some(h);
        }
        results
            .into_iter()
            .map(|r| Ok(r.expect("every image has a result")))
            .collect()
    }

    fn check_phash(&self, views: &[ImageView<'_>], got: &[PHash]) {
        let bad = views
            .par_iter()
            .zip(got)
            .filter(|(v, g)| {
                let want = phash::hash(v);
                if want != **g {
                    eprintln!(
                        "vigil: VIGIL_CHECK_GPU: {}x{} image: gpu phash {} vs cpu {} ({} bits differ)",
                        v.width(),
                        v.height(),
                        g,
                        want,
                        g.distance(&want)
                    );
                }
                want != **g
            })
            .count();
        bump(&self.counters.check_mismatches, bad);
    }

    /// Run the GPU over the images it takes; the rest, and everything after a failure, go to
    /// `cpu` (counted). `Ok(partial)` = GPU (or under 5×5), `Err(out)` = the CPU's result.
    fn gpu_partials<T: Send>(
        &self,
        ctx: &GpuContext,
        images: &[ImageView<'_>],
        dihedral: bool,
        cpu: impl Fn(&ImageView<'_>) -> T + Sync,
    ) -> Vec<Result<Partial, T>> {
        let min = oracle::MIN_HASHABLE_DIM as u32;
        let tiny = |v: &ImageView<'_>| v.width() < min || v.height() < min;
        let mut on_gpu: Vec<usize> = Vec::new();
        let mut to_cpu: Vec<usize> = Vec::new();
        for (i, v) in images.iter().enumerate() {
            if tiny(v) {
                continue;
            }
            if ctx.fits(v.width(), v.height()) {
                on_gpu.push(i);
            } else {
                to_cpu.push(i);
            }
        }
        let tiny_count = images.len() - on_gpu.len() - to_cpu.len();
        bump(&self.counters.gpu, tiny_count);
        let mut results: Vec<Option<Result<Partial, T>>> = images.iter().map(|_| None).collect();
        for (i, v) in images.iter().enumerate() {
            if tiny(v) {
                results[i] = Some(Ok(Partial::Tiny));
            }
        }
        if !on_gpu.is_empty() {
            let views: Vec<ImageView<'_>> = on_gpu.iter().map(|&i| images[i]).collect();
            match ctx.hash_batch(&views, dihedral) {
                Ok(outs) => {
                    bump(&self.counters.gpu, outs.len());
                    if self.check.load(Ordering::Relaxed) {
                        self.check_against_oracle(&views, &outs, dihedral);
                    }
                    for (&i, o) in on_gpu.iter().zip(outs) {
                        results[i] = Some(Ok(Partial::Gpu(Box::new(o.hashes), o.quality)));
                    }
                }
                Err(e) => {
                    // A lost device fails every later batch: say so once, not per batch.
                    let lost = matches!(e, GpuError::DeviceLost);
                    if !lost || !self.warned_lost.swap(true, Ordering::Relaxed) {
                        eprintln!("vigil: {e}; hashing on the CPU instead");
                    }
                    to_cpu.extend(on_gpu.iter().copied());
                }
            }
        }
        bump(&self.counters.gpu_fallback_cpu, to_cpu.len());
        let cpu_results: Vec<(usize, T)> =
            to_cpu.par_iter().map(|&i| (i, cpu(&images[i]))).collect();
        for (i, r) in cpu_results {
            results[i] = Some(Err(r));
        }
        results
            .into_iter()
            .map(|r| r.expect("every image has a result"))
            .collect()
    }

    fn check_against_oracle(
        &self,
        views: &[ImageView<'_>],
        outs: &[crate::gpu::GpuOutput],
        dihedral: bool,
    ) {
        let bad: usize = views
            .par_iter()
            .zip(outs)
            .filter(|(v, o)| {
                let (want, got): (Vec<PdqHash>, &[PdqHash]) = if dihedral {
                    let w = oracle::hash_dihedral(v);
                    (w.hashes.to_vec(), &o.hashes[..])
                } else {
                    (vec![oracle::hash(v).hash], &o.hashes[..1])
                };
                let want_q = oracle::hash(v).quality;
                let differs = want != got || want_q != o.quality;
                if differs {
                    eprintln!(
                        "vigil: VIGIL_CHECK_GPU: {}x{} image: gpu {} q{} vs oracle {} q{} ({} bits differ)",
                        v.width(),
                        v.height(),
                        got[0],
                        o.quality,
                        want[0],
                        want_q,
                        got[0].distance(&want[0])
                    );
                }
                differs
            })
            .count();
        bump(&self.counters.check_mismatches, bad);
    }
}

fn gpu_description(ctx: &GpuContext) -> String {
    let a = ctx.adapter();
    format!(
        "gpu: {} ({}, {}), batches of up to {} images / {} pixels",
        a.name,
        a.device_type,
        a.backend,
        ctx.batch_images(),
        ctx.batch_pixels()
    )
}

/// Whether this machine can have a hardware GPU at all: on Linux a hardware Vulkan driver needs
/// a render node (`/dev/dri/renderD*`) or the NVIDIA device files (`/dev/nvidia*`). Without
/// either, `Auto` does not load the Vulkan drivers to look (on a GPU-less machine that costs
/// about half a second and 55 MB for Mesa's software driver, which `Auto` would refuse anyway).
/// `VIGIL_GPU_PROBE=always` probes regardless. Other systems always probe.
fn gpu_device_nodes() -> bool {
    if !cfg!(target_os = "linux") || std::env::var("VIGIL_GPU_PROBE").as_deref() == Ok("always") {
        return true;
    }
    let any = |dir: &str, prefix: &str| {
        std::fs::read_dir(dir).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with(prefix)))
        })
    };
    any("/dev/dri", "renderD") || any("/dev", "nvidia")
}

/// Adapters and the backend `Auto` would choose, with the reason (for `vigil info`).
pub fn auto_choice() -> (Vec<gpu::AdapterInfo>, String) {
    let adapters = gpu::adapters();
    let usable = |a: &&gpu::AdapterInfo| a.compute;
    let why = match adapters.iter().filter(usable).find(|a| a.hardware) {
        Some(a) => format!(
            "gpu: hardware adapter {} ({}, {})",
            a.name, a.device_type, a.backend
        ),
        None if adapters.iter().any(|a| a.compute) => {
            "cpu: only software adapters (use --backend gpu to run on them)".to_owned()
        }
        None => "cpu: no GPU adapter".to_owned(),
    };
    (adapters, why)
}
