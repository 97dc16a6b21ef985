//! A lock-free pool of warm buffers that flow through the engine without copies.
//!
//! # Why
//!
//! On many machines — virtual machines above all — *fresh* memory is slow: pages freed by the
//! allocator go back to the OS (and from the guest to the host) within seconds, and touching a
//! new page costs a page fault plus zeroing, sometimes more than the work done with the data.
//! Measured on the VMs spate is developed on, `memcpy` into fresh memory runs at 1.35 GB/s
//! and into warm (recently used) memory at 10.5 GB/s. A producer that logs a one-million-point
//! cloud ten times a second and allocates a new `Vec` each time pays that price on every frame.
//!
//! A [`BufferPool`] keeps the allocations warm: a steady-state producer loans the same few
//! allocations over and over and touches no new memory.
//!
//! # Lifecycle
//!
//! 1. [`BufferPool::loan`] hands out a [`Loan`]: a writable slice of exactly the requested
//!    length, backed by an idle allocation when one is large enough, else by a fresh one.
//! 2. The producer fills it and turns it into an Arrow [`ScalarBuffer`] with
//!    [`Loan::into_scalar_buffer`] — **zero-copy**: the buffer's memory *is* the loaned
//!    allocation. The buffer is placed in a chunk, encoded into [`bytes::Bytes`] message parts,
//!    and possibly held by several sinks at once; every one of these is a reference-counted
//!    view of the same memory.
//! 3. When the **last** reference — buffer clone, array, `Bytes` part — is dropped, the
//!    allocation goes back to the pool's idle list (or is freed if the pool already holds
//!    `max_pooled` idle allocations, or if the pool itself has been dropped).
//!
//! A [`Loan`] dropped without being converted goes straight back too.
//!
//! ```
//! use spate::pool::BufferPool;
//!
//! let pool = BufferPool::<f32>::new(4);
//! for frame in 0..3 {
//!     let mut loan = pool.loan(1_000);
//!     loan.fill(frame as f32);
//!     let buffer = loan.into_scalar_buffer(); // no copy
//!     assert_eq!(buffer[999], frame as f32);
//!     // … the buffer travels through chunks, encoders and sinks, then is dropped …
//! }
//! let stats = pool.stats();
//! assert_eq!((stats.loans, stats.fresh, stats.reuses), (3, 1, 2));
//! ```
//!
//! # Contents of a loan
//!
//! A reused loan holds whatever the previous user wrote (never uninitialised memory: fresh
//! allocations are zeroed). Overwrite every element you hand on, or clear it yourself.
//!
//! # Lock freedom
//!
//! The idle list is a bounded [`crossbeam_queue::ArrayQueue`]; loans and returns never take
//! a lock and never block. The statistics are relaxed atomic counters: exact once the pool
//! is quiescent, a consistent-enough snapshot while other threads are working.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};

use arrow_buffer::{ArrowNativeType, Buffer, ScalarBuffer};
use crossbeam_queue::ArrayQueue;

/// Element types a [`BufferPool`] can hold: Arrow primitive types that are plain bytes.
///
/// Implemented for every type that is both [`ArrowNativeType`] and [`bytemuck::Pod`]
/// (`u8`…`u64`, `i8`…`i64`, `f32`, `f64`, …).
pub trait PoolElement: ArrowNativeType + bytemuck::Pod {}

impl<T: ArrowNativeType + bytemuck::Pod> PoolElement for T {}

/// Counters of a [`BufferPool`], from [`BufferPool::stats`].
///
/// Once no loan is being made or returned, `loans == reuses + fresh` and every fresh
/// allocation is either idle or freed, or still out (`fresh == idle + freed + out`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Calls to [`BufferPool::loan`] (and [`BufferPool::loan_points`]).
    pub loans: u64,
    /// Loans served by an idle allocation (warm memory).
    pub reuses: u64,
    /// Loans served by a fresh allocation (zero-length loans count here, they need none).
    pub fresh: u64,
    /// Allocations that came back to the pool: their last reference was dropped while the
    /// pool was alive. Kept ones become idle, the rest are counted in `freed` as well.
    pub returned: u64,
    /// Allocations the pool released to the allocator instead of keeping: returned while
    /// `max_pooled` were already idle and no larger than the oldest idle one, idle ones
    /// replaced by a larger returned one, and zero-length ones.
    pub freed: u64,
    /// Idle allocations held now.
    pub idle: usize,
    /// Bytes of the idle allocations held now.
    pub idle_bytes: usize,
}

