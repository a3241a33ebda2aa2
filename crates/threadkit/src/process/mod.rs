//! Processes (`multiprocessing`): Rust functions in child processes, pipes, queues, shared memory, a process pool.
