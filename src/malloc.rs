//! The process's one setting of glibc's allocator: allocations of 64 KiB and more are
//! mapped on their own (`M_MMAP_THRESHOLD`), so freeing them gives the memory back to the
//! system at once.
//!
//! Why: every client connection's read buffer grows to 64 KiB while it runs commands and is
//! freed when the session parks (`pool.multiplex_idle_ms`). From the heap, thousands of those
//! freed buffers stay resident as holes between the small allocations of the sessions that
//! remain, and glibc only returns the top of the heap. Measured with `bench/idleconns.py`
//! (5,000 idle clients, release build): 16.8 KB of RSS per idle client with glibc's
//! defaults, 8.6 KB with this setting; `oltp_point_select` QPS and CPU per query unchanged
//! (see `bench/README.md`). Setting the threshold also turns off glibc's dynamic threshold,
//! which would otherwise rise to the size of the first mapped buffer freed and undo it.
//!
//! `GLIBC_TUNABLES` with `glibc.malloc.mmap_threshold` set wins: the operator chose.

/// The size from which an allocation gets its own mapping.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 64 * 1024;

/// Applies the setting (glibc on Linux only; elsewhere the platform's allocator is left as
/// it is). Call once, first thing in `main`.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let chosen = std::env::var("GLIBC_TUNABLES")
            .is_ok_and(|t| t.contains("glibc.malloc.mmap_threshold"));
        if !chosen {
            // SAFETY: mallopt only sets a parameter of the allocator; it is thread-safe
            // (glibc takes the arena locks) and has no memory-safety preconditions.
            #[allow(unsafe_code)]
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            }
        }
    }
}
