//! Queues (`queue.Queue`, `LifoQueue`, `PriorityQueue`, `SimpleQueue`).
