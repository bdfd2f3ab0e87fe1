//! PDQ on the GPU through wgpu/WGSL, bit-exact with [`crate::pdq::oracle`].
//!
//! Every wgpu call lives in this module: `context` opens the device, `pipelines`
//! compiles the kernels of `shaders/` once, `buffers` holds the reusable per-batch buffers,
//! `timing` the measurement hooks of `vigil gpu-bench` (phase times, copy rate).
//! The GPU runs luma → 2× (box rows, box columns) → decimation → quality → 64→16 DCT → median
//! and bits (of 1 or all 8 dihedral variants) for a whole chunk of images of any sizes (their
//! bytes packed into one buffer, workgroup `y` = image) in one submission; the CPU uploads the
//! constant tables and decimation indices and reads back the hashes, the quality and the DCT. The blur walks each row and column as one running sum; rows
//! are walked in a transposed layout so that every load is coalesced (`shaders/pdq_box.wgsl`).
//!
//! A batch is split into chunks of about [`GpuContext::chunk_pixels`] pixels, pipelined: the
//! CPU packs chunk k + 1 into one of two mapped upload buffers (all threads) while the GPU runs
//! chunk k, whose results land in one of two readback buffers.
//!
//! Exactness is by construction (shared/docs/gpu-float.md): CPU-computed constants, `opq()` fences
//! on every product and running sum, integer-only `div_small()` for the box-filter and `/255`
//! divisions, the oracle's sequential summation order, integer quality. Callers go through
//! [`crate::engine::Engine`], which also handles images the GPU does not take.

mod buffers;
mod context;
mod hamming;
mod phash;
mod pipelines;
mod timing;

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Instant;

use buffers::{
    BatchBuffers, DEC_PER_IMAGE, Globals, ImageParams, QUALITY_WORDS_PER_IMAGE, UploadState,
    WORK_FLOATS_PER_IMAGE,
};
use context::DeviceState;
pub use hamming::{GpuCodes, GpuHit};
use pipelines::Pipelines;
pub use timing::{BatchTiming, KERNELS, KernelClock, UploadTiming};

use crate::pdq::oracle::{self, MIN_HASHABLE_DIM};
use crate::pdq::{Dct16, PdqHash};
use crate::{ImageView, PixelLayout};

/// The largest side the GPU takes: box windows up to 256 keep `div_small` exact.
pub const MAX_SIDE: u32 = 32_767;
/// Upper bound on the pixels the buffers hold on a hardware GPU (three buffers of 4 bytes per
/// pixel: 1.5 GiB at 2^27).
const BATCH_PIXELS_CAP: u64 = 1 << 27;
/// The same on a software adapter (lavapipe), whose "GPU memory" is the host's.
const BATCH_PIXELS_CAP_SOFTWARE: u64 = 1 << 24;
/// Default pixels per submitted chunk on a hardware GPU: enough rows and columns in flight to
/// fill the GPU (a thread per row or column), small enough that a batch is several chunks and
/// packing overlaps the kernels (`VIGIL_GPU_CHUNK_PIXELS` or [`GpuContext::set_chunk_pixels`]
/// change it).
const CHUNK_PIXELS: u64 = 1 << 26;
/// Workgroups per image for the 32×32-tile kernels (luma, transposes); each loops over its
/// image's tiles, so the dispatch does not grow with the largest image of a mixed batch.
const TILE_GROUPS: u32 = 128;
/// Upper bound on the images of one batch.
const BATCH_IMAGES_CAP: u64 = 4096;

/// One adapter as wgpu reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterInfo {
    /// Adapter name (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// wgpu device type (`DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Other`, `Cpu`).
    pub device_type: String,
    /// wgpu backend (`Vulkan`, `Metal`, `Dx12`, `Gl`).
    pub backend: String,
    /// Driver name and version.
    pub driver: String,
    /// Whether this is real hardware: not `DeviceType::Cpu` and not a known software renderer.
    pub hardware: bool,
    /// Whether the adapter runs compute shaders.
    pub compute: bool,
    /// Largest storage-buffer binding, bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer, bytes.
    pub max_buffer_size: u64,
    /// Most workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Most storage buffers one shader stage may bind.
    pub max_storage_buffers_per_shader_stage: u32,
}