/// State shared by the pool handles and every outstanding allocation (weakly).
struct PoolState<T> {
    idle: ArrayQueue<Vec<T>>,
    max_pooled: usize,
    idle_bytes: AtomicUsize,
    loans: AtomicU64,
    reuses: AtomicU64,
    fresh: AtomicU64,
    returned: AtomicU64,
    freed: AtomicU64,
}

impl<T> PoolState<T> {
    fn bytes_of(vec: &Vec<T>) -> usize {
        vec.capacity() * size_of::<T>()
    }

    /// Puts an allocation on the idle list without looking further; gives it back if full.
    fn push(&self, vec: Vec<T>) -> Result<(), Vec<T>> {
        let bytes = Self::bytes_of(&vec);
        // Count before pushing: a pop that sees the allocation then always subtracts after
        // this add (the queue's release/acquire orders them), so the counter never wraps.
        self.idle_bytes.fetch_add(bytes, Relaxed);
        self.idle.push(vec).inspect_err(|_| {
            self.idle_bytes.fetch_sub(bytes, Relaxed);
        })
    }

    /// Keeps an allocation idle, or frees it (and counts it).
    ///
    /// When the idle list is full, the larger of this allocation and the oldest idle one is
    /// kept: otherwise allocations too small for the current loans would clog the pool, and
    /// every larger loan would allocate fresh memory and free it again on return.
    fn keep_or_free(&self, vec: Vec<T>) {
        if vec.capacity() == 0 || self.max_pooled == 0 {
            self.freed.fetch_add(1, Relaxed);
            return;
        }
        let Err(mut vec) = self.push(vec) else { return };
        if let Some(oldest) = self.pop() {
            let smaller = if oldest.len() < vec.len() {
                oldest
            } else {
                std::mem::replace(&mut vec, oldest)
            };
            drop(smaller);
            self.freed.fetch_add(1, Relaxed);
        }
        if let Err(vec) = self.push(vec) {
            // Other returns filled the list in between.
            drop(vec);
            self.freed.fetch_add(1, Relaxed);
        }
    }

    fn pop(&self) -> Option<Vec<T>> {
        let vec = self.idle.pop()?;
        self.idle_bytes.fetch_sub(Self::bytes_of(&vec), Relaxed);
        Some(vec)
    }

    /// The idle allocation that best fits `len` elements, if any is large enough.
    ///
    /// Takes the first one no more than twice as large; otherwise the smallest large enough
    /// one among those idle when the lookup started. Allocations looked at and not taken go
    /// back to the end of the list.
    fn take_fitting(&self, len: usize) -> Option<Vec<T>> {
        let mut best: Option<Vec<T>> = None;
        for _ in 0..self.idle.len() {
            let Some(vec) = self.pop() else { break };
            let size = vec.len();
            if size < len {
                self.keep_or_free(vec);
                continue;
            }
            if size <= len.saturating_mul(2) {
                if let Some(worse) = best.replace(vec) {
                    self.keep_or_free(worse);
                }
                break;
            }
            match &best {
                Some(b) if b.len() <= size => self.keep_or_free(vec),
                _ => {
                    if let Some(worse) = best.replace(vec) {
                        self.keep_or_free(worse);
                    }
                }
            }
        }
        best
    }
}

