// SPDX-License-Identifier: MPL-2.0
//! SIGINT/SIGTERM/SIGHUP as GLib main-loop sources, without extra crates: GLib's own
//! `g_unix_signal_add_full` (libglib-2.0 is already linked through glib-sys).

use gst::glib;
use std::ffi::{c_int, c_uint, c_void};

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

type SourceFunc = unsafe extern "C" fn(*mut c_void) -> c_int;
type DestroyNotify = unsafe extern "C" fn(*mut c_void);

unsafe extern "C" {
    fn g_unix_signal_add_full(
        priority: c_int,
        signum: c_int,
        handler: SourceFunc,
        user_data: *mut c_void,
        notify: DestroyNotify,
    ) -> c_uint;
}

type Callback = Box<dyn FnMut() -> glib::ControlFlow + 'static>;

unsafe extern "C" fn trampoline(data: *mut c_void) -> c_int {
    // SAFETY: `data` is the Box<Callback> leaked in `add_local` and freed in `destroy`.
    let cb = unsafe { &mut *(data as *mut Callback) };
    match cb() {
        glib::ControlFlow::Continue => 1,
        glib::ControlFlow::Break => 0,
    }
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    // SAFETY: called once by GLib when the source is removed.
    drop(unsafe { Box::from_raw(data as *mut Callback) });
}

/// Calls `f` on the default main context whenever `signum` arrives.
pub fn add_local<F: FnMut() -> glib::ControlFlow + 'static>(signum: i32, f: F) {
    let cb: Box<Callback> = Box::new(Box::new(f));
    // SAFETY: GLib takes ownership of the pointer and calls `destroy` exactly once.
    unsafe {
        g_unix_signal_add_full(
            0,
            signum,
            trampoline,
            Box::into_raw(cb) as *mut c_void,
            destroy,
        );
    }
}
