//! `Thin`: immutable bytes behind one 8-byte pointer, the length stored in front of the data.
//!
//! A string value is most of what a cache holds. As a `Box<[u8]>` (pointer and length, 16
//! bytes) it made `Value` 24 bytes and every keyspace slot 72; as a `Thin` `Value` is 16 and
//! the slot 64, 8 bytes less per key. The allocation grows by the 8-byte header, which the
//! allocator's size classes mostly absorb (a 100-byte value takes a 112-byte block either way).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

const HEADER: usize = std::mem::size_of::<usize>();

pub struct Thin(NonNull<u8>);

// SAFETY: `Thin` owns its allocation outright, like `Box<[u8]>`, and never shares it.
unsafe impl Send for Thin {}
// SAFETY: shared access only ever reads.
unsafe impl Sync for Thin {}

impl Thin {
    fn layout(len: usize) -> Layout {
        Layout::from_size_align(HEADER + len, HEADER).expect("string length within isize")
    }

    pub fn new(data: &[u8]) -> Thin {
        let layout = Self::layout(data.len());
        // SAFETY: the layout has a non-zero size (the header); the header is written as a
        // whole aligned usize and the data right after it, both inside the allocation.
        unsafe {
            let p = alloc(layout);
            let Some(p) = NonNull::new(p) else {
                handle_alloc_error(layout)
            };
            p.as_ptr().cast::<usize>().write(data.len());
            std::ptr::copy_nonoverlapping(data.as_ptr(), p.as_ptr().add(HEADER), data.len());
            Thin(p)
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        // SAFETY: every `Thin` starts with its length, written by `new`.
        unsafe { self.0.as_ptr().cast::<usize>().read() }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` bytes follow the header and live as long as `self`.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(HEADER), self.len()) }
    }

    /// The address of the data, for prefetching.
    pub fn as_ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }
}

impl Drop for Thin {
    fn drop(&mut self) {
        // SAFETY: allocated by `new` with this same layout.
        unsafe { dealloc(self.0.as_ptr(), Self::layout(self.len())) }
    }
}

impl std::ops::Deref for Thin {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Clone for Thin {
    fn clone(&self) -> Thin {
        Thin::new(self)
    }
}

impl PartialEq for Thin {
    fn eq(&self, other: &Thin) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl std::fmt::Debug for Thin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&String::from_utf8_lossy(self), f)
    }
}

impl From<&[u8]> for Thin {
    fn from(data: &[u8]) -> Thin {
        Thin::new(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_any_length() {
        for n in [0usize, 1, 7, 8, 100, 4096, 100_000] {
            let data: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
            let t = Thin::new(&data);
            assert_eq!(t.len(), n);
            assert_eq!(&*t, &data[..]);
            let c = t.clone();
            drop(t);
            assert_eq!(&*c, &data[..]);
        }
    }

    #[test]
    fn keeps_values_and_entries_small() {
        assert_eq!(std::mem::size_of::<Thin>(), 8);
        assert_eq!(std::mem::size_of::<Option<Thin>>(), 8);
        assert_eq!(std::mem::size_of::<crate::engine::Value>(), 16);
        assert_eq!(std::mem::size_of::<crate::engine::Entry>(), 32);
    }
}