/// A lock-free pool of reusable buffers of `T`; see the [module docs](self) for the why.
///
/// Cloning is cheap and every clone is the same pool. Keeps at most `max_pooled` idle
/// allocations; when that many are idle, a returned allocation replaces the oldest idle one
/// if it is larger and is freed otherwise, so the pool drifts towards allocations that fit
/// the largest loans. A loan takes the first idle allocation at most twice its size, else
/// the smallest one large enough. Dropping every handle frees the
/// idle allocations at once, and outstanding ones when their last reference goes.
///
/// ```
/// use spate::pool::BufferPool;
///
/// let pool = BufferPool::<u32>::new(8);
/// let mut colors = pool.loan(3);
/// colors.copy_from_slice(&[0xff0000ff, 0x00ff00ff, 0x0000ffff]);
/// let ptr = colors.as_ptr();
///
/// let buffer = colors.into_scalar_buffer();
/// assert_eq!(buffer.as_ptr(), ptr); // same memory, no copy
/// let part = bytes::Bytes::from(buffer.clone().into_inner()); // e.g. an encoded message part
/// drop(buffer);
/// assert_eq!(pool.stats().idle, 0); // `part` still holds the allocation
/// drop(part);
/// assert_eq!(pool.stats().idle, 1); // last reference gone: back in the pool
///
/// assert_eq!(pool.loan(2).as_ptr(), ptr); // warm memory again
/// ```
pub struct BufferPool<T> {
    shared: Arc<PoolState<T>>,
}

impl<T> Clone for BufferPool<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for BufferPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("element", &std::any::type_name::<T>())
            .field("max_pooled", &self.shared.max_pooled)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T> BufferPool<T> {
    /// A pool that keeps at most `max_pooled` idle allocations (`0`: keeps none).
    ///
    /// Size it for the buffers in flight at once: e.g. frames queued in the engine plus one
    /// being filled, times the components loaned per frame.
    pub fn new(max_pooled: usize) -> Self {
        Self {
            shared: Arc::new(PoolState {
                idle: ArrayQueue::new(max_pooled.max(1)),
                max_pooled,
                idle_bytes: AtomicUsize::new(0),
                loans: AtomicU64::new(0),
                reuses: AtomicU64::new(0),
                fresh: AtomicU64::new(0),
                returned: AtomicU64::new(0),
                freed: AtomicU64::new(0),
            }),
        }
    }

    /// The most idle allocations this pool keeps.
    pub fn max_pooled(&self) -> usize {
        self.shared.max_pooled
    }

    /// Current counters.
    ///
    /// ```
    /// let pool = spate::pool::BufferPool::<f32>::new(2);
    /// drop(pool.loan(10));
    /// let s = pool.stats();
    /// assert_eq!((s.loans, s.fresh, s.returned, s.idle), (1, 1, 1, 1));
    /// assert_eq!(s.idle_bytes, 40);
    /// ```
    pub fn stats(&self) -> PoolStats {
        let s = &self.shared;
        PoolStats {
            loans: s.loans.load(Relaxed),
            reuses: s.reuses.load(Relaxed),
            fresh: s.fresh.load(Relaxed),
            returned: s.returned.load(Relaxed),
            freed: s.freed.load(Relaxed),
            idle: s.idle.len(),
            idle_bytes: s.idle_bytes.load(Relaxed),
        }
    }
}

impl<T: PoolElement> BufferPool<T> {
    /// A writable buffer of exactly `len` elements.
    ///
    /// Reuses an idle allocation of at least `len` elements if there is one (its contents
    /// are what its last user left), else allocates a zeroed one. Never blocks.
    ///
    /// # Panics
    ///
    /// If `len` elements of `T` overflow `isize::MAX` bytes or the allocation fails.
    ///
    /// ```
    /// let pool = spate::pool::BufferPool::<u16>::new(4);
    /// let mut ids = pool.loan(5);
    /// assert_eq!(ids.len(), 5);
    /// ids[4] = 7;
    /// assert_eq!(*ids, [0, 0, 0, 0, 7]); // fresh memory is zeroed
    /// ```
    pub fn loan(&self, len: usize) -> Loan<T> {
        let s = &self.shared;
        s.loans.fetch_add(1, Relaxed);
        let vec = match (len > 0).then(|| s.take_fitting(len)).flatten() {
            Some(vec) => {
                s.reuses.fetch_add(1, Relaxed);
                vec
            }
            None => {
                s.fresh.fetch_add(1, Relaxed);
                bytemuck::allocation::zeroed_vec(len)
            }
        };
        debug_assert!(vec.len() >= len);
        Loan {
            alloc: Pooled {
                vec,
                pool: Arc::downgrade(&self.shared),
            },
            len,
        }
    }
}

