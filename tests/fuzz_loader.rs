//! A seeded, bounded fuzz test of the loader on stable Rust (issue 16): the tiny checkpoint,
//! mutated a few thousand times (bit flips and byte edits in the safetensors header and data,
//! truncations, header-length edits, structured edits of tensor shapes/offsets/dtypes, and
//! config.json / scheduler_config.json fields set to 0, huge, negative, wrong types, emptied or
//! lengthened, or swapped). Every outcome must be a clean `Err` or a model whose batch-1 graph
//! builds; a panic (debug builds check overflow) is reported with the iteration that caused it.
//! Allocation stays bounded: an accepted model's parameters are checked against the file's
//! length, and its graph's tensors against the per-tensor limit; and every iteration's peak of
//! live heap bytes (a counting `#[global_allocator]` in this test binary) must stay within
//! [`PEAK_PER_FILE_BYTE`] times the files' size plus [`PEAK_SLACK`]. No iteration may hang:
//! each runs on its own thread and fails, naming seed and iteration, after
//! [`ITERATION_LIMIT`]; the whole run has [`TOTAL_LIMIT`].
//!
//! `DP_FUZZ_ITERATIONS` and `DP_FUZZ_SEED` run more, or another, sequence.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Heap bytes live now and the most live since [`Counting::reset_peak`], over all threads (this
/// binary runs one test, so they are the loader's, give or take the harness's few bytes).
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The largest single request since [`Counting::reset_peak`].
static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// A single request above this is refused (null, which Rust turns into an abort or a
/// `try_reserve` error) rather than handed to the OS: a loader that asks for it is broken, and
/// the abort's message says how much was asked for.
const REFUSED_REQUEST: usize = 1 << 32;

impl Counting {
    fn grew(by: usize) {
        let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
        LARGEST.fetch_max(by, Ordering::Relaxed);
    }

