//! NumPy memory as Arrow buffers, without copying: the only unsafe code of the package.
//!
//! An array's data becomes a [`ScalarBuffer`] whose owner holds a strong reference to the
//! array, so the memory lives until the last sink is done with it. The owner may be dropped
//! on any thread: pyo3 defers a decref made without the interpreter attached to the next
//! call into Python.
#![expect(
    unsafe_code,
    reason = "Buffer::from_custom_allocation over memory NumPy owns; see the SAFETY notes"
)]

use std::ptr::NonNull;
use std::sync::Arc;

use arrow_buffer::{ArrowNativeType, Buffer, ScalarBuffer};
use numpy::{Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// Keeps a NumPy array (and so its memory) alive while Arrow buffers point into it.
struct ArrayOwner(#[allow(dead_code, reason = "held for its reference, never read")] Py<PyAny>);

// A panic while an Arrow buffer is borrowed cannot leave the owner half-updated: it is
// never mutated (it only holds a reference).
impl std::panic::RefUnwindSafe for ArrayOwner {}

/// A view keeps its whole base array alive, but a row counts only the bytes it reads
/// against the lanes' bounds: a view pinning more than this many times its own bytes is
/// copied (a 100-point slice of a 12 MB cloud must not hold the 12 MB while it queues).
const MOST_PINNED_PER_BYTE: usize = 2;

/// Whether sharing `array` (`nbytes` of values) would keep alive a base array of more than
/// [`MOST_PINNED_PER_BYTE`] times that. (NumPy points a view's `base` at the array owning
/// the memory, not at intermediate views.)
fn pins_more_than_it_holds(array: &Bound<'_, numpy::PyUntypedArray>, nbytes: usize) -> bool {
    let Ok(base) = array.getattr(pyo3::intern!(array.py(), "base")) else {
        return true;
    };
    match base.cast::<numpy::PyUntypedArray>() {
        Ok(base) => {
            base.len().saturating_mul(base.dtype().itemsize())
                > nbytes.saturating_mul(MOST_PINNED_PER_BYTE)
        }
        Err(_) => false,
    }
}

/// The values of `array` as an Arrow buffer over the same memory, if the array can be
/// shared as it is: C-contiguous, aligned for `T`, native byte order (the cast to
/// `PyArrayDyn<T>` checked the dtype). `None` otherwise (the caller converts).
pub(crate) fn share<T>(array: &Bound<'_, PyArrayDyn<T>>) -> Option<ScalarBuffer<T>>
where
    T: Element + ArrowNativeType,
{
    if !array.is_c_contiguous() {
        return None;
    }
    let len = array.len();
    let data = array.data();
    if len == 0 || !(data as usize).is_multiple_of(std::mem::align_of::<T>()) {
        return None;
    }
    if pins_more_than_it_holds(array.as_untyped(), len * size_of::<T>()) {
        return None;
    }
    let ptr = NonNull::new(data.cast::<u8>())?;
    let owner = Arc::new(ArrayOwner(array.clone().into_any().unbind()));
    // SAFETY: `ptr` is the start of the array's data and the array is C-contiguous with
    // `len` elements of `T`, so `len * size_of::<T>()` bytes from `ptr` are its values, in
    // order (checked by `test_zero_copy.py`: the buffer's address is `arr.ctypes.data` and
    // every value reads back). `owner` holds a strong reference to the array: NumPy frees
    // the memory only when the array is collected, which cannot happen before the last
    // Arrow buffer over it (and so `owner`) is dropped (the same test: the refcount rises
    // while the row is in flight and comes back after `flush`). NumPy moves an array's data only
    // in `resize`, which refuses while another reference exists (`test_adversarial.py`)
    // unless told `refcheck=False`, NumPy's own documented way to corrupt memory; a
    // `bytearray` or `mmap` under the array cannot be resized or closed while it is shared
    // (a buffer export is held). Writes through the array while a sink reads it are possible: they are
    // races on plain floats/ints (no invalid values exist for these types), documented
    // for users ("do not write into a logged array until flush()").
    let buffer = unsafe { Buffer::from_custom_allocation(ptr, len * size_of::<T>(), owner) };
    Some(ScalarBuffer::new(buffer, 0, len))
}