impl BufferPool<f32> {
    /// A writable buffer of `n` points `[x, y, z]`, stored flat as `3 n` `f32`s.
    ///
    /// # Panics
    ///
    /// As [`loan`](Self::loan), or if `3 n` overflows `usize`.
    ///
    /// ```
    /// let pool = spate::pool::BufferPool::<f32>::new(4);
    /// let mut points = pool.loan_points(2);
    /// points[1] = [1.0, 2.0, 3.0];
    /// let flat = points.into_scalar_buffer();
    /// assert_eq!(&flat[..], &[0.0, 0.0, 0.0, 1.0, 2.0, 3.0]);
    /// ```
    pub fn loan_points(&self, n: usize) -> LoanedPoints {
        let len = n.checked_mul(3).expect("point count overflows usize");
        LoanedPoints(self.loan(len))
    }
}

/// An allocation out of the pool; gives it back when dropped.
///
/// This is the owner behind the [`bytes::Bytes`] of a converted loan, so it is dropped
/// exactly when the last buffer, array or `Bytes` referring to the memory is.
struct Pooled<T> {
    /// Every element initialised; its whole length goes back to the pool.
    vec: Vec<T>,
    /// Weak: a dropped pool must not be kept alive by its outstanding buffers.
    pool: Weak<PoolState<T>>,
}

impl<T: bytemuck::Pod> AsRef<[u8]> for Pooled<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.vec)
    }
}

impl<T> Drop for Pooled<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.pool.upgrade() {
            shared.returned.fetch_add(1, Relaxed);
            shared.keep_or_free(std::mem::take(&mut self.vec));
        }
        // Else the pool is gone: the Vec is freed with `self`.
    }
}

/// A writable buffer of `T` loaned from a [`BufferPool`].
///
/// Dereferences to exactly the loaned number of elements. Turn it into an Arrow buffer with
/// [`into_scalar_buffer`](Self::into_scalar_buffer) (zero-copy) or drop it to give it back.
pub struct Loan<T> {
    alloc: Pooled<T>,
    len: usize,
}

impl<T: PoolElement> Loan<T> {
    /// Shortens the loan to `len` elements (no effect if it is not longer), keeping the
    /// allocation: for producers that loan the most they may need and fill less.
    ///
    /// ```
    /// let pool = spate::pool::BufferPool::<f32>::new(1);
    /// let mut loan = pool.loan(100);
    /// loan.truncate(60);
    /// assert_eq!(loan.into_scalar_buffer().len(), 60);
    /// ```
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// The loan as an Arrow buffer, **without copying**: the buffer's memory is the loaned
    /// allocation.
    ///
    /// The allocation goes back to the pool when the last clone of the buffer — and of
    /// anything sharing its memory, such as arrays or [`bytes::Bytes`] made from it — is
    /// dropped.
    ///
    /// ```
    /// let pool = spate::pool::BufferPool::<u32>::new(1);
    /// let mut loan = pool.loan(4);
    /// loan.copy_from_slice(&[1, 2, 3, 4]);
    /// let ptr = loan.as_ptr();
    /// let buffer = loan.into_scalar_buffer();
    /// assert_eq!(buffer.as_ptr(), ptr);
    /// assert_eq!(&buffer[..], &[1, 2, 3, 4]);
    /// ```
    pub fn into_scalar_buffer(self) -> ScalarBuffer<T> {
        let Self { alloc, len } = self;
        // `Bytes` takes `alloc` as its owner and points at the Vec's heap memory, which
        // does not move; `Buffer` wraps that `Bytes`, again without copying.
        let buffer = Buffer::from(bytes::Bytes::from_owner(alloc));
        // Vec<T> memory is aligned for T, as `ScalarBuffer::new` checks.
        ScalarBuffer::new(buffer, 0, len)
    }
}

