// CPU twin: index::scan::oracle_range (every code within `radius` of every query). Integer
// only, so exact on any adapter. Two entry points: `hamming_scan_256` (PDQ: a code is two
// vec4<u32>) and `hamming_scan_64` (pHash: one vec2<u32>); codes and queries are u32 words,
// little-endian halves of the u64 limbs.
//
// Thread = one code of the chunk (workgroup x × 256 + thread, then + nwg.x × 256 …), held in
// registers as vectors; workgroup y = a block of 64 queries, staged in workgroup memory and
// read by every thread at once (a broadcast). A hit
// takes a slot with an atomic counter; past the hit buffer's capacity it is only counted, and
// the host runs that chunk again with a buffer large enough, so no hit is ever lost.

const QUERY_BLOCK: u32 = 64u;

struct ScanParams {
    // Codes in this chunk.
    codes: u32,
    queries: u32,
    radius: u32,
    // Hit slots in `hits`.
    capacity: u32,
}

struct Hit {
    query: u32,
    entry: u32,
    distance: u32,
}

@group(0) @binding(0) var<uniform> params: ScanParams;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> queries: array<u32>;
@group(0) @binding(3) var<storage, read_write> hit_count: array<atomic<u32>, 1>;
@group(0) @binding(4) var<storage, read_write> hits: array<Hit>;

var<workgroup> block256: array<vec4<u32>, 128>; // QUERY_BLOCK × 2
var<workgroup> block64: array<vec2<u32>, 64>; // QUERY_BLOCK

fn hit(q: u32, e: u32, d: u32) {
    if (d <= params.radius) {
        let slot = atomicAdd(&hit_count[0], 1u);
        if (slot < params.capacity) {
            hits[slot] = Hit(q, e, d);
        }
    }
}

@compute @workgroup_size(256)
fn hamming_scan_256(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let q0 = wid.y * QUERY_BLOCK;
    let nq = min(QUERY_BLOCK, params.queries - q0);
    if (t < 2u * nq) {
        let w = (q0 * 2u + t) * 4u;
        block256[t] = vec4<u32>(queries[w], queries[w + 1u], queries[w + 2u], queries[w + 3u]);
    }
    workgroupBarrier();
    let stride = nwg.x * 256u;
    for (var e = wid.x * 256u + t; e < params.codes; e = e + stride) {
        let w = e * 8u;
        let c0 = vec4<u32>(codes[w], codes[w + 1u], codes[w + 2u], codes[w + 3u]);
        let c1 = vec4<u32>(codes[w + 4u], codes[w + 5u], codes[w + 6u], codes[w + 7u]);
        for (var j = 0u; j < nq; j = j + 1u) {
            let v = countOneBits(c0 ^ block256[2u * j]) + countOneBits(c1 ^ block256[2u * j + 1u]);
            hit(q0 + j, e, v.x + v.y + v.z + v.w);
        }
    }
}

@compute @workgroup_size(256)
fn hamming_scan_64(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let q0 = wid.y * QUERY_BLOCK;
    let nq = min(QUERY_BLOCK, params.queries - q0);
    if (t < nq) {
        let w = (q0 + t) * 2u;
        block64[t] = vec2<u32>(queries[w], queries[w + 1u]);
    }
    workgroupBarrier();
    let stride = nwg.x * 256u;
    for (var e = wid.x * 256u + t; e < params.codes; e = e + stride) {
        let c = vec2<u32>(codes[e * 2u], codes[e * 2u + 1u]);
        for (var j = 0u; j < nq; j = j + 1u) {
            let v = countOneBits(c ^ block64[j]);
            hit(q0 + j, e, v.x + v.y);
        }
    }
}
