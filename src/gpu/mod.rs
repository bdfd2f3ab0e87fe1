//! PDQ on the GPU through wgpu/WGSL, bit-exact with [`crate::pdq::oracle`].
//!
//! Every wgpu call lives in this module: `context` opens the device, `pipelines`
//! compiles the kernels of `shaders/` once, `buffers` holds the reusable per-batch buffers,
//! `timing` the measurement hooks of `vigil gpu-bench` (phase times, copy rate).
//! The GPU runs luma → 2× (box rows, box columns) → decimation → quality → 64→16 DCT for a whole
//! batch of images of any sizes (packed into one buffer, workgroup `y` = image) in one command
//! encoder; the CPU uploads the constant tables and decimation indices, reads back 256 floats
//! and one quality per image, and takes the median and bits ([`crate::pdq::oracle::bits`]).
//!
//! Exactness is by construction (shared/docs/gpu-float.md): CPU-computed constants, `opq()` fences
//! on every product and running sum, integer-only `div_small()` for the box-filter and `/255`
//! divisions, the oracle's sequential summation order, integer quality. Callers go through
//! [`crate::engine::Engine`], which also handles images the GPU does not take.

mod buffers;
mod context;
mod phash;
mod pipelines;
mod timing;

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Instant;

use buffers::{BatchBuffers, DEC_PER_IMAGE, Globals, ImageParams, WORK_FLOATS_PER_IMAGE};
use context::DeviceState;
use pipelines::Pipelines;
pub use timing::{BatchTiming, KernelClock, UploadTiming};

use crate::pdq::Dct16;
use crate::pdq::oracle::{self, MIN_HASHABLE_DIM};
use crate::{ImageView, PixelLayout};