impl<T> Deref for Loan<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.alloc.vec[..self.len]
    }
}

impl<T> DerefMut for Loan<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.alloc.vec[..self.len]
    }
}

impl<T: fmt::Debug> fmt::Debug for Loan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loan")
            .field("len", &self.len)
            .field("allocated", &self.alloc.vec.len())
            .field("ptr", &self.alloc.vec.as_ptr())
            .finish()
    }
}

/// A writable buffer of points `[x, y, z]` loaned from a [`BufferPool<f32>`] with
/// [`BufferPool::loan_points`]; the `f32` storage is flat, `x, y, z, x, y, z, …`.
pub struct LoanedPoints(Loan<f32>);

impl LoanedPoints {
    /// Shortens the loan to `n` points (no effect if it is not longer).
    pub fn truncate(&mut self, n: usize) {
        self.0.truncate(n.saturating_mul(3));
    }

    /// The flat coordinates as an Arrow buffer, **without copying**; see
    /// [`Loan::into_scalar_buffer`].
    pub fn into_scalar_buffer(self) -> ScalarBuffer<f32> {
        self.0.into_scalar_buffer()
    }

    /// The underlying flat loan of `3 n` `f32`s.
    pub fn into_flat(self) -> Loan<f32> {
        self.0
    }
}

impl Deref for LoanedPoints {
    type Target = [[f32; 3]];

    fn deref(&self) -> &[[f32; 3]] {
        bytemuck::cast_slice(&self.0)
    }
}

impl DerefMut for LoanedPoints {
    fn deref_mut(&mut self) -> &mut [[f32; 3]] {
        bytemuck::cast_slice_mut(&mut self.0)
    }
}

