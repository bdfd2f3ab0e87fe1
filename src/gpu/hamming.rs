//! Exact Hamming range search on the GPU (`shaders/hamming_scan.wgsl`): every code within a
//! radius of every query, for 256-bit (PDQ) and 64-bit (pHash) codes. The CPU twin and oracle
//! is the index's flat scan; the index applies ids, tombstones and labels to what this returns.
//!
//! The codes are uploaded once ([`GpuContext::upload_codes`]) in chunks that fit the adapter's
//! binding size; queries go in batches. Hits are appended through an atomic counter; when a
//! chunk's hits overflow the hit buffer the counter still counts them all, and the chunk is run
//! again with a buffer that holds them: nothing is lost.

use std::sync::OnceLock;

use super::{GpuContext, GpuError};

/// Query blocks per dispatch row (the shader's `QUERY_BLOCK`).
const QUERY_BLOCK: usize = 64;
/// Hit slots of a first attempt (grown to the exact count when a chunk overflows).
const FIRST_CAPACITY: u64 = 1 << 16;

/// A match: `query` and `entry` (indices into the query batch and the uploaded codes) at
/// `distance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GpuHit {
    /// Query index.
    pub query: u32,
    /// Code index.
    pub entry: u32,
    /// Hamming distance.
    pub distance: u32,
}

/// Codes on the GPU, in chunks within the adapter's binding size.
pub struct GpuCodes {
    words: usize,
    len: usize,
    chunks: Vec<(wgpu::Buffer, usize, usize)>,
}

impl std::fmt::Debug for GpuCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuCodes")
            .field("bits", &(self.words * 32))
            .field("len", &self.len)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl GpuCodes {
    /// Number of codes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no codes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ScanParams {
    codes: u32,
    queries: u32,
    radius: u32,
    capacity: u32,
}

/// The two pipelines (256- and 64-bit codes) and their layout, built on first use.
pub(crate) struct HammingState {
    kernels: OnceLock<Kernels>,
    /// Test seam: the first attempt's hit capacity.
    first_capacity: std::sync::atomic::AtomicU64,
}

impl Default for HammingState {
    fn default() -> Self {
        Self {
            kernels: OnceLock::new(),
            first_capacity: std::sync::atomic::AtomicU64::new(FIRST_CAPACITY),
        }
    }
}

struct Kernels {
    layout: wgpu::BindGroupLayout,
    scan256: wgpu::ComputePipeline,
    scan64: wgpu::ComputePipeline,
}

const SOURCE: &str = include_str!("../../shaders/hamming_scan.wgsl");

impl Kernels {
    fn new(device: &wgpu::Device) -> Self {
        let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let read = wgpu::BufferBindingType::Storage { read_only: true };
        let write = wgpu::BufferBindingType::Storage { read_only: false };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("vigil hamming layout"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Uniform),
                entry(1, read),
                entry(2, read),
                entry(3, write),
                entry(4, write),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("vigil hamming pipeline layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("hamming_scan"),
            source: wgpu::ShaderSource::Wgsl(SOURCE.into()),
        });
        let build = |entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        Self {
            scan256: build("hamming_scan_256"),
            scan64: build("hamming_scan_64"),
            layout,
        }
    }
}

fn words_of<const W: usize>(codes: &[[u64; W]]) -> Vec<u32> {
    codes
        .iter()
        .flatten()
        .flat_map(|&w| [w as u32, (w >> 32) as u32])
        .collect()
}

impl GpuContext {
    /// Upload `codes` (`W` = 4 for PDQ, 1 for pHash) for [`Self::hamming_range`].
    pub fn upload_codes<const W: usize>(&self, codes: &[[u64; W]]) -> Result<GpuCodes, GpuError> {
        assert!(W == 4 || W == 1, "256- or 64-bit codes");
        self.take_error()?;
        let l = &self.state.limits;
        let binding = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
        let per_chunk = ((binding / (8 * W as u64)) as usize)
            .min(u32::MAX as usize / (2 * W))
            .max(1);
        let mut chunks = Vec::new();
        for (k, part) in codes.chunks(per_chunk).enumerate() {
            let words = words_of(part);
            let buffer = self.state.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("vigil hamming codes"),
                size: (words.len() as u64 * 4).max(16),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.state
                .queue
                .write_buffer(&buffer, 0, bytemuck::cast_slice(&words));
            chunks.push((buffer, k * per_chunk, part.len()));
        }
        self.submit_and_wait(Vec::new())?;
        Ok(GpuCodes {
            words: 2 * W,
            len: codes.len(),
            chunks,
        })
    }

