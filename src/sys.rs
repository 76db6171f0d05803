//! The only module with `unsafe`: fork, process-death signal, shared memory,
//! signal dispositions, adopting raw descriptors, a child's set-up between
//! fork and exec, and tuning malloc. Each block says why it is sound; callers
//! get safe, typed functions.

#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::{ForkResult, Pid};

/// Takes ownership of a descriptor that a syscall has just returned.
///
/// Only for the result of a call that creates a new descriptor (open,
/// openat2, socket, accept...), which nothing else owns yet.
pub(crate) fn adopt(fd: nix::Result<RawFd>) -> nix::Result<OwnedFd> {
    let fd = fd?;
    // SAFETY: `fd` was just returned by a syscall that creates a descriptor;
    // no other owner exists, so `OwnedFd` may close it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Set once [`take_inherited_fds`] has run: the descriptors handed over
/// at exec are taken once.
static INHERITED_TAKEN: AtomicBool = AtomicBool::new(false);

/// Takes ownership of descriptors handed to this process across `exec`
/// (systemd's socket activation, sd_listen_fds(3), or the previous binary
/// during an upgrade), and marks them close-on-exec.
///
/// A number is taken only if it is 3 or more, open, and without
/// close-on-exec: every descriptor Rust's standard library or this crate
/// opens has close-on-exec, so one without it was inherited, and nothing
/// in this process owns it. Works once per process: later calls take
/// nothing.
pub(crate) fn take_inherited_fds(fds: &[RawFd]) -> Vec<std::io::Result<OwnedFd>> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    let first = !INHERITED_TAKEN.swap(true, Ordering::SeqCst);
    fds.iter()
        .map(|&fd| {
            if !first {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "inherited descriptors taken already",
                ));
            }
            if fd < 3 {
                return Err(std::io::Error::from_raw_os_error(libc::EBADF));
            }
            let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD)?);
            if flags.contains(FdFlag::FD_CLOEXEC) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("descriptor {fd} was not inherited"),
                ));
            }
            fcntl(fd, FcntlArg::F_SETFD(flags | FdFlag::FD_CLOEXEC))?;
            // SAFETY: `fd` is open and was inherited across exec (no
            // close-on-exec, which everything this process opens has), so
            // nothing in this process owns it; the guard above makes sure
            // it is taken only once.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .collect()
}

/// Whether this process is the child or the parent after [`fork`].
pub enum Forked {
    /// In the new process.
    Child,
    /// In the parent, with the child's pid.
    Parent(Pid),
}

/// Forks the process.
///
/// Must be called while the process has a single thread: forkftp's
/// supervisor never starts threads, and neither does anything before it.
pub fn fork() -> nix::Result<Forked> {
    // SAFETY: the process is single-threaded (see above), so the child
    // cannot inherit a lock held by another thread.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => Ok(Forked::Child),
        ForkResult::Parent { child } => Ok(Forked::Parent(child)),
    }
}

/// Asks the kernel to send `sig` to this process when its parent dies
/// (`PR_SET_PDEATHSIG`), so that a killed supervisor leaves no worker behind.
pub fn die_with_parent(sig: Signal) -> nix::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches
    // no memory of ours.
    let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) };
    Errno::result(r).map(drop)
}

