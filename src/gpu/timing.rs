//! Measurement hooks for `vigil gpu-bench`: per-phase times of a batch (GPU timestamp queries
//! where the adapter has them) and the host-to-device copy rate. Hashing never goes through
//! here: a timed batch waits for the GPU between its phases, so it is slower than
//! [`GpuContext::dct_batch`], whose results it shares bit for bit.

use std::time::{Duration, Instant};

use super::context::DeviceState;
use super::{GpuContext, GpuError, GpuOutput};
use crate::ImageView;

/// Where [`BatchTiming::kernels`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelClock {
    /// GPU timestamps written at the start and end of the compute pass.
    Timestamps,
    /// Wall time from submitting the compute pass to the GPU being done with it (no transfers).
    Wall,
}

impl KernelClock {
    /// `timestamps` or `wall`.
    pub fn name(self) -> &'static str {
        match self {
            KernelClock::Timestamps => "timestamps",
            KernelClock::Wall => "wall",
        }
    }
}

/// Phase times of batches run by [`GpuContext::dct_batch_timed`], summed over their chunks
/// (one chunk = one group of images that fits the GPU buffers).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BatchTiming {
    /// Chunks run.
    pub chunks: u64,
    /// Images hashed.
    pub images: u64,
    /// CPU: per-image parameters, decimation indices, waiting for the upload buffer to be
    /// mapped and copying the image bytes into it with all threads.
    pub pack: Duration,
    /// The copy from the upload buffer to the pixel buffer, submitted and waited for.
    pub upload: Duration,
    /// GPU time of the compute pass from timestamp queries; zero without them.
    pub kernels_gpu: Duration,
    /// Wall time from submitting the compute pass to its completion.
    pub kernels_wall: Duration,
    /// Copy of the DCTs and qualities to a mappable buffer, mapping and reading them.
    pub readback: Duration,
    /// GPU time of each kernel ([`KERNELS`] order) from timestamp queries around each one's
    /// own compute pass; zero without them.
    pub kernel_split: [Duration; KERNELS.len()],
}

/// The PDQ dispatches of a chunk, in order (names for [`BatchTiming::kernel_split`]).
pub const KERNELS: [&str; 11] = [
    "pdq_luma (to layout T)",
    "pdq_box_rows (pass 1)",
    "pdq_transpose_to_rows",
    "pdq_box_cols (pass 1)",
    "pdq_transpose_to_cols",
    "pdq_box_rows_decimate (pass 2)",
    "pdq_box_cols_decimate (pass 2 + decimation)",
    "pdq_quality",
    "pdq_dct16_t",
    "pdq_dct16_b",
    "pdq_bits (median + bits)",
];

impl BatchTiming {
    /// The kernel time to report: GPU timestamps when there were any, else wall time.
    pub fn kernels(&self) -> (Duration, KernelClock) {
        if self.kernels_gpu > Duration::ZERO {
            (self.kernels_gpu, KernelClock::Timestamps)
        } else {
            (self.kernels_wall, KernelClock::Wall)
        }
    }

    /// Add another timing to this one.
    pub fn add(&mut self, o: &BatchTiming) {
        self.chunks += o.chunks;
        self.images += o.images;
        self.pack += o.pack;
        self.upload += o.upload;
        self.kernels_gpu += o.kernels_gpu;
        self.kernels_wall += o.kernels_wall;
        self.readback += o.readback;
        for (a, b) in self.kernel_split.iter_mut().zip(&o.kernel_split) {
            *a += *b;
        }
    }
}

/// Host-to-device copy times from [`GpuContext::measure_upload`], one per repetition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UploadTiming {
    /// Bytes per copy.
    pub bytes: u64,
    /// `queue.write_buffer` from a host slice, submitted and waited for: what a batch's upload
    /// does (wgpu copies into its own staging memory, then the GPU copies from there).
    pub write_buffer: Vec<Duration>,
    /// `queue.write_buffer_with`, its staging view filled by all rayon threads, submitted and
    /// waited for: what a batch's pixel upload does.
    pub write_buffer_with: Vec<Duration>,
    /// A `MAP_WRITE` buffer mapped, filled by all rayon threads, unmapped and copied to a device
    /// buffer, waited for: the other whole host-to-device path wgpu offers.
    pub mapped_write: Vec<Duration>,
    /// Buffer-to-buffer copy from a filled, host-visible staging buffer (`MAP_WRITE`) to a
    /// device buffer, wall time from submit to completion. Not a host-to-device figure where
    /// the driver places `MAP_WRITE` memory in device memory (resizable BAR): then it is a
    /// copy inside the GPU, and the host's writes crossed the bus when the buffer was filled.
    pub staging_copy: Vec<Duration>,
    /// The same copies timed by GPU timestamps around them; empty when the adapter cannot
    /// write timestamps outside passes.
    pub staging_copy_gpu: Vec<Duration>,
}

