//! The fuzz targets of `fuzz/` on the stable toolchain: the same functions
//! (`fuzz/src/lib.rs`, included here), driven by a seeded mutation loop over
//! a small corpus of real requests. Not coverage-guided like libFuzzer, but
//! bounded, reproducible (the seed is printed) and run by every `cargo test`.
//!
//! `fuzz_targets_briefly` runs a few thousand inputs per target on every
//! test run; `fuzz_targets_for_a_while` (ignored) runs each target for
//! `LINEKEEPER_FUZZ_SECS` seconds (default 60) with `LINEKEEPER_FUZZ_SEED`:
//!
//! ```text
//! LINEKEEPER_FUZZ_SECS=120 cargo test --release --test fuzz_stable -- --ignored --nocapture
//! ```
//!
//! A crashing input is written to `fuzz-crash-<target>.bin` in Cargo's
//! test scratch directory (under `target/`) and should become a test here.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};

type Target = fn(&[u8]);

/// rand's ChaCha8, seeded: the same seed, the same mutations.
type Rng = rand::rngs::ChaCha8Rng;

/// Bytes that matter to the parsers.
const INTERESTING: &[u8] = b"{}[]\",:\\0123456789+-.eEtrufalsn =&%\n\x00\xff\xc3\xa9 ";

const TOKENS: &[&[u8]] = &[
    b"\"number_id\"",
    b"\"number\"",
    b"\"target_user_id\"",
    b"\"target_user\"",
    b"\"send\"",
    b"\"gets\"",
    b"\"resubscribe\"",
    b"\"recurring_time\"",
    b"page=",
    b"limit=",
    b"per_page=",
    b"&",
    b"%ff",
    b"%",
    b"\\u0000",
    b"\\ud800",
    b"99999999999999999999",
    b"-9223372036854775808",
    b"1e400",
    b"+983000505",
    b"null",
    b"true",
    b"\"1\"",
];

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..=rng.random_range(0..4) {
        let len = input.len();
        match rng.random_range(0..8) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let b = INTERESTING[rng.random_range(0..INTERESTING.len())];
                input.insert(rng.random_range(0..len + 1), b);
            }
            2 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(0..len - i + 1).min(16);
                input.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(0..len - i + 1).min(32);
                let piece = input[i..i + n].to_vec();
                let at = rng.random_range(0..input.len() + 1);
                input.splice(at..at, piece);
            }
            4 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                let at = rng.random_range(0..len + 1);
                input.splice(at..at, t.iter().copied());
            }
            5 => {
                // Deep nesting around a point.
                let depth = rng.random_range(0..80);
                let open = if rng.random_range(0..2) == 0 {
                    b'['
                } else {
                    b'{'
                };
                let at = rng.random_range(0..len + 1);
                input.splice(at..at, std::iter::repeat_n(open, depth));
            }
            6 => {
                let other = &corpus[rng.random_range(0..corpus.len())];
                let cut = rng.random_range(0..input.len() + 1);
                let from = rng.random_range(0..other.len() + 1);
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
            }
            _ => input.push(b'{'),
        }
    }
    input.truncate(8 * 1024);
}

/// Runs `target` on `corpus` and its mutations until `budget` runs out or
/// `max_execs` inputs were tried; the number of executions.
fn drive(
    name: &str,
    target: Target,
    corpus: &[Vec<u8>],
    seed: u64,
    budget: Duration,
    max_execs: u64,
) -> u64 {
    let mut rng = Rng::seed_from_u64(seed);
    let started = Instant::now();
    let mut execs = 0u64;
    let mut input = Vec::new();
    while execs < max_execs && started.elapsed() < budget {
        if execs.is_multiple_of(16) {
            input = corpus[rng.random_range(0..corpus.len())].clone();
        }
        mutate(&mut rng, corpus, &mut input);
        // The selector byte of `panel_body` takes every value too.
        let case = input.clone();
        if catch_unwind(AssertUnwindSafe(|| target(&case))).is_err() {
            let path = format!("{}/fuzz-crash-{name}.bin", env!("CARGO_TARGET_TMPDIR"));
            let _ = std::fs::write(&path, &case);
            panic!("{name} crashed on {case:?} (seed {seed}, exec {execs}); saved to {path}");
        }
        execs += 1;
    }
    execs
}

fn panel_corpus() -> Vec<Vec<u8>> {
    [
        &b"\x00{\"number_id\": 10, \"target_user_id\": 123}"[..],
        b"\x00{\"number\": \"+983000505\", \"target_user\": \"testuser\", \"send\": true, \"gets\": \"0\"}",
        b"\x01number_id=10&target_user_id=123&send=1&gets=0",
        b"\x81page=2&per_page=50\n{\"number_id\": \"10\"}",
        b"\x02{\"number_id\": [[[1]]], \"send\": {}}",
        b"\x04   ",
        b"\x01{\"number_id\": 10}",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

fn vn_corpus() -> Vec<Vec<u8>> {
    [
        &b"page=1&limit=10&country=AU&pattern=04\n{\"number\": \"66ea98514f0c1a121c76ec17\", \"resubscribe\": true}"[..],
        b"limit=-1.5&page=1&page=2\n{\"number\": 5, \"recurring_time\": \"week\", \"product\": \"\"}",
        b"page=99999999999999999999\n{\"resubscribe\": \"TRUE\", \"recurring_time\": \"month\"}",
        b"\n[]",
        b"country=&pattern=abc\n  ",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

fn e164_corpus() -> Vec<Vec<u8>> {
    [
        "+983000505",
        "+61400000001",
        "+123456789012345",
        "+0123456789",
        "983000505",
        "+",
        "+١٢٣٤٥٦٧٨٩",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn all() -> [(&'static str, Target, Vec<Vec<u8>>); 3] {
    [
        ("panel_body", targets::panel_body as Target, panel_corpus()),
        ("vn_input", targets::vn_input as Target, vn_corpus()),
        ("e164", targets::e164 as Target, e164_corpus()),
    ]
}

#[test]
fn fuzz_targets_briefly() {
    for (name, target, corpus) in all() {
        for case in &corpus {
            target(case);
        }
        let execs = drive(name, target, &corpus, 0x5EED, Duration::from_secs(20), 3000);
        assert!(execs >= 1000, "{name}: only {execs} executions");
    }
}

#[test]
#[ignore = "long: run with --ignored, LINEKEEPER_FUZZ_SECS per target"]
fn fuzz_targets_for_a_while() {
    let secs = std::env::var("LINEKEEPER_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed = std::env::var("LINEKEEPER_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    for (name, target, corpus) in all() {
        let execs = drive(
            name,
            target,
            &corpus,
            seed,
            Duration::from_secs(secs),
            u64::MAX,
        );
        println!("{name}: {execs} executions in {secs} s (seed {seed})");
    }
}