    /// Starts a measurement; returns the live bytes it starts from.
    fn reset_peak() -> usize {
        let now = CURRENT.load(Ordering::Relaxed);
        PEAK.store(now, Ordering::Relaxed);
        LARGEST.store(0, Ordering::Relaxed);
        now
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > REFUSED_REQUEST {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > REFUSED_REQUEST {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > REFUSED_REQUEST {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Both blocks may be live during the copy: count the new one before the old goes.
            Counting::grew(new_size);
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An iteration's peak of live heap bytes may reach this many times the mutated files' total
/// size: the safetensors bytes are decoded to f32 (at most 2x for F16/BF16 data) and the fused
/// copies (qkv, time projections) are made one tensor at a time; the header's JSON tree and the
/// graph's descriptions are small. Measured: the valid tiny model peaks at 1.30x, the worst of
/// the 3,000 default mutations at 1.30x too (the test prints both).
const PEAK_PER_FILE_BYTE: usize = 3;
/// Plus this much for what does not scale with the file (the graph, error strings, the thread).
const PEAK_SLACK: usize = 1 << 20;
/// One load (and graph build) of a mutated tiny checkpoint, in a debug build: most take a few
/// milliseconds; the slowest of the default run took 0.83 s on 2 cores busy with a build. The
/// limit is 12x that, so a slow or busy CI machine does not fail it, while a hang still does.
const ITERATION_LIMIT: Duration = Duration::from_secs(10);
/// The whole default run (3,000 iterations took 25 s in a debug build on 2 busy cores).
const TOTAL_LIMIT: Duration = Duration::from_secs(240);

use diffusion_playground::model::limits::MAX_TENSOR_ELEMENTS;
use diffusion_playground::model::{Checkpoint, CheckpointFiles};
use serde_json::{json, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};

const ITERATIONS: u64 = 3000;

/// xorshift64*: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Hostile JSON values for a config field.
fn hostile_value(rng: &mut Rng, current: &Value) -> Value {
    let pool = [
        json!(0),
        json!(1),
        json!(-1),
        json!(2),
        json!(3),
        json!(7),
        json!(46340),
        json!(1u64 << 31),
        json!(1u64 << 62),
        json!(u64::MAX),
        json!(-9.5e18),
        json!(1e-12),
        json!(0.999),
        json!(1.5),
        json!(1e300),
        json!("DownBlock2D"),
        json!("text"),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!([0, 0]),
        json!([16, 1u64 << 40]),
    ];
    match current {
        // Arrays: emptied, lengthened, an element replaced, or any hostile value.
        Value::Array(items) if !items.is_empty() => match rng.below(4) {
            0 => json!([]),
            1 => {
                let mut longer = items.clone();
                for _ in 0..1 + rng.below(70) {
                    longer.push(items[rng.below(items.len())].clone());
                }
                Value::Array(longer)
            }
            2 => {
                let mut edited = items.clone();
                let at = rng.below(edited.len());
                edited[at] = rng.pick(&pool).clone();
                Value::Array(edited)
            }
            _ => rng.pick(&pool).clone(),
        },
        _ => rng.pick(&pool).clone(),
    }
}

/// Sets a random field of a JSON object to a hostile value, or swaps two fields' values.
fn edit_json(rng: &mut Rng, text: &str) -> String {
    let mut v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return text.to_string(),
    };
    let Some(map) = v.as_object_mut() else {
        return text.to_string();
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    for _ in 0..1 + rng.below(3) {
        let a = rng.pick(&keys).clone();
        if rng.below(5) == 0 {
            let b = rng.pick(&keys).clone();
            let get = |k: &String| map.get(k).cloned().unwrap_or(Value::Null);
            let (va, vb) = (get(&a), get(&b));
            map.insert(a, vb);
            map.insert(b, va);
        } else if rng.below(10) == 0 {
            map.remove(&a);
        } else {
            let value = hostile_value(rng, map.get(&a).unwrap_or(&Value::Null));
            map.insert(a, value);
        }
    }
    v.to_string()
}

/// The safetensors header length and JSON.
fn header_of(bytes: &[u8]) -> (usize, Value) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (n, serde_json::from_slice(&bytes[8..8 + n]).unwrap())
}

/// Whether a header entry has the fields [`edit_tensor_entry`] edits (earlier byte edits may
/// have broken them while keeping the JSON valid).
fn is_entry(v: &Value) -> bool {
    v["shape"].is_array() && v["data_offsets"].as_array().is_some_and(|o| o.len() == 2)
}

/// Rewrites one tensor's shape, offsets or dtype in the header (the data stays as it is).
fn edit_tensor_entry(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let (n, mut header) = header_of(bytes);
    let names: Vec<String> = match header.as_object() {
        Some(map) => map
            .iter()
            .filter(|(k, v)| k.as_str() != "__metadata__" && is_entry(v))
            .map(|(k, _)| k.clone())
            .collect(),
        None => Vec::new(),
    };
    if names.is_empty() {
        return bytes.to_vec();
    }
    let entry = &mut header[rng.pick(&names).as_str()];
    match rng.below(6) {
        0 => {
            let shape = entry["shape"].as_array_mut().unwrap();
            if !shape.is_empty() {
                let at = rng.below(shape.len());
                shape[at] = rng
                    .pick(&[
                        json!(0),
                        json!(1),
                        json!(2),
                        json!(1u64 << 32),
                        json!(1u64 << 62),
                        json!(u64::MAX),
                    ])
                    .clone();
            }
        }
        1 => {
            let shape = entry["shape"].as_array_mut().unwrap();
            if rng.below(2) == 0 {
                shape.clear();
            } else {
                shape.push(json!(1 + rng.below(3)));
            }
        }
        2 | 3 => {
            let offsets = entry["data_offsets"].as_array_mut().unwrap();
            let at = rng.below(2);
            let old = offsets[at].as_u64().unwrap_or(0);
            offsets[at] = match rng.below(4) {
                0 => json!(old.saturating_add(4)),
                1 => json!(old.saturating_sub(4)),
                2 => json!(u64::MAX - rng.below(8) as u64),
                _ => json!(rng.below(bytes.len() * 2)),
            };
        }
        4 => {
            entry["dtype"] =
                json!(rng.pick(&["F16", "BF16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "Q"]));
        }
        _ => {
            entry["data_offsets"] = json!([0, 0]);
        }
    }
    let text = header.to_string();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// One mutation of the checkpoint's files.
fn mutate(rng: &mut Rng, files: &mut CheckpointFiles) -> &'static str {
    let st = &mut files.safetensors;
    let header_end = 8 + u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    match rng.below(10) {
        0 => {
            let at = 8 + rng.below(header_end - 8);
            st[at] ^= 1 << rng.below(8);
            "header bit flip"
        }
        1 => {
            let at = 8 + rng.below(header_end - 8);
            st[at] = *rng.pick(b"0123456789{}[]\":,-eE. \x00\xff");
            "header byte edit"
        }
        2 => {
            let at = header_end + rng.below(st.len() - header_end);
            st[at] ^= 1 << rng.below(8);
            "data bit flip"
        }
        3 => {
            let len = rng.below(st.len());
            st.truncate(len);
            "truncation"
        }
        4 => {
            let n = (header_end - 8) as u64;
            let value = match rng.below(5) {
                0 => n.wrapping_add(rng.below(16) as u64).wrapping_sub(8),
                1 => 1 << 63,
                2 => u64::MAX,
                3 => st.len() as u64,
                _ => rng.next(),
            };
            st[..8].copy_from_slice(&value.to_le_bytes());
            "header length edit"
        }
        5 => {
            *st = edit_tensor_entry(rng, st);
            "tensor entry edit"
        }
        6 | 7 => {
            files.config_json = edit_json(rng, &files.config_json);
            "config.json edit"
        }
        8 => {
            let text = files.scheduler_json.as_deref().unwrap_or("{}");
            files.scheduler_json = Some(edit_json(rng, text));
            "scheduler_config.json edit"
        }
        _ => {
            let at = rng.below(files.config_json.len());
            let mut bytes = files.config_json.clone().into_bytes();
            bytes[at] = *rng.pick(b"0123456789-[]{}\",");
            files.config_json = String::from_utf8_lossy(&bytes).into_owned();
            "config.json byte edit"
        }
    }
}

/// Loads `files`; on success checks that what was accepted is bounded by the file's size and
/// builds the batch-1 graph (what a CPU session is made from) and its memory plan.
fn load(files: &CheckpointFiles) -> Result<(), String> {
    let checkpoint = Checkpoint::from_files(files).map_err(|e| e.to_string())?;
    let unet = &checkpoint.unet;
    let floats: usize = unet.params.iter().map(|p| p.data.len()).sum();
    // Each stored value becomes one f32, and the fused copies (qkv, time projections) at most
    // double that.
    assert!(
        floats <= 2 * files.safetensors.len(),
        "accepted {floats} parameter floats from a file of {} bytes",
        files.safetensors.len()
    );
    let graph = unet.graph(1).map_err(|e| e.to_string())?;
    for t in &graph.tensors {
        assert!(
            t.len() as u64 <= MAX_TENSOR_ELEMENTS,
            "{} {:?}",
            t.name,
            t.shape
        );
    }
    let plan = graph.memory_plan();
    assert!(plan
        .slot_len
        .iter()
        .all(|&l| l as u64 <= MAX_TENSOR_ELEMENTS));
    Ok(())
}

#[test]
fn mutated_checkpoints_load_or_fail_cleanly() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (iterations, seed) = (
        env("DP_FUZZ_ITERATIONS", ITERATIONS),
        env("DP_FUZZ_SEED", 0x16),
    );
    let base = CheckpointFiles::read_dir(&common::fixture("models/tiny")).unwrap();
    let files_len = |f: &CheckpointFiles| {
        f.safetensors.len() + f.config_json.len() + f.scheduler_json.as_ref().map_or(0, String::len)
    };
    let from = Counting::reset_peak();
    load(&base).expect("the unmutated fixture loads");
    let valid_peak = PEAK.load(Ordering::Relaxed) - from;
    eprintln!(
        "the valid tiny model: peak {valid_peak} heap bytes for {} bytes of files ({:.2}x)",
        files_len(&base),
        valid_peak as f64 / files_len(&base) as f64
    );
    let start = Instant::now();
    let (mut accepted, mut panics) = (0, Vec::new());
    // (ratio of peak to the bound, iteration, peak bytes, file bytes, mutations)
    let mut worst: (f64, u64, usize, usize, Vec<&str>) = (0.0, 0, 0, 0, Vec::new());
    let mut slowest = (Duration::ZERO, 0u64);
    for i in 0..iterations {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i + 1));
        let mut files = base.clone();
        let mut what = Vec::new();
        for _ in 0..1 + rng.below(3) {
            if files.safetensors.len() < 8
                || u64::from_le_bytes(files.safetensors[..8].try_into().unwrap()).saturating_add(8)
                    > files.safetensors.len() as u64
                || serde_json::from_slice::<Value>(
                    &files.safetensors[8..8 + header_of_len(&files.safetensors)],
                )
                .is_err()
            {
                break; // later mutations need a parseable header
            }
            what.push(mutate(&mut rng, &mut files));
        }
        let len = files_len(&files);
        let bound = PEAK_PER_FILE_BYTE * len + PEAK_SLACK;
        let from = Counting::reset_peak();
        let began = Instant::now();
        // On its own thread so that a hang is reported, not waited for.
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| load(&files)));
            let _ = send.send(outcome);
        });
        let outcome = match receive.recv_timeout(ITERATION_LIMIT) {
            Ok(outcome) => outcome,
            Err(_) => panic!(
                "seed {seed:#x} iteration {i} ({what:?}): the load took more than {ITERATION_LIMIT:?} \
                 (rerun with DP_FUZZ_SEED={seed} DP_FUZZ_ITERATIONS={} to reproduce)",
                i + 1
            ),
        };
        let took = began.elapsed();
        if took > slowest.0 {
            slowest = (took, i);
        }
        let (peak, largest) = (
            PEAK.load(Ordering::Relaxed).saturating_sub(from),
            LARGEST.load(Ordering::Relaxed),
        );
        assert!(
            peak <= bound && largest <= REFUSED_REQUEST,
            "seed {seed:#x} iteration {i} ({what:?}): peak {peak} live heap bytes (largest request \
             {largest}) for {len} bytes of files, over the bound {PEAK_PER_FILE_BYTE} x {len} + {PEAK_SLACK}"
        );
        let ratio = peak as f64 / bound as f64;
        if ratio > worst.0 {
            worst = (ratio, i, peak, len, what.clone());
        }
        assert!(
            start.elapsed() <= TOTAL_LIMIT,
            "seed {seed:#x}: {} iterations took more than {TOTAL_LIMIT:?}",
            i + 1
        );
        match outcome {
            Ok(Ok(())) => accepted += 1,
            Ok(Err(message)) => assert!(!message.is_empty(), "iteration {i}: an empty error"),
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panics.push(format!("seed {seed:#x} iteration {i} ({what:?}): {why}"));
            }
        }
    }
    eprintln!(
        "{iterations} mutated checkpoints in {:.1} s: {accepted} loaded, {} refused, {} panicked",
        start.elapsed().as_secs_f64(),
        iterations as usize - accepted - panics.len(),
        panics.len()
    );
    eprintln!(
        "worst peak: iteration {} ({:?}), {} heap bytes for {} bytes of files ({:.0}% of the bound); \
         slowest: iteration {} in {:?}",
        worst.1,
        worst.4,
        worst.2,
        worst.3,
        worst.0 * 100.0,
        slowest.1,
        slowest.0
    );
    assert!(panics.is_empty(), "{}", panics.join("\n"));
}

fn header_of_len(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}
