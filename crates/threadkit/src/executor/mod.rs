//! Thread-pool executor (`concurrent.futures.ThreadPoolExecutor`, `multiprocessing.pool.ThreadPool`).
