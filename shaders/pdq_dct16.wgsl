// CPU twin: oracle::dct16. Two entry points: `pdq_dct16_t` computes T = D·A (16×64, one
// thread per output), `pdq_dct16_b` computes B = T·Dᵀ (16×16, one thread per output). Each
// sum is one float32 accumulator from 0 adding k = 0..63 in order, every product and partial
// sum fenced with opq(). D comes from the CPU (oracle::dct_matrix()).

@compute @workgroup_size(64)
fn pdq_dct16_t(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x / 64u;
    let j = gid.x % 64u;
    let a = gid.y * 4096u;
    var s = 0.0;
    for (var k = 0u; k < 64u; k = k + 1u) {
        s = opq(s + opq(consts[DCT_TABLE + i * 64u + k] * work[a + k * 64u + j]));
    }
    work[globals.t_base + gid.y * 1024u + gid.x] = s;
}

@compute @workgroup_size(64)
fn pdq_dct16_b(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x / 16u;
    let j = gid.x % 16u;
    let t = globals.t_base + gid.y * 1024u;
    var s = 0.0;
    for (var k = 0u; k < 64u; k = k + 1u) {
        s = opq(s + opq(work[t + i * 64u + k] * consts[DCT_TABLE + j * 64u + k]));
    }
    work[globals.b_base + gid.y * 256u + gid.x] = s;
}