/// What the GPU computes for one image.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuOutput {
    /// The 16×16 DCT (B of spec §1.8).
    pub dct: Dct16,
    /// PDQ quality.
    pub quality: u8,
    /// The hashes of the variants asked for, in dihedral order (`orig` first); the rest zero.
    pub hashes: [PdqHash; 8],
}

/// Why the GPU could not be used or a batch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// No adapter at all (not even a software one).
    #[error("no GPU adapter found (install a Vulkan driver; lavapipe for tests)")]
    NoAdapter,
    /// No hardware adapter (software adapters exist but were not asked for).
    #[error("no hardware GPU adapter found")]
    NoHardwareAdapter,
    /// An adapter exists but does not give what vigil needs.
    #[error("GPU adapter unusable: {0}")]
    Unsuitable(String),
    /// Opening the device failed.
    #[error("could not open the GPU device: {0}")]
    Device(String),
    /// The device was lost (driver reset, removal, or the test seam).
    #[error("GPU device lost")]
    DeviceLost,
    /// wgpu reported an error during a batch.
    #[error("GPU batch failed: {0}")]
    Batch(String),
}

/// Every adapter wgpu finds, best first (for `vigil info`).
pub fn adapters() -> Vec<AdapterInfo> {
    context::enumerate(false)
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

/// An open GPU with compiled pipelines and reusable buffers; build once, share by reference
/// (batches from several threads are serialised).
pub struct GpuContext {
    state: DeviceState,
    pipelines: Pipelines,
    consts: wgpu::Buffer,
    buffers: Mutex<Option<BatchBuffers>>,
    batch_pixels: u64,
    batch_images: u64,
    /// Target pixels per submitted chunk (at most `batch_pixels`).
    chunk_pixels: std::sync::atomic::AtomicU64,
    /// Timestamp queries for [`GpuContext::dct_batch_timed`]; only on contexts opened with
    /// [`GpuContext::with_timestamps`] on an adapter that has them.
    stamps: Option<timing::Stamps>,
    /// The pHash kernels and buffers (`phash.rs`), built on first use.
    phash: phash::PhashState,
    /// The Hamming-scan kernels (`hamming.rs`), built on first use.
    hamming: hamming::HammingState,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.state.info)
            .field("batch_pixels", &self.batch_pixels)
            .field("batch_images", &self.batch_images)
            .finish()
    }
}

impl GpuContext {
    /// Open the best adapter: only hardware when `hardware_only` (what `Backend::Auto` asks),
    /// else any adapter including software ones such as lavapipe.
    pub fn new(hardware_only: bool) -> Result<Self, GpuError> {
        Self::open_with(hardware_only, wgpu::Features::empty())
    }