impl fmt::Debug for LoanedPoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoanedPoints")
            .field("points", &self.len())
            .field("ptr", &self.0.as_ptr())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<X: Send + Sync>() {}

    #[test]
    fn types_are_send_and_sync() {
        assert_send_sync::<BufferPool<f32>>();
        assert_send_sync::<Loan<u32>>();
        assert_send_sync::<LoanedPoints>();
    }

    #[test]
    fn into_scalar_buffer_is_zero_copy() {
        let pool = BufferPool::<u32>::new(4);
        let mut loan = pool.loan(1000);
        for (i, v) in loan.iter_mut().enumerate() {
            *v = i as u32 * 3;
        }
        let ptr = loan.as_ptr();
        let buffer = loan.into_scalar_buffer();
        assert_eq!(buffer.as_ptr(), ptr);
        assert_eq!(buffer.inner().as_ptr(), ptr.cast::<u8>());
        assert_eq!(buffer.len(), 1000);
        assert!(buffer.iter().enumerate().all(|(i, &v)| v == i as u32 * 3));
        // Onward into Bytes (what the encoder produces) is zero-copy too.
        let part = bytes::Bytes::from(buffer.into_inner());
        assert_eq!(part.as_ptr(), ptr.cast::<u8>());
        assert_eq!(part.len(), 4000);
    }

    #[test]
    fn last_reference_returns_allocation_for_reuse() {
        let pool = BufferPool::<f32>::new(4);
        let mut loan = pool.loan(1000);
        loan.fill(1.5);
        let ptr = loan.as_ptr();
        let buffer = loan.into_scalar_buffer();
        let clone = buffer.clone();
        let part = bytes::Bytes::from(buffer.clone().into_inner());
        let held_elsewhere = std::thread::spawn(move || part).join().unwrap();
        drop(buffer);

        // Still referenced: a new loan must not get this memory.
        let other = pool.loan(1000);
        assert_ne!(other.as_ptr(), ptr);
        drop(clone);
        assert_eq!(held_elsewhere[..4], 1.5f32.to_ne_bytes()); // still valid
        let s = pool.stats();
        assert_eq!((s.reuses, s.fresh, s.returned, s.idle), (0, 2, 0, 0));

        drop(held_elsewhere); // the last reference
        let s = pool.stats();
        assert_eq!((s.returned, s.idle, s.idle_bytes), (1, 1, 4000));
        let again = pool.loan(800); // smaller: same allocation, old contents
        assert_eq!(again.as_ptr(), ptr);
        assert_eq!(again.len(), 800);
        assert!(again.iter().all(|&v| v == 1.5), "reuse keeps old contents");
        let s = pool.stats();
        assert_eq!((s.loans, s.reuses, s.fresh), (3, 1, 2));
        assert_eq!((s.idle, s.idle_bytes), (0, 0));
        drop(other);
    }

    #[test]
    fn same_size_reuses_same_pointer() {
        let pool = BufferPool::<u64>::new(1);
        let first = pool.loan(512);
        let ptr = first.as_ptr();
        let part = bytes::Bytes::from(first.into_scalar_buffer().into_inner());
        assert_eq!(pool.stats().idle, 0);
        drop(part);
        for i in 0..5 {
            let loan = pool.loan(512 - i);
            assert_eq!(loan.as_ptr(), ptr);
            drop(loan.into_scalar_buffer());
        }
        let s = pool.stats();
        assert_eq!((s.loans, s.reuses, s.fresh, s.returned), (6, 5, 1, 6));
    }

    #[test]
    fn larger_loan_allocates_fresh_and_keeps_small_idle() {
        let pool = BufferPool::<f32>::new(4);
        let small = pool.loan(100);
        let small_ptr = small.as_ptr();
        drop(small);
        let big = pool.loan(101);
        assert_ne!(big.as_ptr(), small_ptr);
        let s = pool.stats();
        assert_eq!((s.reuses, s.fresh, s.idle), (0, 2, 1));
        assert_eq!(pool.loan(50).as_ptr(), small_ptr, "small one is still idle");
    }

    #[test]
    fn best_fit_avoids_oversized_allocations() {
        let pool = BufferPool::<u8>::new(4);
        let huge = pool.loan(10_000);
        let fit = pool.loan(120);
        let (huge_ptr, fit_ptr) = (huge.as_ptr(), fit.as_ptr());
        drop(huge); // idle first in FIFO order
        drop(fit);
        let loan = pool.loan(100);
        assert_eq!(loan.as_ptr(), fit_ptr);
        assert_eq!(pool.loan(9_000).as_ptr(), huge_ptr);
        // Only the oversized one idle: still reused rather than allocating.
        let pool = BufferPool::<u8>::new(4);
        let huge = pool.loan(10_000);
        let huge_ptr = huge.as_ptr();
        drop(huge);
        assert_eq!(pool.loan(10).as_ptr(), huge_ptr);
    }

    #[test]
    fn max_pooled_is_respected() {
        let pool = BufferPool::<u32>::new(2);
        let loans: Vec<_> = (0..5).map(|_| pool.loan(64)).collect();
        drop(loans);
        let s = pool.stats();
        assert_eq!((s.fresh, s.returned, s.idle, s.freed), (5, 5, 2, 3));
        assert_eq!(s.idle_bytes, 2 * 64 * 4);

        let none = BufferPool::<u32>::new(0);
        drop(none.loan(8).into_scalar_buffer());
        let s = none.stats();
        assert_eq!((s.returned, s.idle, s.freed, s.idle_bytes), (1, 0, 1, 0));
        assert_eq!(none.max_pooled(), 0);
    }

    #[test]
    fn larger_returns_displace_small_idle_allocations() {
        let pool = BufferPool::<u32>::new(2);
        drop([pool.loan(64), pool.loan(64)]); // the pool is full of small allocations
        let big = pool.loan(128);
        let big_ptr = big.as_ptr();
        drop(big.into_scalar_buffer());
        let s = pool.stats();
        assert_eq!((s.fresh, s.idle, s.freed), (3, 2, 1));
        assert_eq!(s.idle_bytes, (64 + 128) * 4);
        assert_eq!(pool.loan(128).as_ptr(), big_ptr, "the larger one was kept");
        // A smaller return to a full pool does not displace larger idle ones.
        let pool = BufferPool::<u32>::new(1);
        drop(pool.loan(128));
        drop(pool.loan(256)); // displaces the 128
        drop([pool.loan(256), pool.loan(100)]); // the 100 is freed, the 256 kept
        assert_eq!(pool.stats().idle_bytes, 256 * 4);
    }

    #[test]
    fn zero_length_loans_take_no_idle_allocation() {
        let pool = BufferPool::<f32>::new(2);
        drop(pool.loan(10));
        let empty = pool.loan(0);
        assert!(empty.is_empty());
        assert_eq!(empty.into_scalar_buffer().len(), 0);
        let s = pool.stats();
        assert_eq!((s.loans, s.reuses, s.fresh, s.idle), (2, 0, 2, 1));
        assert_eq!(s.fresh, s.idle as u64 + s.freed);
    }

    #[test]
    fn dropped_pool_does_not_keep_memory_and_buffers_stay_valid() {
        let pool = BufferPool::<u32>::new(4);
        let state = Arc::downgrade(&pool.shared);
        drop(pool.loan(16)); // one idle allocation
        let mut loan = pool.loan(1000);
        loan.fill(42);
        let buffer = loan.into_scalar_buffer();
        let part = bytes::Bytes::from(buffer.clone().into_inner());
        let unused = pool.loan(10);
        let clone = pool.clone();
        drop(pool);
        assert!(state.upgrade().is_some(), "a clone keeps the pool");
        drop(clone);
        assert!(
            state.upgrade().is_none(),
            "outstanding buffers must not keep the pool alive"
        );
        assert!(buffer.iter().all(|&v| v == 42));
        drop(buffer);
        assert_eq!(part.len(), 4000);
        assert_eq!(part[..4], 42u32.to_ne_bytes());
        drop(part);
        drop(unused);
    }

    #[test]
    fn points_are_flat_and_zero_copy() {
        let pool = BufferPool::<f32>::new(2);
        let mut points = pool.loan_points(3);
        assert_eq!(points.len(), 3);
        points[0] = [1.0, 2.0, 3.0];
        points[2] = [7.0, 8.0, 9.0];
        let ptr = points.as_ptr().cast::<f32>();
        let flat = points.into_scalar_buffer();
        assert_eq!(flat.as_ptr(), ptr);
        assert_eq!(&flat[..], &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 7.0, 8.0, 9.0]);
        drop(flat);
        let mut again = pool.loan_points(2);
        assert_eq!(again.as_ptr().cast::<f32>(), ptr);
        again.truncate(1);
        assert_eq!(&*again, &[[1.0, 2.0, 3.0]]);
        assert_eq!(again.into_flat().len(), 3);
    }

    #[test]
    fn concurrent_loans_and_returns_add_up() {
        const THREADS: usize = 4;
        const ROUNDS: usize = 10_000;
        let pool = BufferPool::<u32>::new(8);
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    for i in 0..ROUNDS {
                        let len = 64 + (i + t) % 64;
                        let mut loan = pool.loan(len);
                        assert_eq!(loan.len(), len);
                        loan.fill(t as u32);
                        match i % 3 {
                            0 => drop(loan),
                            1 => {
                                let b = loan.into_scalar_buffer();
                                assert!(b.iter().all(|&v| v == t as u32));
                            }
                            _ => {
                                let b = loan.into_scalar_buffer();
                                let part = bytes::Bytes::from(b.clone().into_inner());
                                drop(b);
                                assert_eq!(part.len(), len * 4);
                            }
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = pool.stats();
        let total = (THREADS * ROUNDS) as u64;
        assert_eq!(s.loans, total);
        assert_eq!(s.loans, s.reuses + s.fresh);
        assert_eq!(s.returned, total);
        assert_eq!(s.fresh, s.idle as u64 + s.freed);
        assert!(s.idle <= 8);
        assert!(s.reuses > total * 9 / 10, "mostly warm: {s:?}");
        let idle_bytes: usize = std::iter::from_fn(|| pool.shared.pop())
            .map(|v| v.capacity() * 4)
            .sum();
        assert_eq!(s.idle_bytes, idle_bytes);
        assert_eq!(pool.stats().idle_bytes, 0);
    }
}