/// Timestamp queries: a pair per PDQ kernel (pair 0 also serves the copy timings).
pub(crate) struct Stamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Nanoseconds per tick.
    period: f64,
    /// Whether timestamps may also be written between commands of an encoder.
    in_encoders: bool,
}

/// Timestamp queries in the set: a begin/end pair per kernel.
const STAMPS: u32 = 2 * KERNELS.len() as u32;

impl Stamps {
    /// Query buffers when the device was opened with `TIMESTAMP_QUERY`, else `None`.
    pub(crate) fn new(state: &DeviceState) -> Option<Self> {
        let features = state.device.features();
        if !features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let device = &state.device;
        let set = device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("vigil timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: STAMPS,
        });
        let bytes = u64::from(STAMPS) * u64::from(wgpu::QUERY_SIZE);
        let resolve = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil timestamps resolve"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil timestamps readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Some(Self {
            set,
            resolve,
            readback,
            period: f64::from(state.queue.get_timestamp_period()),
            in_encoders: features.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS),
        })
    }

    /// Timestamps at the start (index 2i) and end (2i + 1) of compute pass `i`.
    pub(crate) fn pass_writes(&self, i: u32) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        }
    }

    /// Record the resolve of the first `pairs` pairs into the readback buffer.
    pub(crate) fn resolve(&self, encoder: &mut wgpu::CommandEncoder, pairs: u32) {
        encoder.resolve_query_set(&self.set, 0..2 * pairs, &self.resolve, 0);
        let bytes = u64::from(2 * pairs) * u64::from(wgpu::QUERY_SIZE);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, bytes);
    }

    /// The time between the two timestamps of pair 0, once its resolve is done.
    pub(crate) fn read(&self, state: &DeviceState) -> Result<Duration, GpuError> {
        Ok(self.read_pairs(state, 1)?[0])
    }

    /// The time of each of the first `pairs` pairs, once their resolve is done.
    pub(crate) fn read_pairs(
        &self,
        state: &DeviceState,
        pairs: u32,
    ) -> Result<Vec<Duration>, GpuError> {
        let ticks: Vec<u64> = read_buffer(state, &self.readback, |b| {
            bytemuck::cast_slice::<u8, u64>(b).to_vec()
        })?;
        Ok(ticks
            .chunks_exact(2)
            .take(pairs as usize)
            .map(|p| {
                let ns = p[1].saturating_sub(p[0]) as f64 * self.period;
                Duration::from_nanos(ns.round() as u64)
            })
            .collect())
    }
}

/// Map `buffer` (a `MAP_READ` buffer whose last write was submitted), give its bytes to `f`,
/// unmap.
pub(crate) fn read_buffer<T>(
    state: &DeviceState,
    buffer: &wgpu::Buffer,
    f: impl FnOnce(&[u8]) -> T,
) -> Result<T, GpuError> {
    let slice = buffer.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    state
        .device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Batch(e.to_string()))?;
    rx.recv()
        .map_err(|_| GpuError::Batch("map callback dropped".into()))?
        .map_err(|e| GpuError::Batch(e.to_string()))?;
    let out = {
        let view = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Batch(e.to_string()))?;
        f(&view)
    };
    buffer.unmap();
    Ok(out)
}

impl GpuContext {
    /// Like [`GpuContext::new`], and also asks for timestamp queries where the adapter has them
    /// (`Features::TIMESTAMP_QUERY`, and `TIMESTAMP_QUERY_INSIDE_ENCODERS` for timing copies),
    /// for [`Self::dct_batch_timed`] and [`Self::measure_upload`]. Hashing is the same.
    pub fn with_timestamps(hardware_only: bool) -> Result<Self, GpuError> {
        Self::open_with(
            hardware_only,
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
        )
    }

    /// Whether this context measures kernels with GPU timestamps (else with wall time).
    pub fn has_timestamps(&self) -> bool {
        self.stamps.is_some()
    }

