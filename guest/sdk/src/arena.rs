//! A chunked bump allocator for guest components.
//!
//! Decision: a connector call allocates thousands of small blocks (ids,
//! record strings, decoded fields) that all die when the call returns. Under
//! wasi-libc's dlmalloc that cost a fifth of the PingOne guest's CPU in a
//! sync profile (21 % of its samples), `free` alone 9 %: `free` reads the
//! freed block's boundary tags and its neighbour's, which are cold by then
//! (two loads took a quarter of its samples), and coalesces and bins
//! (measured 2026-12-03; see the history of docs/benchmarks.md). Here
//! small blocks are bumped out of 64 KiB chunks, and each chunk only counts
//! its live blocks: `free` touches the chunk's header, never the block, and
//! a chunk whose count drops to zero is reused whole.
//!
//! What it costs: a chunk stays allocated while any of its blocks lives, so
//! a call holds up to everything it allocated since its oldest live block
//! (not only what is live). That fits calls whose allocations die together;
//! the chunk cap bounds the worst case, and past it new blocks come from
//! the system allocator as before. Large blocks (response bodies, long
//! vectors) always do.
//!
//! Not for threads: the state is a plain cell. [`Arena`] is `Sync` only on
//! a wasm target without the `atomics` feature, where there is one thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Chunk size: one wasm page, the unit linear memory grows by.
pub const CHUNK: usize = 64 << 10;
/// Largest block served from a chunk. An eighth of a chunk bounds what a
/// chunk's tail can waste when the next block does not fit.
pub const SMALL: usize = CHUNK / 8;
/// Largest alignment served from a chunk: 16 bytes, the largest of any
/// primitive type (`u128`); stricter requests (`repr(align)`) go to the
/// system.
const MAX_ALIGN: usize = 16;
/// Chunk header: the live-block count and the spare-list link, padded to
/// `MAX_ALIGN` so the first block needs no padding.
const HEADER: usize = 16;
/// Chunks the arena may own at once: 16 MiB, a quarter of the host's
/// default 64 MiB guest memory limit, so a call with long-lived blocks
/// scattered through many chunks cannot exhaust memory through the arena.
const MAX_CHUNKS: usize = 256;
/// Empty chunks kept for reuse instead of returned to the system (1 MiB):
/// a spare is memory the instance has already touched, where a chunk from
/// the system costs a `memalign` and may be fresh pages.
const SPARE_CHUNKS: usize = 16;
/// Address-space chunks tracked by the ownership bitmap: 4 GiB, all of a
/// 32-bit linear memory.
const SPACE_CHUNKS: usize = 1 << 16;

/// Where chunks come from. [`SystemChunks`] in a component; tests supply
/// a fixed region so they can run natively.
pub trait ChunkSource {
    /// The lowest address chunks can have; ownership is tracked per
    /// `CHUNK` from here, for `SPACE_CHUNKS` chunks.
    fn space_base(&self) -> usize;
    /// A `CHUNK`-aligned block of `CHUNK` bytes, or `None`.
    fn take(&self) -> Option<usize>;
    /// Returns a block from [`Self::take`].
    fn give(&self, base: usize);
}

/// Chunks from the system allocator (dlmalloc in wasi-libc).
pub struct SystemChunks;

const CHUNK_LAYOUT: Layout = match Layout::from_size_align(CHUNK, CHUNK) {
    Ok(l) => l,
    Err(_) => panic!("chunk layout"),
};

impl ChunkSource for SystemChunks {
    fn space_base(&self) -> usize {
        0
    }
    fn take(&self) -> Option<usize> {
        // SAFETY: CHUNK_LAYOUT has a non-zero size.
        let p = unsafe { System.alloc(CHUNK_LAYOUT) };
        (!p.is_null()).then_some(p as usize)
    }
    fn give(&self, base: usize) {
        // SAFETY: `base` came from `take`, with the same layout.
        unsafe { System.dealloc(base as *mut u8, CHUNK_LAYOUT) }
    }
}

