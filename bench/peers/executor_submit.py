"""Peer of threadkit-bench `executor_submit`: N tiny tasks through
concurrent.futures.ThreadPoolExecutor, submit then wait for all.

Usage: python3 executor_submit.py N WORKERS
Prints the sum of the results, then the seconds the timed section took as the last line.
"""
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def task(i):
    return i


def main():
    n = int(sys.argv[1])
    workers = int(sys.argv[2])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pool.submit(task, 0).result()  # start a worker outside the timed section
        start = time.perf_counter()
        futures = [pool.submit(task, i) for i in range(n)]
        total = sum(f.result() for f in futures)
        elapsed = time.perf_counter() - start
    assert total == n * (n - 1) // 2
    print(total)
    print(elapsed)


if __name__ == "__main__":
    main()