    /// Open with `optional` device features requested where the adapter has them.
    fn open_with(hardware_only: bool, optional: wgpu::Features) -> Result<Self, GpuError> {
        let state = context::open(hardware_only, optional)?;
        let l = &state.limits;
        if l.max_storage_buffers_per_shader_stage < 8 {
            return Err(GpuError::Unsuitable(format!(
                "{} storage buffers per stage, vigil needs 8",
                l.max_storage_buffers_per_shader_stage
            )));
        }
        // Batch sizes from the adapter's limits: each pixel buffer is 4 bytes per pixel, the
        // work buffer 21,504 bytes per image, workgroup y = image.
        let binding = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
        let cap = if state.info.hardware {
            BATCH_PIXELS_CAP
        } else {
            BATCH_PIXELS_CAP_SOFTWARE
        };
        let batch_pixels = (binding / 4).min(cap);
        let batch_images = (binding / (WORK_FLOATS_PER_IMAGE * 4))
            .min(u64::from(l.max_compute_workgroups_per_dimension))
            .min(BATCH_IMAGES_CAP);
        if batch_pixels < 64 * 64 || batch_images < 1 {
            return Err(GpuError::Unsuitable("storage buffers too small".into()));
        }
        let pipelines = Pipelines::new(&state.device);
        let mut table: Vec<f32> = Vec::with_capacity(768 + 1024);
        for coeff in [oracle::LUMA_R, oracle::LUMA_G, oracle::LUMA_B] {
            table.extend((0..=255u8).map(|v| coeff * f32::from(v)));
        }
        table.extend(oracle::dct_matrix().iter().flatten());
        let consts = state.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil consts"),
            size: (table.len() * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        state
            .queue
            .write_buffer(&consts, 0, bytemuck::cast_slice(&table));
        let stamps = timing::Stamps::new(&state);
        let ctx = Self {
            state,
            pipelines,
            consts,
            buffers: Mutex::new(None),
            batch_pixels,
            batch_images,
            chunk_pixels: std::sync::atomic::AtomicU64::new(batch_pixels),
            stamps,
            phash: phash::PhashState::default(),
            hamming: hamming::HammingState::default(),
        };
        let chunk = std::env::var("VIGIL_GPU_CHUNK_PIXELS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(CHUNK_PIXELS);
        ctx.set_chunk_pixels(chunk);
        ctx.take_error()?;
        Ok(ctx)
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterInfo {
        &self.state.info
    }

    /// Most pixels the buffers hold (from the adapter's buffer limits): the largest image the
    /// GPU takes, and the most pixels of one chunk.
    pub fn batch_pixels(&self) -> u64 {
        self.batch_pixels
    }

    /// Target pixels per submitted chunk.
    pub fn chunk_pixels(&self) -> u64 {
        self.chunk_pixels.load(Ordering::Relaxed)
    }

    /// Set the target pixels per submitted chunk, clamped to 4096 ..= [`Self::batch_pixels`].
    /// Results do not depend on it; speed does.
    pub fn set_chunk_pixels(&self, pixels: u64) {
        self.chunk_pixels
            .store(pixels.clamp(4096, self.batch_pixels), Ordering::Relaxed);
    }

    /// Most images in one batch.
    pub fn batch_images(&self) -> u64 {
        self.batch_images
    }

    /// Whether the GPU path takes an image of this size (at least 5×5, no side over
    /// [`MAX_SIDE`], no more pixels than one batch holds).
    pub fn fits(&self, width: u32, height: u32) -> bool {
        let min = MIN_HASHABLE_DIM as u32;
        width >= min
            && height >= min
            && width <= MAX_SIDE
            && height <= MAX_SIDE
            && u64::from(width) * u64::from(height) <= self.batch_pixels
    }

    /// Whether the device was lost; a lost context fails every later batch.
    pub fn is_lost(&self) -> bool {
        self.state.lost.load(Ordering::SeqCst)
    }

    /// Test seam: destroy the device as a driver reset would, so callers' fallback paths can
    /// be exercised on any adapter.
    pub fn simulate_device_loss(&self) {
        self.state.device.destroy();
        self.state.lost.store(true, Ordering::SeqCst);
    }

    fn take_error(&self) -> Result<(), GpuError> {
        if self.is_lost() {
            return Err(GpuError::DeviceLost);
        }
        let mut slot = self.state.error.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some(e) => Err(GpuError::Batch(e)),
            None => Ok(()),
        }
    }

    /// The 16×16 DCT and the quality of each image, in order. Every image must
    /// [fit](Self::fits); the batch is split by the adapter's limits and each part is one
    /// command-encoder submission.
    pub fn dct_batch(&self, images: &[ImageView<'_>]) -> Result<Vec<(Dct16, u8)>, GpuError> {
        Ok(self
            .dct_batch_inner(images, None, 1)?
            .into_iter()
            .map(|o| (o.dct, o.quality))
            .collect())
    }

    /// PDQ of each image on the GPU, median and bits included: the `orig` hash, or all 8
    /// dihedral hashes with `dihedral`, with the DCT and quality. Every image must
    /// [fit](Self::fits).
    pub fn hash_batch(
        &self,
        images: &[ImageView<'_>],
        dihedral: bool,
    ) -> Result<Vec<GpuOutput>, GpuError> {
        self.dct_batch_inner(images, None, if dihedral { 8 } else { 1 })
    }

    /// [`Self::dct_batch`], with `timing` (when given) adding up each phase of each chunk. A
    /// timed chunk waits for the GPU between phases; untimed chunks are pipelined: chunk k + 1
    /// is packed and submitted before chunk k's results are read, so the CPU packs while the
    /// GPU computes (two readback buffers, used in turn).
    fn dct_batch_inner(
        &self,
        images: &[ImageView<'_>],
        timing: Option<&mut BatchTiming>,
        variants: u32,
    ) -> Result<Vec<GpuOutput>, GpuError> {
        if let Some(bad) = images.iter().find(|v| !self.fits(v.width(), v.height())) {
            return Err(GpuError::Batch(format!(
                "image {}×{} does not fit the GPU path",
                bad.width(),
                bad.height()
            )));
        }
        if images.is_empty() {
            return Ok(Vec::new());
        }
        // Plan the chunks: consecutive images up to the chunk size (an image larger than the
        // chunk size, but within the buffers' capacity, makes a chunk of its own).
        let target = self.chunk_pixels();
        let mut chunks: Vec<(usize, usize, u64)> = Vec::new();
        let mut start = 0;
        while start < images.len() {
            let mut end = start;
            let mut pixels = 0u64;
            while end < images.len() && ((end - start) as u64) < self.batch_images {
                let p = u64::from(images[end].width()) * u64::from(images[end].height());
                if end > start && pixels + p > target {
                    break;
                }
                pixels += p;
                end += 1;
            }
            chunks.push((start, end, pixels));
            start = end;
        }
        let most_pixels = chunks.iter().map(|c| c.2).max().unwrap_or(0);
        let most_images = chunks.iter().map(|c| (c.1 - c.0) as u64).max().unwrap_or(0);

        let mut guard = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        if !guard
            .as_ref()
            .is_some_and(|b| b.holds(most_pixels, most_images))
        {
            *guard = None; // free the old buffers before making bigger ones
            *guard = Some(BatchBuffers::new(
                &self.state.device,
                &self.pipelines.layout,
                &self.consts,
                most_pixels,
                most_images,
                (self.batch_pixels, self.batch_images),
            ));
        }
        let bufs = guard.as_mut().expect("just made");
        let result = self.run_chunks(bufs, images, &chunks, timing, variants);
        if result.is_err() {
            // Mapping states may be half-way: start the next batch from fresh buffers.
            *guard = None;
        }
        result
    }

    /// Run planned chunks `(start, end, pixels)` of `images`, pipelined unless timed.
    fn run_chunks(
        &self,
        bufs: &mut BatchBuffers,
        images: &[ImageView<'_>],
        chunks: &[(usize, usize, u64)],
        mut timing: Option<&mut BatchTiming>,
        variants: u32,
    ) -> Result<Vec<GpuOutput>, GpuError> {
        let mut out = Vec::with_capacity(images.len());
        let mut pending: Option<Pending> = None;
        for (k, &(a, b, pixels)) in chunks.iter().enumerate() {
            let slot = k % 2;
            if let Some(t) = timing.as_deref_mut() {
                let p = self.submit_chunk(bufs, &images[a..b], pixels, slot, variants, Some(t))?;
                out.extend(self.finish_chunk(bufs, p, Some(t))?);
            } else {
                let p = self.submit_chunk(bufs, &images[a..b], pixels, slot, variants, None)?;
                if let Some(prev) = pending.replace(p) {
                    out.extend(self.finish_chunk(bufs, prev, None)?);
                }
            }
        }
        if let Some(prev) = pending {
            out.extend(self.finish_chunk(bufs, prev, None)?);
        }
        Ok(out)
    }

    /// Pack, upload, encode and submit one chunk: the image bytes go into
    /// `bufs.upload[slot]` (waiting, if need be, for the GPU to finish with it), the submission
    /// copies them to the pixel buffer, runs the kernels and copies the B matrices and qualities
    /// into `bufs.staging[slot]`.
    fn submit_chunk(
        &self,
        bufs: &mut BatchBuffers,
        images: &[ImageView<'_>],
        total: u64,
        slot: usize,
        variants: u32,
        mut timing: Option<&mut BatchTiming>,
    ) -> Result<Pending, GpuError> {
        self.take_error()?;
        let started = Instant::now();
        let n = images.len() as u64;
        let device = &self.state.device;
        let queue = &self.state.queue;

        // Per-image parameters, decimation indices and where each image's bytes go.
        let mut params = Vec::with_capacity(images.len());
        let mut dec: Vec<u32> = Vec::with_capacity(images.len() * DEC_PER_IMAGE as usize);
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(images.len());
        let (mut offset, mut bytes) = (0u64, 0usize);
        let (mut max_w, mut max_h, mut max_tiles) = (0u32, 0u32, 0u32);
        for v in images {
            let (w, h) = (v.width(), v.height());
            let grey = v.layout() == PixelLayout::Luma8;
            let len = w as usize * h as usize * v.layout().bytes_per_pixel();
            params.push(ImageParams {
                offset: offset as u32,
                width: w,
                height: h,
                grey: u32::from(grey),
                win_rows: oracle::jarosz_window(w as usize) as u32,
                win_cols: oracle::jarosz_window(h as usize) as u32,
                skip_blur: u32::from(w == 64 && h == 64),
                src_word: (bytes / 4) as u32,
            });
            spans.push((bytes, len));
            bytes += len.next_multiple_of(4);
            offset += u64::from(w) * u64::from(h);
            dec.extend((0..64).map(|i| oracle::decimation_index(i, h as usize) as u32));
            dec.extend((0..64).map(|j| oracle::decimation_index(j, w as usize) as u32));
            max_w = max_w.max(w);
            max_h = max_h.max(h);
            max_tiles = max_tiles.max(w.div_ceil(32) * h.div_ceil(32));
        }
        debug_assert_eq!(offset, total);
        let t_base = (n * 4096) as u32;
        let globals = Globals {
            zero: 0,
            num_images: n as u32,
            t_base,
            b_base: t_base + (n * 1024) as u32,
        };
        queue.write_buffer(&bufs.globals, 0, bytemuck::bytes_of(&globals));
        queue.write_buffer(&bufs.images, 0, bytemuck::cast_slice(&params));
        queue.write_buffer(&bufs.dec, 0, bytemuck::cast_slice(&dec));

        // The images' bytes, copied by all threads into the mapped upload buffer.
        if let UploadState::Pending(index, rx) =
            std::mem::replace(&mut bufs.upload_state[slot], UploadState::Mapped)
        {
            device
                .poll(wgpu::PollType::Wait {
                    submission_index: Some(index),
                    timeout: None,
                })
                .map_err(|e| GpuError::Batch(e.to_string()))?;
            rx.recv()
                .map_err(|_| GpuError::Batch("map callback dropped".into()))?
                .map_err(|e| GpuError::Batch(e.to_string()))?;
        }
        let upload = &bufs.upload[slot];
        let padded = (bytes as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        {
            let mut view = upload
                .slice(..padded)
                .get_mapped_range_mut()
                .map_err(|e| GpuError::Batch(e.to_string()))?;
            pack_pixels(&mut view.slice(..), images, &spans);
        }
        upload.unmap();
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("vigil pdq batch"),
        });
        encoder.copy_buffer_to_buffer(upload, 0, &bufs.pixels, 0, padded);
        if let Some(t) = timing.as_deref_mut() {
            t.pack += started.elapsed();
            // The copy alone.
            let upload_started = Instant::now();
            self.submit_and_wait(vec![encoder.finish()])?;
            t.upload += upload_started.elapsed();
            encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("vigil pdq kernels"),
            });
        }

        let max_groups = self.state.limits.max_compute_workgroups_per_dimension;
        let groups = |threads: u64, size: u64| -> u32 {
            (threads.div_ceil(size).max(1)).min(u64::from(max_groups)) as u32
        };
        let ny = n as u32;
        let p = &self.pipelines;
        // Luma to layout T, rows, to R, columns, to T, rows (decimation columns only), then
        // the decimation columns (pdq_box.wgsl). Workgroup y (or z for tiles) = image.
        // Tile kernels: up to TILE_GROUPS workgroups per image, each looping over tiles.
        let tiles = [max_tiles.min(TILE_GROUPS), ny, 1];
        let lines = |threads: u32| [groups(u64::from(threads), 64), ny, 1];
        let dispatches: [(&wgpu::ComputePipeline, [u32; 3]); KERNELS.len()] = [
            (&p.luma, tiles),
            (&p.box_rows, lines(max_h)),
            (&p.transpose_to_rows, tiles),
            (&p.box_cols, lines(max_w)),
            (&p.transpose_to_cols, tiles),
            (&p.box_rows_decimate, lines(max_h)),
            (&p.box_cols_decimate, [1, ny, 1]),
            (&p.quality, [1, ny, 1]),
            (&p.dct_t, [1024 / 64, ny, 1]),
            (&p.dct_b, [256 / 64, ny, 1]),
            (&p.bits, [variants, ny, 1]),
        ];
        let stamps = timing.is_some().then_some(self.stamps.as_ref()).flatten();
        if let Some(s) = stamps {
            // Timed: each kernel in a compute pass of its own, between two timestamps.
            for (i, (pipeline, [x, y, z])) in dispatches.iter().enumerate() {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(KERNELS[i]),
                    timestamp_writes: Some(s.pass_writes(i as u32)),
                });
                pass.set_bind_group(0, &bufs.bind_group, &[]);
                pass.set_pipeline(pipeline);
                pass.dispatch_workgroups(*x, *y, *z);
            }
        } else {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("vigil pdq"),
                timestamp_writes: None,
            });
            pass.set_bind_group(0, &bufs.bind_group, &[]);
            for (pipeline, [x, y, z]) in &dispatches {
                pass.set_pipeline(pipeline);
                pass.dispatch_workgroups(*x, *y, *z);
            }
        }
        if let Some(t) = timing {
            // The kernels alone, then the readback in an encoder of its own.
            let kernels_started = Instant::now();
            if let Some(s) = stamps {
                s.resolve(&mut encoder, KERNELS.len() as u32);
            }
            self.submit_and_wait(vec![encoder.finish()])?;
            t.kernels_wall += kernels_started.elapsed();
            if let Some(s) = stamps {
                let each = s.read_pairs(&self.state, KERNELS.len() as u32)?;
                for (a, b) in t.kernel_split.iter_mut().zip(&each) {
                    *a += *b;
                }
                t.kernels_gpu += each.iter().sum::<std::time::Duration>();
            }
            encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("vigil pdq readback"),
            });
        }
        let readback_started = Instant::now();
        let b_bytes = n * 256 * 4;
        let staging = &bufs.staging[slot];
        encoder.copy_buffer_to_buffer(
            &bufs.work,
            u64::from(globals.b_base) * 4,
            staging,
            0,
            b_bytes,
        );
        let q_bytes = n * QUALITY_WORDS_PER_IMAGE * 4;
        encoder.copy_buffer_to_buffer(&bufs.quality, 0, staging, b_bytes, q_bytes);
        let index = queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging
            .slice(..b_bytes + q_bytes)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        // Map the upload buffer again once this submission is done with it.
        let (utx, urx) = std::sync::mpsc::channel();
        upload.slice(..).map_async(wgpu::MapMode::Write, move |r| {
            let _ = utx.send(r);
        });
        bufs.upload_state[slot] = UploadState::Pending(index.clone(), urx);
        Ok(Pending {
            index,
            slot,
            variants,
            images: n,
            mapped: rx,
            readback_started,
        })
    }

    /// Wait for a submitted chunk and read its B matrices and qualities.
    fn finish_chunk(
        &self,
        bufs: &mut BatchBuffers,
        p: Pending,
        timing: Option<&mut BatchTiming>,
    ) -> Result<Vec<GpuOutput>, GpuError> {
        let n = p.images;
        let b_bytes = n * 256 * 4;
        let q_bytes = n * QUALITY_WORDS_PER_IMAGE * 4;
        let staging = &bufs.staging[p.slot];
        self.state
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(p.index),
                timeout: None,
            })
            .map_err(|e| GpuError::Batch(e.to_string()))?;
        let mapped = p
            .mapped
            .recv()
            .map_err(|_| GpuError::Batch("map callback dropped".into()))?;
        self.take_error()?;
        mapped.map_err(|e| GpuError::Batch(e.to_string()))?;
        let slice = staging.slice(..b_bytes + q_bytes);
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Batch(e.to_string()))?;
            let floats: &[f32] = bytemuck::cast_slice(&view[..b_bytes as usize]);
            let words: &[u32] = bytemuck::cast_slice(&view[b_bytes as usize..]);
            let (quals, bits) = words.split_at(n as usize);
            floats
                .chunks_exact(256)
                .zip(quals)
                .zip(bits.chunks_exact(64))
                .map(|((b, &q), bits)| {
                    let mut dct = [[0.0f32; 16]; 16];
                    for (i, row) in dct.iter_mut().enumerate() {
                        row.copy_from_slice(&b[i * 16..i * 16 + 16]);
                    }
                    let mut hashes = [PdqHash::ZERO; 8];
                    for (v, h) in hashes.iter_mut().enumerate().take(p.variants as usize) {
                        let w = &bits[v * 8..v * 8 + 8];
                        for (k, word) in h.0.iter_mut().enumerate() {
                            *word = u64::from(w[2 * k]) | u64::from(w[2 * k + 1]) << 32;
                        }
                    }
                    GpuOutput {
                        dct,
                        quality: q.min(100) as u8,
                        hashes,
                    }
                })
                .collect()
        };
        staging.unmap();
        self.take_error()?;
        if let Some(t) = timing {
            t.readback += p.readback_started.elapsed();
            t.chunks += 1;
            t.images += n;
        }
        Ok(out)
    }
}