/// Makes the process `cmd` spawns die with `sig` when its parent (this
/// process) dies (`PR_SET_PDEATHSIG`, set between fork and exec), so that
/// `ftpslaves` leaves no orphan slave even when killed with SIGKILL.
pub fn spawn_dying_with_parent(cmd: &mut std::process::Command, sig: Signal) {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid().as_raw();
    // SAFETY: the closure runs in the child between fork and exec; it only
    // calls prctl and getppid, which are async-signal-safe, and allocates
    // nothing (the error is built from a plain number).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died before prctl: do not start at all.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// A region of anonymous memory shared between the supervisor and the
/// workers it forks afterwards (`mmap(MAP_SHARED | MAP_ANONYMOUS)`).
///
/// Holds `len` values of `T`, zero-initialized. `T` must be valid when all
/// its bytes are zero and must only be changed through atomics, since other
/// processes read and write it at the same time.
pub struct SharedSlice<T> {
    ptr: NonNull<T>,
    len: usize,
}

/// Marker for types that may live in a [`SharedSlice`]: valid as all-zero
/// bytes, and every field an atomic (so `&T` can be shared across processes).
/// Implemented here for the atomics and arrays of them; a struct of those
/// gets it from [`shared_struct!`], which checks every field.
///
/// # Safety
/// Implement only for `#[repr(C)]` types made of atomics and arrays of
/// atomics, for which all-zero bytes are a valid value.
pub unsafe trait ZeroedAtomic: Sync {}

// SAFETY: an atomic integer is its integer's bytes, and 0 is a valid value.
unsafe impl ZeroedAtomic for std::sync::atomic::AtomicU8 {}
// SAFETY: as above.
unsafe impl ZeroedAtomic for std::sync::atomic::AtomicI32 {}
// SAFETY: as above.
unsafe impl ZeroedAtomic for std::sync::atomic::AtomicU32 {}
// SAFETY: as above.
unsafe impl ZeroedAtomic for std::sync::atomic::AtomicU64 {}
// SAFETY: an array is its elements side by side, each valid when zeroed.
unsafe impl<T: ZeroedAtomic, const N: usize> ZeroedAtomic for [T; N] {}

/// Declares a `#[repr(C)]` struct of atomics (and arrays of them) that may
/// live in a [`SharedSlice`]: it implements [`ZeroedAtomic`] for it, and the
/// compiler refuses a field that is not `ZeroedAtomic` itself. This keeps
/// the `unsafe impl` here while the struct lives with its users (the
/// pool's scoreboard).
macro_rules! shared_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        // SAFETY: `repr(C)`, and every field is `ZeroedAtomic` (the bounds
        // below), so all-zero bytes (padding included) are a valid value
        // and every change goes through an atomic.
        #[allow(unsafe_code)]
        unsafe impl $crate::sys::ZeroedAtomic for $name where $($ty: $crate::sys::ZeroedAtomic),* {}
    };
}
pub(crate) use shared_struct;

// SAFETY: the region holds only atomics (`ZeroedAtomic`), which any thread
// may read and write through `&T`; the pointer is owned by the value and
// unmapped once, on drop.
unsafe impl<T: ZeroedAtomic> Send for SharedSlice<T> {}
// SAFETY: as above; `get` hands out shared references to atomics only.
unsafe impl<T: ZeroedAtomic> Sync for SharedSlice<T> {}

impl<T: ZeroedAtomic> SharedSlice<T> {
    /// Maps a new zeroed shared region of `len` values.
    pub fn new(len: usize) -> nix::Result<Self> {
        Self::map(len, nix::sys::mman::MapFlags::MAP_SHARED)
    }

    /// Maps a zeroed region of `len` values that this process alone uses:
    /// private, and not even inherited by the processes it forks
    /// (`MADV_DONTFORK`). The supervisor keeps its own records there: a page
    /// it rewrites between two forks would otherwise stay behind, unshared,
    /// in every worker forked before (copy-on-write works both ways).
    pub fn parent_only(len: usize) -> nix::Result<Self> {
        let region = Self::map(len, nix::sys::mman::MapFlags::MAP_PRIVATE)?;
        let bytes = std::mem::size_of::<T>() * len.max(1);
        // SAFETY: the range is exactly the mapping just made, which nothing
        // else uses yet; MADV_DONTFORK changes no content.
        unsafe { nix::sys::mman::madvise(region.ptr.cast(), bytes, nix::sys::mman::MmapAdvise::MADV_DONTFORK)? };
        Ok(region)
    }

    fn map(len: usize, kind: nix::sys::mman::MapFlags) -> nix::Result<Self> {
        let bytes = std::mem::size_of::<T>().checked_mul(len.max(1)).ok_or(Errno::ENOMEM)?;
        let size = std::num::NonZeroUsize::new(bytes).ok_or(Errno::EINVAL)?;
        use nix::sys::mman::{mmap_anonymous, ProtFlags};
        // SAFETY: a fresh anonymous mapping aliases nothing; the kernel
        // zero-fills it, which is a valid `T` by the `ZeroedAtomic` contract.
        let ptr = unsafe { mmap_anonymous(None, size, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, kind)? };
        Ok(SharedSlice { ptr: ptr.cast(), len })
    }