struct State {
    /// Base of the chunk being bumped, or 0.
    current: usize,
    /// Next free byte in `current`.
    top: usize,
    /// Head of the list of empty spare chunks (linked through headers), or 0.
    spare: usize,
    spare_len: usize,
    owned_len: usize,
    /// One bit per address-space chunk: set while the arena owns it.
    owned: [u64; SPACE_CHUNKS / 64],
}

/// The allocator. Install it in a component with
///
/// ```ignore
/// #[cfg(target_family = "wasm")]
/// #[global_allocator]
/// static ALLOCATOR: connector_sdk::arena::Arena = connector_sdk::arena::Arena::new();
/// ```
pub struct Arena<S: ChunkSource = SystemChunks> {
    state: UnsafeCell<State>,
    source: S,
}

// SAFETY: a wasm target without `atomics` runs one thread, so the cell is
// never shared between threads.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl<S: ChunkSource + Sync> Sync for Arena<S> {}

impl Arena<SystemChunks> {
    pub const fn new() -> Self {
        Self::with_source(SystemChunks)
    }
}

impl Default for Arena<SystemChunks> {
    fn default() -> Self {
        Self::new()
    }
}

fn live(base: usize) -> *mut usize {
    base as *mut usize
}

fn link(base: usize) -> *mut usize {
    (base + std::mem::size_of::<usize>()) as *mut usize
}

fn chunk_of(p: usize) -> usize {
    p & !(CHUNK - 1)
}

impl<S: ChunkSource> Arena<S> {
    pub const fn with_source(source: S) -> Self {
        Arena {
            state: UnsafeCell::new(State {
                current: 0,
                top: 0,
                spare: 0,
                spare_len: 0,
                owned_len: 0,
                owned: [0; SPACE_CHUNKS / 64],
            }),
            source,
        }
    }

    /// Chunks owned now (in use or spare).
    pub fn chunks(&self) -> usize {
        // SAFETY: single-threaded (see the Sync impl); no reference escapes.
        unsafe { (*self.state.get()).owned_len }
    }

    fn index(&self, p: usize) -> Option<usize> {
        let i = p.checked_sub(self.source.space_base())? / CHUNK;
        (i < SPACE_CHUNKS).then_some(i)
    }

    fn owns(&self, st: &State, p: usize) -> bool {
        self.index(p)
            .is_some_and(|i| st.owned[i / 64] & (1 << (i % 64)) != 0)
    }

    fn mark(&self, st: &mut State, base: usize, on: bool) {
        let i = self.index(base).expect("chunk inside the tracked space");
        if on {
            st.owned[i / 64] |= 1 << (i % 64);
            st.owned_len += 1;
        } else {
            st.owned[i / 64] &= !(1 << (i % 64));
            st.owned_len -= 1;
        }
    }

    /// An empty chunk: a spare, else a new one while under the cap.
    ///
    /// # Safety
    /// Spare chunks must be owned and empty (their link word is read).
    unsafe fn fresh(&self, st: &mut State) -> Option<usize> {
        if st.spare != 0 {
            let base = st.spare;
            // SAFETY: a spare chunk is owned and its header holds the link.
            st.spare = unsafe { *link(base) };
            st.spare_len -= 1;
            return Some(base);
        }
        if st.owned_len >= MAX_CHUNKS {
            return None;
        }
        let base = self.source.take()?;
        if base % CHUNK != 0 || self.index(base).is_none() {
            // Unusable (a source that broke its contract): hand it back.
            self.source.give(base);
            return None;
        }
        self.mark(st, base, true);
        Some(base)
    }

    /// A chunk other than the current one has no live blocks left.
    ///
    /// # Safety
    /// `base` must be an owned chunk with no live blocks.
    unsafe fn retire(&self, st: &mut State, base: usize) {
        if st.spare_len < SPARE_CHUNKS {
            // SAFETY: the chunk is owned and empty: its header is ours.
            unsafe { *link(base) = st.spare };
            st.spare = base;
            st.spare_len += 1;
        } else {
            self.mark(st, base, false);
            self.source.give(base);
        }
    }

