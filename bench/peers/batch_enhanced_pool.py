"""Peer of threadkit-bench `batch_vs_python`: seed 000's own EnhancedThreadPool
(multiprocessing.pool.ThreadPool + starmap_async + a tqdm bar polled every 0.5 s +
per-call exception capture), run over N trivial tasks.

The class below is the seed's code (000_4e73e19a86130902.txt), unchanged except that tqdm's
console bar replaces `tqdm.notebook` (no Jupyter here) and typos in comments are kept.

Usage: python3 batch_enhanced_pool.py N WORKERS
Prints the number of results, then the seconds the timed section took as the last line.
Exits non-zero with a reason on stderr when tqdm is not installed.
"""
import sys
import time
import multiprocessing
import multiprocessing.pool

try:
    from tqdm import tqdm
except ImportError:
    sys.stderr.write("tqdm is not installed (pip install tqdm)\n")
    sys.exit(2)


class EnhancedThreadPoolException(Exception):
    def __init__(self, function, parameters, root_exeption, message):
        self.functiom = function
        self.parameters = parameters
        self.__cause__ = root_exeption
        super().__init__(message)


class EnhancedThreadPool():

    def __init__(self, num_workers=4, handle_exceptions=True):
        self.handle_exceptions = handle_exceptions
        self.progress_bar = None
        self.lock = multiprocessing.Lock()
        self.pool = multiprocessing.pool.ThreadPool(processes=num_workers)
        self.shared_memory_buffer = multiprocessing.Value('i', 0)

    def _create_progress_bar(self, num_ops):
        return tqdm(range(num_ops))

    def _update_progress_bar(self, i):
        self.progress_bar.last_print_n = i
        self.progress_bar.n = i
        self.progress_bar.set_description(f'Completed Ops')
        self.progress_bar.refresh()

    @staticmethod
    def _wrapper_function(func, args, kwargs, internal_params):
        internal_args, internal_kwargs = internal_params
        lock, shared_memory_buffer = internal_args
        handle_exceptions = internal_kwargs["handle_exceptions"]
        try:
            return func(*args, **kwargs)
        except Exception as e:
            if handle_exceptions:
                return EnhancedThreadPoolException(func, (args, kwargs), e, "An error ocurred while running the parallel function")
            else:
                raise
        finally:
            lock.acquire()
            shared_memory_buffer.value = shared_memory_buffer.value + 1
            lock.release()

    def parralelize(self, func, arg_set, kwarg_set):
        num_ops = len(arg_set)
        self.progress_bar = self._create_progress_bar(num_ops)
        self.shared_memory_buffer.value = 0
        func_set = [func for i in range(0, num_ops)]
        internal_param_set = [
            ([self.lock, self.shared_memory_buffer],
             {"handle_exceptions": self.handle_exceptions}
             ) for i in range(0, num_ops)]
        param_set = zip(func_set, arg_set, kwarg_set, internal_param_set)
        apply_result = self.pool.starmap_async(self._wrapper_function, param_set)
        while not apply_result.ready():
            self._update_progress_bar(self.shared_memory_buffer.value)
            time.sleep(0.5)
        self._update_progress_bar(self.shared_memory_buffer.value)
        return apply_result.get()


def trivial(i):
    return i * 3


def main():
    n = int(sys.argv[1])
    workers = int(sys.argv[2])
    etp = EnhancedThreadPool(num_workers=workers)
    start = time.perf_counter()
    arg_set = [(i,) for i in range(n)]
    kwarg_set = [{} for _ in range(n)]
    results = etp.parralelize(trivial, arg_set, kwarg_set)
    elapsed = time.perf_counter() - start
    assert len(results) == n and results[-1] == (n - 1) * 3
    print(len(results))
    print(elapsed)


if __name__ == "__main__":
    main()
