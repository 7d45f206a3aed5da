//! Serving threads. `serve` starts one per CPU (`workers`), each with its own single-threaded
//! runtime and its own listening socket on the shared port, so a connection, its decision and
//! its upstream request stay on the thread that accepted it: no wake-ups of another thread on
//! the hot path. State that is cheaper per thread (the upstream connection pool) is sharded by
//! the worker's index.

use std::cell::Cell;

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The index of the serving thread running this code (0 on any other thread).
pub fn index() -> usize {
    INDEX.with(Cell::get)
}

/// Marks the current thread as serving thread `index`.
pub(crate) fn set_index(index: usize) {
    INDEX.with(|cell| cell.set(index));
}