    /// A small block (`layout.size() <= SMALL`, `align <= MAX_ALIGN`).
    ///
    /// # Safety
    /// As [`GlobalAlloc::alloc`].
    unsafe fn bump(&self, st: &mut State, layout: Layout) -> *mut u8 {
        let size = layout.size();
        if st.current != 0 {
            let start = (st.top + layout.align() - 1) & !(layout.align() - 1);
            if start + size <= st.current + CHUNK {
                st.top = start + size;
                // SAFETY: the current chunk is owned; its header is ours.
                unsafe { *live(st.current) += 1 };
                return start as *mut u8;
            }
        }
        // SAFETY: spares are only ever pushed by `retire`.
        let Some(base) = (unsafe { self.fresh(st) }) else {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.alloc(layout) };
        };
        // The chunk being left keeps its live blocks; it is retired by the
        // free that empties it.
        st.current = base;
        // SAFETY: the fresh chunk is owned; its header is ours.
        unsafe { *live(base) = 1 };
        let start = base + HEADER;
        st.top = start + size;
        start as *mut u8
    }
}

// SAFETY: every block handed out is either from `System` (and returned to
// it: ownership is decided by the chunk bitmap, not by the layout) or lies
// inside an owned chunk, after its header, and overlaps no other live block
// (the bump pointer only moves back over a block that was just freed, and a
// chunk is reused only when its live count is zero).
unsafe impl<S: ChunkSource> GlobalAlloc for Arena<S> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > SMALL || layout.align() > MAX_ALIGN {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: one thread (see the Sync impl); the reference ends here.
        unsafe { self.bump(&mut *self.state.get(), layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > SMALL || layout.align() > MAX_ALIGN {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // SAFETY: as `alloc`; the block is `layout.size()` bytes.
        unsafe {
            let p = self.alloc(layout);
            if !p.is_null() {
                ptr::write_bytes(p, 0, layout.size());
            }
            p
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: one thread (see the Sync impl); the reference ends here.
        let st = unsafe { &mut *self.state.get() };
        let addr = p as usize;
        if !self.owns(st, addr) {
            // SAFETY: not in a chunk, so it came from `System`.
            return unsafe { System.dealloc(p, layout) };
        }
        let base = chunk_of(addr);
        // SAFETY: an owned chunk's header is ours; the block was live in it.
        let left = unsafe {
            *live(base) -= 1;
            *live(base)
        };
        if left == 0 {
            if base == st.current {
                st.top = base + HEADER;
            } else {
                // SAFETY: owned, and no live blocks left.
                unsafe { self.retire(st, base) };
            }
        } else if base == st.current && addr + layout.size() == st.top {
            // The newest block: its bytes can be bumped again.
            st.top = addr;
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: one thread (see the Sync impl); the reference ends here.
        let st = unsafe { &mut *self.state.get() };
        let addr = p as usize;
        if !self.owns(st, addr) {
            // SAFETY: not in a chunk, so it came from `System`.
            return unsafe { System.realloc(p, layout, new_size) };
        }
        let base = chunk_of(addr);
        let newest = base == st.current && addr + layout.size() == st.top;
        if new_size <= SMALL && newest && addr + new_size <= base + CHUNK {
            st.top = addr + new_size;
            return p;
        }
        if new_size <= layout.size() {
            return p;
        }
        // SAFETY: `new_size` is non-zero and, by `realloc`'s contract, does
        // not overflow when rounded to the alignment; the old block has
        // `layout.size()` readable bytes and does not overlap the new one.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let q = self.alloc(new_layout);
            if !q.is_null() {
                ptr::copy_nonoverlapping(p, q, layout.size());
                self.dealloc(p, layout);
            }
            q
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Chunks carved from one region of the test's heap, so ownership
    /// indexes are small and a leak or a double return shows in `handed`.
    struct Region {
        base: usize,
        chunks: usize,
        free: RefCell<Vec<usize>>,
        handed: RefCell<usize>,
    }

    impl Region {
        fn new(chunks: usize) -> (Self, Layout) {
            let layout = Layout::from_size_align(chunks * CHUNK, CHUNK).unwrap();
            let base = unsafe { System.alloc(layout) } as usize;
            assert_ne!(base, 0);
            let free = (0..chunks).rev().map(|i| base + i * CHUNK).collect();
            let r = Region {
                base,
                chunks,
                free: RefCell::new(free),
                handed: RefCell::new(0),
            };
            (r, layout)
        }
    }

    impl ChunkSource for &Region {
        fn space_base(&self) -> usize {
            self.base
        }
        fn take(&self) -> Option<usize> {
            let c = self.free.borrow_mut().pop()?;
            *self.handed.borrow_mut() += 1;
            Some(c)
        }
        fn give(&self, base: usize) {
            assert!(base >= self.base && base < self.base + self.chunks * CHUNK);
            assert!(!self.free.borrow().contains(&base), "chunk returned twice");
            *self.handed.borrow_mut() -= 1;
            self.free.borrow_mut().push(base);
        }
    }

    fn with_arena(chunks: usize, f: impl FnOnce(&Arena<&Region>, &Region)) {
        let (region, layout) = Region::new(chunks);
        {
            let arena = Arena::with_source(&region);
            f(&arena, &region);
        }
        unsafe { System.dealloc(region.base as *mut u8, layout) };
    }

    fn l(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn small_blocks_share_a_chunk_and_an_emptied_chunk_is_reused_in_place() {
        with_arena(4, |a, r| unsafe {
            let x = a.alloc(l(24, 8));
            let y = a.alloc(l(100, 4));
            assert_eq!(chunk_of(x as usize), chunk_of(y as usize));
            assert_eq!(x as usize, r.base + HEADER);
            a.dealloc(x, l(24, 8));
            a.dealloc(y, l(100, 4));
            let z = a.alloc(l(8, 8));
            assert_eq!(z, x, "an empty current chunk starts over");
            a.dealloc(z, l(8, 8));
            assert_eq!(a.chunks(), 1);
        });
    }

    #[test]
    fn alignment_is_honoured_and_stricter_alignment_goes_to_the_system() {
        with_arena(2, |a, _| unsafe {
            let _pad = a.alloc(l(1, 1));
            for align in [1, 2, 4, 8, 16] {
                let p = a.alloc(l(3, align));
                assert_eq!(p as usize % align, 0);
                assert!(a.owns(&*a.state.get(), p as usize));
            }
            let big_align = a.alloc(l(8, 64));
            assert_eq!(big_align as usize % 64, 0);
            assert!(!a.owns(&*a.state.get(), big_align as usize));
            a.dealloc(big_align, l(8, 64));
        });
    }

    #[test]
    fn large_blocks_come_from_the_system() {
        with_arena(2, |a, r| unsafe {
            let p = a.alloc(l(SMALL + 1, 8));
            assert!(!a.owns(&*a.state.get(), p as usize));
            assert_eq!(*r.handed.borrow(), 0);
            a.dealloc(p, l(SMALL + 1, 8));
        });
    }

    #[test]
    fn the_newest_block_grows_and_shrinks_in_place_and_moves_out_past_small() {
        with_arena(2, |a, _| unsafe {
            let p = a.alloc(l(16, 8));
            p.write_bytes(7, 16);
            let q = a.realloc(p, l(16, 8), 4_000);
            assert_eq!(q, p, "newest block grows in place");
            let q = a.realloc(q, l(4_000, 8), 100);
            assert_eq!(q, p, "and shrinks in place");
            let other = a.alloc(l(8, 8));
            let moved = a.realloc(q, l(100, 8), 200);
            assert_ne!(moved, p, "not the newest: copied");
            assert!((0..16).all(|i| *moved.add(i) == 7));
            let out = a.realloc(moved, l(200, 8), SMALL * 2);
            assert!(!a.owns(&*a.state.get(), out as usize));
            assert!((0..16).all(|i| *out.add(i) == 7));
            let back = a.realloc(out, l(SMALL * 2, 8), 64);
            assert!(
                !a.owns(&*a.state.get(), back as usize),
                "system blocks stay there"
            );
            assert!((0..16).all(|i| *back.add(i) == 7));
            a.dealloc(back, l(64, 8));
            a.dealloc(other, l(8, 8));
        });
    }

    #[test]
    fn emptied_chunks_become_spares_and_past_the_spares_go_back() {
        with_arena(SPARE_CHUNKS + 4, |a, r| unsafe {
            // Fill SPARE_CHUNKS + 3 chunks with SMALL blocks (7 fit per chunk
            // with the header), keeping them all alive.
            let per_chunk = (CHUNK - HEADER) / SMALL;
            let n = (SPARE_CHUNKS + 3) * per_chunk;
            let blocks: Vec<_> = (0..n).map(|_| a.alloc(l(SMALL, 8))).collect();
            assert!(blocks.iter().all(|b| a.owns(&*a.state.get(), *b as usize)));
            assert_eq!(a.chunks(), SPARE_CHUNKS + 3);
            for b in &blocks {
                a.dealloc(*b, l(SMALL, 8));
            }
            // The current chunk stays; SPARE_CHUNKS are kept; the rest went back.
            assert_eq!(a.chunks(), SPARE_CHUNKS + 1);
            assert_eq!(*r.handed.borrow(), SPARE_CHUNKS + 1);
            // Spares are used before new chunks are taken.
            let again: Vec<_> = (0..n).map(|_| a.alloc(l(SMALL, 8))).collect();
            assert_eq!(*r.handed.borrow(), SPARE_CHUNKS + 3);
            for b in again {
                a.dealloc(b, l(SMALL, 8));
            }
        });
    }

    #[test]
    fn when_the_source_runs_dry_small_blocks_come_from_the_system() {
        with_arena(1, |a, _| unsafe {
            let first = a.alloc(l(SMALL, 8));
            let rest: Vec<_> = (0..20).map(|_| a.alloc(l(SMALL, 8))).collect();
            assert!(a.owns(&*a.state.get(), first as usize));
            let outside = rest
                .iter()
                .filter(|p| !a.owns(&*a.state.get(), **p as usize))
                .count();
            assert!(outside > 10);
            for p in rest {
                p.write_bytes(1, SMALL);
                a.dealloc(p, l(SMALL, 8));
            }
            a.dealloc(first, l(SMALL, 8));
        });
    }

    #[test]
    fn a_randomised_workload_keeps_every_block_intact() {
        // Blocks of varied sizes and lifetimes, each filled with its own
        // byte; every byte is checked before the block is freed or moved.
        with_arena(64, |a, r| unsafe {
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
            for step in 0..200_000u32 {
                let roll = next();
                if live.is_empty() || roll % 3 != 0 {
                    let size = match roll % 10 {
                        0 => 1 + (next() as usize % (SMALL * 2)),
                        _ => 1 + (next() as usize % 200),
                    };
                    let align = 1 << (next() % 5);
                    let layout = l(size, align);
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0);
                    let tag = step as u8;
                    p.write_bytes(tag, size);
                    live.push((p, layout, tag));
                } else {
                    let i = next() as usize % live.len();
                    let (p, layout, tag) = live.swap_remove(i);
                    assert!(
                        (0..layout.size()).all(|k| *p.add(k) == tag),
                        "block corrupted"
                    );
                    if roll % 2 == 0 {
                        a.dealloc(p, layout);
                    } else {
                        let new_size = 1 + (next() as usize % 400);
                        let q = a.realloc(p, layout, new_size);
                        let kept = layout.size().min(new_size);
                        assert!((0..kept).all(|k| *q.add(k) == tag), "realloc lost bytes");
                        q.write_bytes(tag, new_size);
                        live.push((q, l(new_size, layout.align()), tag));
                    }
                }
            }
            for (p, layout, tag) in live {
                assert!((0..layout.size()).all(|k| *p.add(k) == tag));
                a.dealloc(p, layout);
            }
            // Everything freed: only the current chunk and spares remain.
            assert!(a.chunks() <= SPARE_CHUNKS + 1);
            assert_eq!(*r.handed.borrow(), a.chunks());
        });
    }
}
