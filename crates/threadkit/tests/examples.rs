//! Every example runs under the README's command, `cargo run -p threadkit --example NAME`, ends,
//! and exits 0 or the code it documents ([`DOCUMENTED_EXIT`]); and the logging example of
//! `threadkit::log`'s docs compiles and runs with threadkit as its only dependency.
//!
//! The examples are built once, with `cargo build -p threadkit --examples` (the profile and
//! package of the README's command, and this test's own features, so that the detector demo is
//! the full one when the suite runs with `deadlock-detection`), then run in parallel threads.
//! An example that `cargo run` would refuse (`required-features`) is not built, and fails here.
#![cfg(not(loom))]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Examples that exit with another code than 0 on purpose, and the code.
const DOCUMENTED_EXIT: &[(&str, i32)] = &[
    // Exits with its batch report's exit code: one task fails on purpose.
    ("enhanced_pool", 1),
];

/// A bound against a hang, not a timing assertion: the slowest example takes a few seconds.
const BOUND: Duration = Duration::from_secs(600);

/// The workspace root: where the README's commands run.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// The cargo that built this test (or the one on `PATH`).
fn cargo() -> String {
    std::env::var("CARGO")
        .ok()
        .or(option_env!("CARGO").map(str::to_owned))
        .unwrap_or_else(|| "cargo".to_owned())
}

/// What `cargo build -p threadkit --examples` produced.
#[derive(Debug)]
struct Built {
    /// Example name -> executable.
    examples: BTreeMap<String, PathBuf>,
    /// The threadkit library (`.rlib`) the examples link.
    rlib: PathBuf,
}

/// Builds the examples once per test process (both tests of this file share it).
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut features = Vec::new();
        if cfg!(feature = "journal") {
            features.push("journal");
        }
        if cfg!(feature = "deadlock-detection") {
            features.push("deadlock-detection");
        }
        let mut cmd = Command::new(cargo());
        cmd.current_dir(workspace_root()).args([
            "build",
            "-p",
            "threadkit",
            "--examples",
            "--message-format=json-render-diagnostics",
            "--no-default-features",
            "--features",
            &features.join(","),
        ]);
        let out = common::output_within(&mut cmd, BOUND).expect("cargo build did not end");
        assert!(
            out.status.success(),
            "{cmd:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut examples = BTreeMap::new();
        let mut rlib = None;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if msg["reason"] != "compiler-artifact" {
                continue;
            }
            let target = &msg["target"];
            let kinds = target["kind"].as_array().cloned().unwrap_or_default();
            let name = target["name"].as_str().unwrap_or_default().to_owned();
            if kinds.iter().any(|k| k == "example") {
                if let Some(exe) = msg["executable"].as_str() {
                    examples.insert(name, PathBuf::from(exe));
                }
            } else if name == "threadkit" && kinds.iter().any(|k| k == "lib") {
                rlib = msg["filenames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str())
                    .find(|f| f.ends_with(".rlib"))
                    .map(PathBuf::from);
            }
        }
        Built {
            examples,
            rlib: rlib.expect("cargo reported no threadkit library"),
        }
    })
}

/// The examples' names, from the files in `examples/`.
fn example_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the examples directory")
        .map(|e| e.expect("a directory entry").path())
        .filter_map(|p| {
            if p.extension().is_some_and(|x| x == "rs") {
                p.file_stem().map(|s| s.to_string_lossy().into_owned())
            } else if p.join("main.rs").is_file() {
                p.file_name().map(|s| s.to_string_lossy().into_owned())
            } else {
                None
            }
        })
        .collect();
    names.sort();
    names
}

/// Why one example failed, or `None`.
fn run_example(name: &str, exe: &Path) -> Option<String> {
    let expected = DOCUMENTED_EXIT
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |&(_, code)| code);
    let mut cmd = Command::new(exe);
    cmd.current_dir(workspace_root());
    let Some(out) = common::output_within(&mut cmd, BOUND) else {
        return Some(format!("{name}: did not end within {BOUND:?} (killed)"));
    };
    if out.status.code() == Some(expected) {
        return None;
    }
    let tail = |b: &[u8]| {
        let text = String::from_utf8_lossy(b);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    Some(format!(
        "{name}: {} (expected exit code {expected})\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
        out.status,
        tail(&out.stdout),
        tail(&out.stderr)
    ))
}

#[test]
fn every_example_runs_and_exits_as_documented() {
    let built = built();
    let names = example_names();
    assert!(names.len() > 20, "examples found: {names:?}");
    let not_built: Vec<&String> = names
        .iter()
        .filter(|n| !built.examples.contains_key(*n))
        .collect();
    assert!(
        not_built.is_empty(),
        "not built by `cargo build -p threadkit --examples` (so `cargo run -p threadkit \
         --example NAME` refuses them: required-features?): {not_built:?}"
    );
    for (name, _) in DOCUMENTED_EXIT {
        assert!(names.iter().any(|n| n == name), "no example {name}");
    }

    // Run them in parallel threads, each taking the next example from a shared list.
    let queue = Mutex::new(names.iter());
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some(name) = queue.lock().unwrap().next() else {
                    return;
                };
                if let Some(why) = run_example(name, &built.examples[name]) {
                    failures.lock().unwrap().push(why);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The first code block of `threadkit::log`'s module docs.
fn log_doc_example() -> String {
    let source = include_str!("../src/log.rs");
    let doc: Vec<&str> = source
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.trim_start_matches("//!"))
        })
        .collect();
    let start = doc.iter().position(|l| *l == "```").expect("a code block");
    let len = doc[start + 1..]
        .iter()
        .position(|l| *l == "```")
        .expect("the block's end");
    doc[start + 1..start + 1 + len].join("\n")
}

#[test]
fn the_log_doc_example_compiles_with_threadkit_alone() {
    let built = built();
    let body = log_doc_example();
    assert!(body.contains("threadkit::log::init_with"), "{body}");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("log_alone");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("main.rs");
    std::fs::write(&src, format!("fn main() {{\n{body}\n}}\n")).unwrap();
    // rustc with threadkit as the only crate it may name: `tracing` and the rest are only
    // found as threadkit's own dependencies.
    let rustc = Path::new(&cargo())
        .with_file_name("rustc")
        .canonicalize()
        .map_or_else(|_| "rustc".into(), PathBuf::from);
    let deps = built.rlib.parent().expect("the deps directory");
    let exe = dir.join("log_alone");
    let mut cmd = Command::new(rustc);
    cmd.arg("--edition=2021")
        .arg("--extern")
        .arg(format!("threadkit={}", built.rlib.display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg("-o")
        .arg(&exe)
        .arg(&src);
    let out = common::output_within(&mut cmd, BOUND).expect("rustc did not end");
    assert!(
        out.status.success(),
        "the documented example does not compile with threadkit alone:\n{}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::output_within(&mut Command::new(&exe), BOUND).expect("it did not end");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", out.status);
    assert!(
        stderr.contains("DEBUG [MainThread] Starting Thread"),
        "{stderr}"
    );
    assert!(
        stderr.contains("INFO [worker] Running Thread 1"),
        "{stderr}"
    );
}
