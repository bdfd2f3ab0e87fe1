// CPU twin: oracle::quality. Workgroup = image (workgroup y). Each gradient term is the
// oracle's d = (int)(((a - b) * 100f) / 255f), the division by 255 done by div_small and the
// truncation in i32; the terms are integers, so their sum is exact in any order: each thread
// adds a strided share of the oracle's two loops, then one atomic add per thread.

fn grad(a: f32, b: f32) -> i32 {
    return abs(i32(div_small(opq(opq(a - b) * 100.0), 255u)));
}

var<workgroup> quality_sum: atomic<i32>;

@compute @workgroup_size(256)
fn pdq_quality(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let m = wid.y;
    if (t == 0u) {
        atomicStore(&quality_sum, 0);
    }
    workgroupBarrier();
    let base = m * 4096u;
    var sum = 0;
    // Vertical neighbours: 63 × 64 terms.
    for (var k = t; k < 4032u; k = k + 256u) {
        sum = sum + grad(work[base + k], work[base + k + 64u]);
    }
    // Horizontal neighbours: 64 × 63 terms.
    for (var k = t; k < 4032u; k = k + 256u) {
        let i = k / 63u;
        let j = k % 63u;
        sum = sum + grad(work[base + i * 64u + j], work[base + i * 64u + j + 1u]);
    }
    atomicAdd(&quality_sum, sum);
    workgroupBarrier();
    if (t == 0u) {
        quality_out[m] = u32(min(atomicLoad(&quality_sum) / 90, 100));
    }
}
