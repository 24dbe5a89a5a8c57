// SPDX-License-Identifier: MPL-2.0
//! Many stations in one process: the stations file ([`file`]: TOML, one
//! `[[station]]` table each), what a reload changes ([`diff`]) and the running set
//! on the main loop ([`fleet`]): each station has its own pipeline and output, a
//! station that fails is started again after a delay without touching the others,
//! SIGHUP re-reads the file and starts, stops or restarts only the stations whose
//! table changed (a bad file is refused and the running set kept).

pub mod diff;
pub mod file;
pub mod fleet;
