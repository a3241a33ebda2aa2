// Not a seed demo: Python's bridge from asyncio to an executor (`loop.run_in_executor`,
// `asyncio.wrap_future`), the way a seed program would grow an async front end.
//! Blocking work (here: hashing files) runs on a threadkit pool while async code awaits it.
//! The tokio runtime has one thread, yet the awaits never block it: each future wakes its
//! async task from the worker that finishes the work.
//!
//! Run with `cargo run -p threadkit --example executor_async`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use threadkit::executor::ThreadPool;

/// Blocking work: read a file and hash it.
fn hash_file(path: std::path::PathBuf) -> std::io::Result<(String, u64)> {
    let bytes = std::fs::read(&path)?;
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    Ok((path.display().to_string(), h.finish()))
}

fn main() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .take(5)
        .collect();
    rt.block_on(async {
        // Python: `await loop.run_in_executor(pool, hash_file, path)`.
        let futures: Vec<_> = files
            .into_iter()
            .map(|p| pool.submit(move || hash_file(p)).unwrap())
            .collect();
        for fut in futures {
            match fut.await {
                Ok(Ok((name, hash))) => println!("{hash:016x}  {name}"),
                Ok(Err(e)) => println!("read failed: {e}"),
                Err(e) => println!("task failed: {e}"),
            }
        }
    });
}