    /// The shared values.
    pub fn get(&self) -> &[T] {
        // SAFETY: the mapping holds `len` initialized `T`s for as long as
        // `self` lives; `T` is only mutated through atomics.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for SharedSlice<T> {
    fn drop(&mut self) {
        let bytes = std::mem::size_of::<T>() * self.len.max(1);
        // SAFETY: the region was mapped by `new` with this size and nothing
        // borrowed from it outlives `self`.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), bytes) };
    }
}

/// Set by SIGTERM/SIGINT: stop now, cutting the session with 421.
static STOP_NOW: AtomicBool = AtomicBool::new(false);
/// Set by SIGQUIT: finish the running transfer, then close with 421.
static DRAIN: AtomicBool = AtomicBool::new(false);
/// Set by SIGHUP: finish the running session, accept no new client.
static RETIRE: AtomicBool = AtomicBool::new(false);
/// Set by SIGUSR1: reopen the log file.
static REOPEN: AtomicBool = AtomicBool::new(false);
/// Set by SIGUSR2: the supervisor reclaims this worker, if its client has
/// not logged in yet (see `pool::reclaim`).
static RECLAIM: AtomicBool = AtomicBool::new(false);
/// The worker's listening socket, and a descriptor of /dev/null: once the
/// worker must take no new client, the handler puts the second over the
/// first (see [`close_listener_on_retire`]).
static LISTEN_FD: AtomicI32 = AtomicI32::new(-1);
static NULL_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn worker_signal(sig: libc::c_int) {
    // Only async-signal-safe work: atomic stores and dup2.
    match sig {
        libc::SIGTERM | libc::SIGINT => STOP_NOW.store(true, Ordering::SeqCst),
        libc::SIGQUIT => DRAIN.store(true, Ordering::SeqCst),
        libc::SIGUSR1 => {
            REOPEN.store(true, Ordering::SeqCst);
            return;
        }
        libc::SIGUSR2 => {
            RECLAIM.store(true, Ordering::SeqCst);
            return;
        }
        _ => RETIRE.store(true, Ordering::SeqCst),
    }
    let (listen, null) = (LISTEN_FD.load(Ordering::SeqCst), NULL_FD.load(Ordering::SeqCst));
    if listen >= 0 && null >= 0 {
        // SAFETY: dup2 is async-signal-safe and only replaces the worker's own
        // copy of the listening descriptor, which it never closes itself.
        unsafe { libc::dup2(null, listen) };
    }
}

/// Makes a retiring worker unable to take another client, even if the
/// signal lands between its last look at the flags and its next `accept`:
/// the signal handler puts /dev/null over the worker's copy of `listen`, so
/// that `accept` fails at once (ENOTSOCK) instead of blocking. Call before
/// [`install_worker_signals`].
pub fn close_listener_on_retire(listen: RawFd) -> nix::Result<()> {
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    NULL_FD.store(null, Ordering::SeqCst);
    LISTEN_FD.store(listen, Ordering::SeqCst);
    Ok(())
}

/// Installs the worker's handlers: SIGTERM/SIGINT ask for a fast stop,
/// SIGQUIT for a stop once the running transfer is done, SIGHUP for a stop
/// once the running session is done, SIGUSR1 for reopening the log, SIGUSR2
/// for giving up a client that has not logged in. They are installed without
/// `SA_RESTART`, so a blocked `accept`, `read` or `poll` returns `EINTR` and
/// the worker notices at once. SIGPIPE is ignored (a vanished client is an
/// `EPIPE`, not a dead worker); every other handler inherited from the
/// supervisor is reset to its default.
pub fn install_worker_signals() -> nix::Result<()> {
    let handler = SigAction::new(SigHandler::Handler(worker_signal), SaFlags::empty(), SigSet::empty());
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: `worker_signal` only stores to atomics, which is
    // async-signal-safe; the other dispositions install no code.
    unsafe {
        for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT, Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2]
        {
            signal::sigaction(sig, &handler)?;
        }
        for sig in [Signal::SIGCHLD, Signal::SIGALRM] {
            signal::sigaction(sig, &default)?;
        }
        signal::sigaction(Signal::SIGPIPE, &ignore)?;
    }
    signal::sigprocmask(signal::SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
}

/// Makes malloc serve every block of `bytes` or more with its own mapping,
/// unmapped when freed (`mallopt(M_MMAP_THRESHOLD)`). glibc otherwise
/// raises that threshold to the size of each big block freed, and serves
/// the next ones from its heap, which keeps them once freed.
pub fn fixed_mmap_threshold(bytes: usize) {
    let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets a tuning parameter of glibc's allocator
    // (under its lock); it takes no pointer of ours.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, bytes);
    }
}

/// Gives the memory malloc holds free back to the kernel (`malloc_trim`):
/// the top of the heap is cut and free pages inside it are dropped, so that
/// a worker holds no leftover buffers between clients.
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own heap under its lock; it
    // takes no pointer of ours and is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Ignores SIGPIPE in the current process (the client and the supervisor
/// want `EPIPE` errors, not death).
pub fn ignore_sigpipe() -> nix::Result<()> {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN installs no code.
    unsafe { signal::sigaction(Signal::SIGPIPE, &ignore) }.map(drop)
}

