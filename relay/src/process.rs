// SPDX-License-Identifier: MPL-2.0
//! Process-wide settings for a relay of many stations (libc calls declared here,
//! as in `signals`, rather than a crate for two functions).

use std::ffi::c_int;

unsafe extern "C" {
    fn getrlimit(resource: c_int, rlim: *mut RLimit) -> c_int;
    fn setrlimit(resource: c_int, rlim: *const RLimit) -> c_int;
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn mallopt(param: c_int, value: c_int) -> c_int;
}

/// `struct rlimit` (two `rlim_t`, 64-bit on every 64-bit Linux target).
#[repr(C)]
struct RLimit {
    cur: u64,
    max: u64,
}

const RLIMIT_NOFILE: c_int = 7;

/// Raises the soft limit of open files to the hard limit (each station holds a few
/// sockets and pipes; the soft limit is often 1024). Returns the new soft limit.
pub fn raise_fd_limit() -> Option<u64> {
    if !cfg!(all(target_os = "linux", target_pointer_width = "64")) {
        return None;
    }
    let mut r = RLimit { cur: 0, max: 0 };
    // SAFETY: plain libc calls with a valid pointer to a correctly laid out struct.
    unsafe {
        if getrlimit(RLIMIT_NOFILE, &mut r) != 0 {
            return None;
        }
        if r.cur < r.max {
            let want = RLimit {
                cur: r.max,
                max: r.max,
            };
            if setrlimit(RLIMIT_NOFILE, &want) == 0 {
                return Some(r.max);
            }
        }
    }
    Some(r.cur)
}

/// glibc's `M_ARENA_MAX`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const M_ARENA_MAX: c_int = -8;

/// Limits glibc's malloc arenas to the number of CPUs (at least 2), unless
/// `MALLOC_ARENA_MAX` is set. glibc gives threads up to 8 arenas per CPU; a relay
/// has hundreds of streaming threads, and input reconnections start new ones, so
/// memory freed in one arena is not reused by the next thread and the RSS creeps
/// up. Measured (benches, 20 passthrough stations): 166 MiB instead of 180, the
/// same CPU; 50 outages of both inputs of a decode station: +3 MiB and flat,
/// instead of +10 MiB and still growing. Returns the limit set.
pub fn limit_malloc_arenas() -> Option<usize> {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return None;
    }
    let n = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: a plain libc call; called once at start, before the streaming threads.
        if unsafe { mallopt(M_ARENA_MAX, n as c_int) } == 1 {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_set() {
        let files = raise_fd_limit().unwrap();
        assert!(files >= 256, "{files}");
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() && cfg!(target_env = "gnu") {
            assert!(limit_malloc_arenas().is_some_and(|n| n >= 2));
        }
    }
}
