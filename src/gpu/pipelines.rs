//! The PDQ compute pipelines: one shader module per kernel (the shared prelude prepended), one
//! explicit bind-group layout shared by all of them, built once per [`super::GpuContext`].

/// The prelude every kernel starts with: bindings, parameter structs, `opq`, `div_small`.
pub(crate) const COMMON_WGSL: &str = include_str!("../../shaders/pdq_common.wgsl");

/// The kernel modules: (label, source without prelude, entry points).
const KERNELS: [(&str, &str, &[&str]); 6] = [
    (
        "pdq_luma",
        include_str!("../../shaders/pdq_luma.wgsl"),
        &["pdq_luma"],
    ),
    (
        "pdq_box",
        include_str!("../../shaders/pdq_box.wgsl"),
        &[
            "pdq_box_rows",
            "pdq_box_rows_decimate",
            "pdq_box_cols",
            "pdq_transpose_to_rows",
            "pdq_transpose_to_cols",
        ],
    ),
    (
        "pdq_box_cols_decimate",
        include_str!("../../shaders/pdq_box_cols_decimate.wgsl"),
        &["pdq_box_cols_decimate"],
    ),
    (
        "pdq_quality",
        include_str!("../../shaders/pdq_quality.wgsl"),
        &["pdq_quality"],
    ),
    (
        "pdq_dct16",
        include_str!("../../shaders/pdq_dct16.wgsl"),
        &["pdq_dct16_t", "pdq_dct16_b"],
    ),
    (
        "pdq_bits",
        include_str!("../../shaders/pdq_bits.wgsl"),
        &["pdq_bits"],
    ),
];

/// Number of bindings in the shared layout (see `pdq_common.wgsl`).
const BINDINGS: u32 = 9;

/// The shared layout and one pipeline per entry point.
pub(crate) struct Pipelines {
    pub layout: wgpu::BindGroupLayout,
    pub luma: wgpu::ComputePipeline,
    pub box_rows: wgpu::ComputePipeline,
    pub box_rows_decimate: wgpu::ComputePipeline,
    pub box_cols: wgpu::ComputePipeline,
    pub transpose_to_rows: wgpu::ComputePipeline,
    pub transpose_to_cols: wgpu::ComputePipeline,
    pub box_cols_decimate: wgpu::ComputePipeline,
    pub quality: wgpu::ComputePipeline,
    pub dct_t: wgpu::ComputePipeline,
    pub dct_b: wgpu::ComputePipeline,
    pub bits: wgpu::ComputePipeline,
}

impl Pipelines {
    /// Compile every kernel for `device`.
    pub fn new(device: &wgpu::Device) -> Self {
        let entries: Vec<wgpu::BindGroupLayoutEntry> = (0..BINDINGS)
            .map(|binding| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match binding {
                        0 => wgpu::BufferBindingType::Uniform,
                        1..=4 => wgpu::BufferBindingType::Storage { read_only: true },
                        _ => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("vigil pdq layout"),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("vigil pdq pipeline layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let mut built = Vec::new();
        for (label, body, entry_points) in KERNELS {
            let source = format!("{COMMON_WGSL}\n{body}");
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            for entry in entry_points {
                built.push(
                    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(entry),
                        layout: Some(&pipeline_layout),
                        module: &module,
                        entry_point: Some(entry),
                        compilation_options: Default::default(),
                        cache: None,
                    }),
                );
            }
        }
        let mut it = built.into_iter();
        let mut next = || it.next().expect("one pipeline per entry point");
        Self {
            luma: next(),
            box_rows: next(),
            box_rows_decimate: next(),
            box_cols: next(),
            transpose_to_rows: next(),
            transpose_to_cols: next(),
            box_cols_decimate: next(),
            quality: next(),
            dct_t: next(),
            dct_b: next(),
            bits: next(),
            layout,
        }
    }
}