/// A submitted chunk whose results are not read yet.
struct Pending {
    index: wgpu::SubmissionIndex,
    slot: usize,
    variants: u32,
    images: u64,
    mapped: std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    readback_started: Instant,
}

/// A raw destination for [`pack_pixels`]' threads, each writing its own disjoint span.
#[derive(Clone, Copy)]
struct Dest(std::ptr::NonNull<u8>);

// SAFETY: `Dest` is only used by `pack_pixels` and `par_copy`, whose threads write disjoint byte ranges of one
// live allocation (the staging view, borrowed mutably for the whole call) and never read it.
unsafe impl Send for Dest {}
// SAFETY: as for `Send`: shared only to hand each thread its own disjoint range.
unsafe impl Sync for Dest {}

impl Dest {
    /// The start of the destination (a method, so closures capture the whole `Dest`).
    fn base(self) -> *mut u8 {
        self.0.as_ptr()
    }
}

/// Copy `src` into `dst` (equal lengths) with all rayon threads, in 1 MiB pieces.
pub(crate) fn par_copy(dst: &mut wgpu::WriteOnly<'_, [u8]>, src: &[u8]) {
    use rayon::prelude::*;
    assert_eq!(dst.len(), src.len(), "par_copy lengths");
    let dest = Dest(dst.as_raw_element_ptr());
    src.par_chunks(1 << 20).enumerate().for_each(|(i, piece)| {
        // SAFETY: piece i covers bytes [i << 20, (i << 20) + piece.len()) of `src`, and `dst`
        // has the same length, so the range is inside `dst`; pieces are disjoint, so no two
        // threads write the same byte; `src` is host memory distinct from the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(piece.as_ptr(), dest.base().add(i << 20), piece.len());
        }
    });
}

/// Copy each image's rows (3 bytes per RGB pixel, 1 per grey pixel, no row padding) into
/// `dst` at its span, images in parallel. Bytes between spans (word padding) are left as they
/// are; the kernels never read them.
fn pack_pixels(
    dst: &mut wgpu::WriteOnly<'_, [u8]>,
    images: &[ImageView<'_>],
    spans: &[(usize, usize)],
) {
    use rayon::prelude::*;
    let len = dst.len();
    assert!(spans.iter().all(|&(at, n)| at + n <= len), "spans fit");
    let dest = Dest(dst.as_raw_element_ptr());
    images.par_iter().zip(spans).for_each(|(v, &(at, _))| {
        let row_bytes = v.width() as usize * v.layout().bytes_per_pixel();
        for y in 0..v.height() {
            let row = v.row(y);
            // SAFETY: `at + y * row_bytes + row_bytes <= at + n <= len` (asserted above), so
            // the range lies inside `dst`; spans are disjoint, so no two threads write the
            // same byte; `row` is ordinary memory that cannot overlap the mapping.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    row.as_ptr(),
                    dest.base().add(at + y as usize * row_bytes),
                    row_bytes,
                );
            }
        }
    });
}
