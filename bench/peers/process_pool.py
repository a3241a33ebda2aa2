"""Peer of threadkit-bench `process_pool_roundtrip`: N tiny tasks through
multiprocessing.Pool.map with chunksize 1 and 2 worker processes.

Usage: python3 process_pool.py N
Prints the sum of the results, then the seconds the timed section took as the last line.
"""
import multiprocessing
import sys
import time


def task(i):
    return i


def main():
    n = int(sys.argv[1])
    with multiprocessing.Pool(processes=2) as pool:
        pool.map(task, range(4), chunksize=1)  # start the workers outside the timed section
        start = time.perf_counter()
        total = sum(pool.map(task, range(n), chunksize=1))
        elapsed = time.perf_counter() - start
    assert total == n * (n - 1) // 2
    print(total)
    print(elapsed)


if __name__ == "__main__":
    main()