/// True once SIGTERM or SIGINT reached this worker: cut everything now.
pub fn stop_now() -> bool {
    STOP_NOW.load(Ordering::SeqCst)
}

/// True once the session must end after the running transfer (SIGQUIT, or
/// a fast stop).
pub fn draining() -> bool {
    DRAIN.load(Ordering::SeqCst) || stop_now()
}

/// True once the worker must take no new client (SIGHUP, SIGQUIT, SIGTERM).
pub fn retiring() -> bool {
    RETIRE.load(Ordering::SeqCst) || draining()
}

/// True when the supervisor asked (SIGUSR2) for this worker's client,
/// which has not logged in, to be given up for a waiting newcomer.
pub fn reclaim_requested() -> bool {
    RECLAIM.load(Ordering::SeqCst)
}

/// Forgets a reclaim request (a new session begins, or the client logged in
/// before the request arrived).
pub fn clear_reclaim() {
    RECLAIM.store(false, Ordering::SeqCst);
}

/// True (once) if SIGUSR1 asked for the log file to be reopened since the
/// last call.
pub fn reopen_asked() -> bool {
    REOPEN.swap(false, Ordering::SeqCst)
}

/// Clients waiting in the accept queue of the listening TCP socket `fd`:
/// connections the kernel completed that no `accept` has taken yet. For a
/// socket in the LISTEN state, Linux's `TCP_INFO` reports that count as
/// `tcpi_unacked` (and the backlog as `tcpi_sacked`), with no lock taken.
pub fn accept_queue_len(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: all-zero bytes are a valid `tcp_info` (plain integers).
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a writable `tcp_info` of `len` bytes, and the kernel
    // writes at most `len` bytes into it; `fd` is borrowed, so it stays open.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    Errno::result(r)?;
    // `TCP_LISTEN` of the kernel's `enum tcp_state` (include/net/tcp_states.h).
    const TCP_LISTEN: u8 = 10;
    if info.tcpi_state != TCP_LISTEN {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    Ok(info.tcpi_unacked as usize)
}

/// Asks the kernel to report the socket `fd` readable only once `bytes`
/// are waiting (or at its end), not at every packet (`SO_RCVLOWAT`).
pub fn set_recv_low_water(fd: std::os::fd::BorrowedFd<'_>, bytes: usize) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `v` is a c_int that outlives the call, and its size is given;
    // `fd` is borrowed, so it stays open.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    Errno::result(r).map(drop).map_err(std::io::Error::from)
}

/// Bytes waiting to be read on the socket `fd` (`FIONREAD`).
pub fn bytes_waiting(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points
    // to `n`; `fd` is borrowed, so it stays open.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n as *mut libc::c_int) };
    Errno::result(r)?;
    Ok(n.max(0) as usize)
}

/// Starts writing the dirty pages of the file `fd` to disk without waiting
/// for them (`sync_file_range(SYNC_FILE_RANGE_WRITE)` over the whole file).
pub fn start_writeback(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain integers; `fd` is borrowed, so it stays open.
    let r = unsafe { libc::sync_file_range(fd.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    Errno::result(r).map(drop).map_err(std::io::Error::from)
}

/// Sleeps while `word` (in memory shared between processes) holds
/// `expected`, at most `timeout` or until [`futex_wake`] or a signal
/// (`FUTEX_WAIT`, not private: the word may be in a `SharedSlice`).
pub fn futex_wait(word: &std::sync::atomic::AtomicU32, expected: u32, timeout: std::time::Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a live, aligned u32 for the whole call and `ts` a
    // valid timespec; FUTEX_WAIT only reads them. Errors (EAGAIN when the
    // value already changed, EINTR, ETIMEDOUT) all mean "look again".
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, &ts as *const libc::timespec);
    }
}

/// Wakes up to `n` processes sleeping in [`futex_wait`] on `word`.
pub fn futex_wake(word: &std::sync::atomic::AtomicU32, n: i32) {
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE reads nothing else.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n);
    }
}

/// Seconds of `CLOCK_MONOTONIC`: the same clock in every process of the
/// machine, so a time written to shared memory means the same to all.
pub fn monotonic_secs() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |ts| ts.tv_sec() as u64)
}

/// In a child that is not a worker (the sweeper of stale uploads): the
/// supervisor's handlers are replaced by the default dispositions, so that
/// SIGTERM (from `PR_SET_PDEATHSIG` too) simply ends it.
pub fn default_signals() -> nix::Result<()> {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_DFL installs no code.
    unsafe {
        for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT, Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2]
        {
            signal::sigaction(sig, &default)?;
        }
    }
    signal::sigprocmask(signal::SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
}
