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
///
/// # Safety
/// Implement only for `#[repr(C)]` types made of atomics and arrays of
/// atomics, for which all-zero bytes are a valid value.
pub unsafe trait ZeroedAtomic: Sync {}

// SAFETY: the scoreboard's `Slot` is `repr(C)`, made only of atomics and
// arrays of atomics, and all-zero bytes are a valid free slot.
unsafe impl ZeroedAtomic for crate::pool::scoreboard::Slot {}

// SAFETY: plain atomics; all-zero bytes are the value 0.
unsafe impl ZeroedAtomic for std::sync::atomic::AtomicU32 {}
// SAFETY: as above.
unsafe impl ZeroedAtomic for std::sync::atomic::AtomicU64 {}

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

/// Reopens the log file if SIGUSR1 asked for it since the last call.
pub fn reopen_log_if_asked() {
    if REOPEN.swap(false, Ordering::SeqCst) {
        if let Err(e) = crate::logging::reopen() {
            log::error!("reopening the log: {e}");
        }
    }
}

/// The connections waiting in a listening socket's accept queue, and the
/// queue's size (`TCP_INFO` of a listener: `tcpi_unacked`, `tcpi_sacked`).
pub fn accept_queue(listener: &impl std::os::fd::AsFd) -> nix::Result<(u32, u32)> {
    use std::os::fd::AsRawFd;
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which is
    // that large and zero-initialized (every bit pattern is a valid
    // tcp_info: it holds only integers).
    let r = unsafe {
        libc::getsockopt(
            listener.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    Errno::result(r)?;
    // SAFETY: zero-initialized above and possibly filled by the kernel.
    let info = unsafe { info.assume_init() };
    Ok((info.tcpi_unacked, info.tcpi_sacked))
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
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into `ts`, which is valid.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if r == 0 {
        ts.tv_sec as u64
    } else {
        0
    }
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