/// The largest side the GPU takes: box windows up to 256 keep `div_small` exact.
pub const MAX_SIDE: u32 = 32_767;
/// Upper bound on the pixels of one batch (each of three buffers holds 4 bytes per pixel).
const BATCH_PIXELS_CAP: u64 = 1 << 24;
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
    /// Timestamp queries for [`GpuContext::dct_batch_timed`]; only on contexts opened with
    /// [`GpuContext::with_timestamps`] on an adapter that has them.
    stamps: Option<timing::Stamps>,
    /// The pHash kernels and buffers (`phash.rs`), built on first use.
    phash: phash::PhashState,
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
        let batch_pixels = (binding / 4).min(BATCH_PIXELS_CAP);
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
            stamps,
            phash: phash::PhashState::default(),
        };
        ctx.take_error()?;
        Ok(ctx)
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterInfo {
        &self.state.info
    }

    /// Most pixels in one batch (derived from the adapter's buffer limits).
    pub fn batch_pixels(&self) -> u64 {
        self.batch_pixels
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
        self.dct_batch_inner(images, None)
    }

    /// [`Self::dct_batch`], with `timing` (when given) adding up each phase of each chunk. A
    /// timed chunk waits for the GPU between phases; an untimed one is one submission.
    fn dct_batch_inner(
        &self,
        images: &[ImageView<'_>],
        mut timing: Option<&mut BatchTiming>,
    ) -> Result<Vec<(Dct16, u8)>, GpuError> {
        if let Some(bad) = images.iter().find(|v| !self.fits(v.width(), v.height())) {
            return Err(GpuError::Batch(format!(
                "image {}×{} does not fit the GPU path",
                bad.width(),
                bad.height()
            )));
        }
        let mut out = Vec::with_capacity(images.len());
        let mut start = 0;
        while start < images.len() {
            let mut end = start;
            let mut pixels = 0u64;
            while end < images.len() && ((end - start) as u64) < self.batch_images {
                let p = u64::from(images[end].width()) * u64::from(images[end].height());
                if pixels + p > self.batch_pixels {
                    break;
                }
                pixels += p;
                end += 1;
            }
            out.extend(self.run_chunk(&images[start..end], pixels, timing.as_deref_mut())?);
            start = end;
        }
        Ok(out)
    }

    fn run_chunk(
        &self,
        images: &[ImageView<'_>],
        total: u64,
        mut timing: Option<&mut BatchTiming>,
    ) -> Result<Vec<(Dct16, u8)>, GpuError> {
        self.take_error()?;
        let started = Instant::now();
        let n = images.len() as u64;
        let device = &self.state.device;
        let queue = &self.state.queue;
        let mut guard = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        if !guard.as_ref().is_some_and(|b| b.holds(total, n)) {
            *guard = Some(BatchBuffers::new(
                device,
                &self.pipelines.layout,
                &self.consts,
                total,
                n,
                (self.batch_pixels, self.batch_images),
            ));
        }
        let bufs = guard.as_ref().expect("just made");

        // Pack pixels (one u32 per pixel), per-image parameters and decimation indices.
        let mut pixels: Vec<u32> = Vec::with_capacity(total as usize);
        let mut params = Vec::with_capacity(images.len());
        let mut dec: Vec<u32> = Vec::with_capacity(images.len() * DEC_PER_IMAGE as usize);
        let (mut max_w, mut max_h, mut max_px) = (0u32, 0u32, 0u64);
        for v in images {
            let (w, h) = (v.width(), v.height());
            params.push(ImageParams {
                offset: pixels.len() as u32,
                width: w,
                height: h,
                grey: u32::from(v.layout() == PixelLayout::Luma8),
                win_rows: oracle::jarosz_window(w as usize) as u32,
                win_cols: oracle::jarosz_window(h as usize) as u32,
                skip_blur: u32::from(w == 64 && h == 64),
                pad: 0,
            });
            for y in 0..h {
                let row = v.row(y);
                match v.layout() {
                    PixelLayout::Rgb8 => {
                        pixels.extend(row.chunks_exact(3).map(|p| {
                            u32::from(p[0]) | u32::from(p[1]) << 8 | u32::from(p[2]) << 16
                        }))
                    }
                    PixelLayout::Luma8 => pixels.extend(row.iter().map(|&g| u32::from(g))),
                }
            }
            dec.extend((0..64).map(|i| oracle::decimation_index(i, h as usize) as u32));
            dec.extend((0..64).map(|j| oracle::decimation_index(j, w as usize) as u32));
            max_w = max_w.max(w);
            max_h = max_h.max(h);
            max_px = max_px.max(u64::from(w) * u64::from(h));
        }
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
        if let Some(t) = timing.as_deref_mut() {
            t.pack += started.elapsed();
        }
        let upload_started = Instant::now();
        queue.write_buffer(&bufs.pixels, 0, bytemuck::cast_slice(&pixels));
        if let Some(t) = timing.as_deref_mut() {
            // The writes alone: wgpu copies them to the GPU at the next submission.
            self.submit_and_wait(Vec::new())?;
            t.upload += upload_started.elapsed();
        }

        let max_groups = self.state.limits.max_compute_workgroups_per_dimension;
        let groups = |threads: u64, size: u64| -> u32 {
            (threads.div_ceil(size).max(1)).min(u64::from(max_groups)) as u32
        };
        let ny = n as u32;
        let p = &self.pipelines;
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("vigil pdq batch"),
        });
        {
            let stamps = timing.is_some().then_some(self.stamps.as_ref()).flatten();
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("vigil pdq"),
                timestamp_writes: stamps.map(timing::Stamps::pass_writes),
            });
            pass.set_bind_group(0, &bufs.bind_group, &[]);
            pass.set_pipeline(&p.luma);
            pass.dispatch_workgroups(groups(max_px, 256), ny, 1);
            for _ in 0..2 {
                pass.set_pipeline(&p.box_rows);
                pass.dispatch_workgroups(groups(u64::from(max_h), 64), ny, 1);
                pass.set_pipeline(&p.box_cols);
                pass.dispatch_workgroups(groups(u64::from(max_w), 64), ny, 1);
            }
            pass.set_pipeline(&p.decimate);
            pass.dispatch_workgroups(4096 / 64, ny, 1);
            pass.set_pipeline(&p.quality);
            pass.dispatch_workgroups(groups(n, 64), 1, 1);
            pass.set_pipeline(&p.dct_t);
            pass.dispatch_workgroups(1024 / 64, ny, 1);
            pass.set_pipeline(&p.dct_b);
            pass.dispatch_workgroups(256 / 64, ny, 1);
        }
        if let Some(t) = timing.as_deref_mut() {
            // The kernels alone, then the readback in an encoder of its own.
            let kernels_started = Instant::now();
            if let Some(s) = &self.stamps {
                s.resolve(&mut encoder);
            }
            self.submit_and_wait(vec![encoder.finish()])?;
            t.kernels_wall += kernels_started.elapsed();
            if let Some(s) = &self.stamps {
                t.kernels_gpu += s.read(&self.state)?;
            }
            encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("vigil pdq readback"),
            });
        }
        let readback_started = Instant::now();
        let b_bytes = n * 256 * 4;
        encoder.copy_buffer_to_buffer(
            &bufs.work,
            u64::from(globals.b_base) * 4,
            &bufs.staging,
            0,
            b_bytes,
        );
        encoder.copy_buffer_to_buffer(&bufs.quality, 0, &bufs.staging, b_bytes, n * 4);
        let index = queue.submit([encoder.finish()]);

        let slice = bufs.staging.slice(..b_bytes + n * 4);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| GpuError::Batch(e.to_string()))?;
        let mapped = rx
            .recv()
            .map_err(|_| GpuError::Batch("map callback dropped".into()))?;
        self.take_error()?;
        mapped.map_err(|e| GpuError::Batch(e.to_string()))?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Batch(e.to_string()))?;
            let floats: &[f32] = bytemuck::cast_slice(&view[..b_bytes as usize]);
            let quals: &[u32] = bytemuck::cast_slice(&view[b_bytes as usize..]);
            floats
                .chunks_exact(256)
                .zip(quals)
                .map(|(b, &q)| {
                    let mut d = [[0.0f32; 16]; 16];
                    for (i, row) in d.iter_mut().enumerate() {
                        row.copy_from_slice(&b[i * 16..i * 16 + 16]);
                    }
                    (d, q.min(100) as u8)
                })
                .collect()
        };
        bufs.staging.unmap();
        self.take_error()?;
        if let Some(t) = timing {
            t.readback += readback_started.elapsed();
            t.chunks += 1;
            t.images += images.len() as u64;
        }
        Ok(out)
    }
}