    /// [`Self::dct_batch`] with the time of each phase. The results are the same bit for bit;
    /// the phases are submitted and waited for one after the other, so the total is a little
    /// over an untimed batch's.
    pub fn dct_batch_timed(
        &self,
        images: &[ImageView<'_>],
    ) -> Result<(Vec<GpuOutput>, BatchTiming), GpuError> {
        let mut timing = BatchTiming::default();
        let out = self.dct_batch_inner(images, Some(&mut timing), 1)?;
        Ok((out, timing))
    }

    /// Submit command buffers (none: only pending `write_buffer`s) and wait for them.
    pub(crate) fn submit_and_wait(
        &self,
        commands: Vec<wgpu::CommandBuffer>,
    ) -> Result<(), GpuError> {
        let index = self.state.queue.submit(commands);
        self.state
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| GpuError::Batch(e.to_string()))?;
        self.take_error()
    }

    /// Time `reps` host-to-device copies of `bytes` (capped at the adapter's largest buffer),
    /// both ways a batch could upload (see [`UploadTiming`]). Holds about three times `bytes`
    /// of memory while it runs (host data, staging buffer, device buffer).
    pub fn measure_upload(&self, bytes: u64, reps: u32) -> Result<UploadTiming, GpuError> {
        self.take_error()?;
        let device = &self.state.device;
        let bytes = bytes
            .min(self.state.limits.max_buffer_size)
            .max(wgpu::COPY_BUFFER_ALIGNMENT)
            / wgpu::COPY_BUFFER_ALIGNMENT
            * wgpu::COPY_BUFFER_ALIGNMENT;
        let host: Vec<u8> = (0..bytes)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let target = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil bench upload target"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut out = UploadTiming {
            bytes,
            ..UploadTiming::default()
        };
        // One untimed round first: the driver allocates and maps on first use.
        for rep in 0..=reps {
            let t = Instant::now();
            self.state.queue.write_buffer(&target, 0, &host);
            self.submit_and_wait(Vec::new())?;
            if rep > 0 {
                out.write_buffer.push(t.elapsed());
            }
        }
        let size = wgpu::BufferSize::new(bytes).expect("bytes >= 4");
        for rep in 0..=reps {
            let t = Instant::now();
            let mut view = self
                .state
                .queue
                .write_buffer_with(&target, 0, size)
                .ok_or_else(|| GpuError::Batch("no staging memory".into()))?;
            super::par_copy(&mut view.slice(..), &host);
            drop(view);
            self.submit_and_wait(Vec::new())?;
            if rep > 0 {
                out.write_buffer_with.push(t.elapsed());
            }
        }
        let upload = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil bench mapped upload"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        for rep in 0..=reps {
            let t = Instant::now();
            let (tx, rx) = std::sync::mpsc::channel();
            upload.slice(..).map_async(wgpu::MapMode::Write, move |r| {
                let _ = tx.send(r);
            });
            device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| GpuError::Batch(e.to_string()))?;
            rx.recv()
                .map_err(|_| GpuError::Batch("map callback dropped".into()))?
                .map_err(|e| GpuError::Batch(e.to_string()))?;
            {
                let mut view = upload
                    .slice(..)
                    .get_mapped_range_mut()
                    .map_err(|e| GpuError::Batch(e.to_string()))?;
                super::par_copy(&mut view.slice(..), &host);
            }
            upload.unmap();
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("vigil bench mapped upload"),
            });
            encoder.copy_buffer_to_buffer(&upload, 0, &target, 0, bytes);
            self.submit_and_wait(vec![encoder.finish()])?;
            if rep > 0 {
                out.mapped_write.push(t.elapsed());
            }
        }
        drop(upload);
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil bench upload staging"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        staging
            .slice(..)
            .get_mapped_range_mut()
            .map_err(|e| GpuError::Batch(e.to_string()))?
            .copy_from_slice(&host);
        staging.unmap();
        drop(host);
        let encoder_stamps = self.stamps.as_ref().filter(|s| s.in_encoders);
        for rep in 0..=reps {
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("vigil bench upload"),
            });
            if let Some(s) = encoder_stamps {
                encoder.write_timestamp(&s.set, 0);
            }
            encoder.copy_buffer_to_buffer(&staging, 0, &target, 0, bytes);
            if let Some(s) = encoder_stamps {
                encoder.write_timestamp(&s.set, 1);
                s.resolve(&mut encoder, 1);
            }
            let t = Instant::now();
            self.submit_and_wait(vec![encoder.finish()])?;
            let wall = t.elapsed();
            let gpu = match encoder_stamps {
                Some(s) => Some(s.read(&self.state)?),
                None => None,
            };
            if rep > 0 {
                out.staging_copy.push(wall);
                out.staging_copy_gpu.extend(gpu);
            }
        }
        self.take_error()?;
        Ok(out)
    }
}