    /// Test seam: the hit capacity of each chunk's first attempt (at least 1).
    pub fn set_hit_capacity(&self, slots: u64) {
        self.hamming
            .first_capacity
            .store(slots.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// Every `(query, code)` pair of `queries` and `db` within `radius` (inclusive), sorted by
    /// query, then code. `W` must match the uploaded codes.
    pub fn hamming_range<const W: usize>(
        &self,
        db: &GpuCodes,
        queries: &[[u64; W]],
        radius: u32,
    ) -> Result<Vec<GpuHit>, GpuError> {
        assert_eq!(db.words, 2 * W, "query and code lengths differ");
        self.take_error()?;
        let mut out = Vec::new();
        if queries.is_empty() || db.is_empty() {
            return Ok(out);
        }
        let device = &self.state.device;
        let queue = &self.state.queue;
        let kernels = self.hamming.kernels.get_or_init(|| Kernels::new(device));
        let pipeline = if W == 4 {
            &kernels.scan256
        } else {
            &kernels.scan64
        };
        let max_groups = self.state.limits.max_compute_workgroups_per_dimension as usize;
        let binding = self
            .state
            .limits
            .max_storage_buffer_binding_size
            .min(self.state.limits.max_buffer_size);
        // Queries per dispatch: within the workgroup-y limit and one binding.
        let per_batch = (max_groups * QUERY_BLOCK).min((binding / (8 * W as u64)) as usize);
        let params_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil hamming params"),
            size: std::mem::size_of::<ScanParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let count_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil hamming count"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let max_hits = binding / 12;
        for (q_index, qs) in queries.chunks(per_batch).enumerate() {
            let q_base = q_index * per_batch;
            let words = words_of(qs);
            let q_buf = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("vigil hamming queries"),
                size: (words.len() as u64 * 4).max(16),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            queue.write_buffer(&q_buf, 0, bytemuck::cast_slice(&words));
            for (codes, first, len) in &db.chunks {
                let mut capacity = self
                    .hamming
                    .first_capacity
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .min(max_hits);
                loop {
                    let (count, hits) = self.scan_once(
                        kernels,
                        pipeline,
                        &params_buf,
                        &count_buf,
                        codes,
                        *len,
                        &q_buf,
                        qs.len(),
                        radius,
                        capacity,
                    )?;
                    if count <= capacity {
                        out.extend(hits.into_iter().map(|h| GpuHit {
                            query: h.query + q_base as u32,
                            entry: h.entry + *first as u32,
                            distance: h.distance,
                        }));
                        break;
                    }
                    if count > max_hits {
                        return Err(GpuError::Batch(format!(
                            "{count} hits in one chunk: more than one buffer holds ({max_hits})"
                        )));
                    }
                    capacity = count; // run the chunk again; the count is exact
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// One dispatch of `len` codes against the queries; returns the exact hit count and the
    /// hits that fitted (all of them when the count is at most `capacity`).
    #[expect(
        clippy::too_many_arguments,
        reason = "one dispatch's buffers and sizes"
    )]
    fn scan_once(
        &self,
        kernels: &Kernels,
        pipeline: &wgpu::ComputePipeline,
        params_buf: &wgpu::Buffer,
        count_buf: &wgpu::Buffer,
        codes: &wgpu::Buffer,
        len: usize,
        q_buf: &wgpu::Buffer,
        queries: usize,
        radius: u32,
        capacity: u64,
    ) -> Result<(u64, Vec<GpuHit>), GpuError> {
        let device = &self.state.device;
        let queue = &self.state.queue;
        let params = ScanParams {
            codes: len as u32,
            queries: queries as u32,
            radius,
            capacity: capacity as u32,
        };
        queue.write_buffer(params_buf, 0, bytemuck::bytes_of(&params));
        queue.write_buffer(count_buf, 0, &[0u8; 4]);
        let hit_bytes = (capacity * 12).max(16);
        let hits_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil hamming hits"),
            size: hit_bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil hamming readback"),
            size: 16 + hit_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        fn bind(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
            wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            }
        }
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("vigil hamming bind group"),
            layout: &kernels.layout,
            entries: &[
                bind(0, params_buf),
                bind(1, codes),
                bind(2, q_buf),
                bind(3, count_buf),
                bind(4, &hits_buf),
            ],
        });
        let max_groups = self.state.limits.max_compute_workgroups_per_dimension;
        let x = (len.div_ceil(256) as u32).clamp(1, max_groups);
        let y = queries.div_ceil(QUERY_BLOCK) as u32;
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("vigil hamming scan"),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("hamming_scan"),
                timestamp_writes: None,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
        encoder.copy_buffer_to_buffer(count_buf, 0, &readback, 0, 4);
        encoder.copy_buffer_to_buffer(&hits_buf, 0, &readback, 16, hit_bytes);
        self.submit_and_wait(vec![encoder.finish()])?;
        let result = super::timing::read_buffer(&self.state, &readback, |bytes| {
            let words: &[u32] = bytemuck::cast_slice(bytes);
            let count = u64::from(words[0]);
            let kept = count.min(capacity) as usize;
            let hits: Vec<GpuHit> = words[4..4 + 3 * kept]
                .chunks_exact(3)
                .map(|h| GpuHit {
                    query: h[0],
                    entry: h[1],
                    distance: h[2],
                })
                .collect();
            (count, hits)
        })?;
        self.take_error()?;
        Ok(result)
    }
}
