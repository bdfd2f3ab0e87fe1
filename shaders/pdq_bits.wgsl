// CPU twin: oracle::dihedral_dcts then oracle::bits. Workgroup = one dihedral variant
// (workgroup x: 0 = orig … 7 = flipminus1) of one image (workgroup y); thread t = coefficient
// (i, j) = (t / 16, t % 16) of that variant, taken from the image's 16×16 DCT B with only a
// transposition and sign flips (nothing is rounded). The lower median is the element of rank
// 127 in f32::total_cmp order (ties broken by position, so exactly one thread holds it); bit t
// is set iff the coefficient is > the median, as the oracle compares. Output: 8 words per
// variant after the qualities in `quality_out`.

var<workgroup> keys: array<u32, 256>;
var<workgroup> median_value: f32;
var<workgroup> words: array<atomic<u32>, 8>;

// A u32 whose unsigned order is f32::total_cmp's order.
fn total_key(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    if ((b & 0x80000000u) != 0u) {
        return ~b;
    }
    return b | 0x80000000u;
}

// s(x) of oracle::dihedral_dcts: +1 at odd (0-based) indices, -1 at even ones.
fn flip_if_even(v: f32, x: u32) -> f32 {
    if ((x & 1u) == 0u) {
        return -v;
    }
    return v;
}

@compute @workgroup_size(256)
fn pdq_bits(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let variant = wid.x;
    let m = wid.y;
    let i = t / 16u;
    let j = t % 16u;
    let b = globals.b_base + m * 256u;
    let a_ij = work[b + i * 16u + j];
    let a_ji = work[b + j * 16u + i];
    var v: f32;
    switch variant {
        case 0u: { v = a_ij; }
        case 1u: { v = flip_if_even(a_ji, i); }
        case 2u: { v = select(-a_ij, a_ij, ((i + j) & 1u) == 0u); }
        case 3u: { v = flip_if_even(a_ji, j); }
        case 4u: { v = flip_if_even(a_ij, i); }
        case 5u: { v = flip_if_even(a_ij, j); }
        case 6u: { v = a_ji; }
        default: { v = select(-a_ji, a_ji, ((i + j) & 1u) == 0u); }
    }
    let key = total_key(v);
    keys[t] = key;
    if (t < 8u) {
        atomicStore(&words[t], 0u);
    }
    workgroupBarrier();
    var rank = 0u;
    for (var k = 0u; k < 256u; k = k + 1u) {
        let o = keys[k];
        if (o < key || (o == key && k < t)) {
            rank = rank + 1u;
        }
    }
    if (rank == 127u) {
        median_value = v;
    }
    workgroupBarrier();
    if (v > median_value) {
        atomicOr(&words[t / 32u], 1u << (t % 32u));
    }
    workgroupBarrier();
    if (t < 8u) {
        quality_out[globals.num_images + (m * 8u + variant) * 8u + t] = atomicLoad(&words[t]);
    }
}
