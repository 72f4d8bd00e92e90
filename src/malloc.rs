//! The process's dealings with glibc's allocator. First, one setting: allocations of 64 KiB
//! and more are mapped on their own (`M_MMAP_THRESHOLD`), so freeing them gives the memory
//! back to the system at once.
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
//!
//! The second half is a trimmer thread for the long-running commands (`serve`, `up`): every
//! [`TRIM_PERIOD`] it calls `malloc_trim(0)`, which hands the free pages in the middle of the
//! heaps back to the system (glibc by itself only returns the top of a heap). A burst of
//! logins leaves such pages behind: buffers of the handshake and of the first commands, freed
//! when the sessions park, between the allocations of the sessions that stay. Measured with
//! `bench/idleconns.py` (10,000 idle clients, release build, fresh process): 83.4 MB RSS
//! without it, 76.3 MB with it; after the 10,000 clients left, 82.9 MB stayed resident
//! without it, 18.4 MB with it.

/// The size from which an allocation gets its own mapping.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 64 * 1024;

/// How often the trimmer thread returns free heap pages to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_PERIOD: std::time::Duration = std::time::Duration::from_secs(10);

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

/// Starts the trimmer thread (glibc on Linux only). It runs until the process exits: a trim
/// cut short by the exit loses nothing.
pub fn start_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new()
            .name("myquorum-trim".to_owned())
            .spawn(trim_forever);
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the heap trimmer thread; running without it");
        }
    }
}

/// Every [`TRIM_PERIOD`]: trims when at least [`TRIM_FREED`] more heap memory is free than
/// right after the previous trim (or than the least seen since). A trim walks every free
/// chunk with its arena locked (6–37 ms with a heap fragmented by 10,000 sessions, measured)
/// and would re-release the same pages each time; counting the free bytes (`mallinfo2`) is a
/// walk without system calls, so a proxy whose heap does not change is left alone.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_forever() {
    let mut baseline = free_heap_bytes();
    loop {
        std::thread::sleep(TRIM_PERIOD);
        let free = free_heap_bytes();
        baseline = baseline.min(free);
        if !worth_trimming(free, baseline) {
            continue;
        }
        let started = std::time::Instant::now();
        // SAFETY: malloc_trim only releases free memory of the allocator's own heaps; it is
        // thread-safe (it takes each arena's lock) and has no preconditions.
        #[allow(unsafe_code)]
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(
            free_mb = free >> 20,
            released = released != 0,
            took_us = started.elapsed().as_micros() as u64,
            "heap trimmed"
        );
        baseline = free;
    }
}

/// Free bytes inside glibc's heaps, all arenas (mapped chunks not included).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn free_heap_bytes() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics (under each arena's lock).
    #[allow(unsafe_code)]
    let info = unsafe { libc::mallinfo2() };
    info.fordblks
}

/// Free heap memory that appeared since the last trim and makes the next one worth its walk.
const TRIM_FREED: usize = 4 << 20;

/// Whether `free` bytes of free heap, against `baseline` (free right after the last trim, or
/// the least since), call for a trim.
fn worth_trimming(free: usize, baseline: usize) -> bool {
    free.saturating_sub(baseline) >= TRIM_FREED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_when_enough_new_memory_is_free() {
        assert!(!worth_trimming(0, 0));
        assert!(!worth_trimming(TRIM_FREED - 1, 0));
        assert!(worth_trimming(TRIM_FREED, 0));
        assert!(
            !worth_trimming(60 << 20, 58 << 20),
            "2 MB more free: not worth it"
        );
        assert!(
            worth_trimming(64 << 20, 8 << 20),
            "10,000 sessions left: trim"
        );
        assert!(!worth_trimming(usize::MAX, usize::MAX), "no overflow");
    }
}
