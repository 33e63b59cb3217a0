//! A small persistent thread pool that splits one kernel call over a few threads.
//!
//! [`run`] executes `f(c)` once for every chunk `c < n_chunks` on up to `parts` threads: the
//! calling thread (participant 0) plus `parts - 1` pool workers (participants 1, 2, ...). The
//! chunks are dealt out in contiguous blocks, one block per participant, and each participant
//! first works through its own block in increasing order, so a worker touches the same part of
//! the data on every call (it stays in that core's L2: a dense layer's weights, for instance).
//! A participant that finishes its block takes what is still unclaimed in the others' blocks,
//! from their ends (each chunk has a claim flag). So a worker that is slow to start (parked,
//! or without a free core on a busy machine) costs no waiting: the caller does its share, and
//! [`run`] only waits for chunks that were actually started elsewhere.
//!
//! Why not rayon: a parked rayon worker takes tens of microseconds to wake, and a scope must
//! wait for every job it spawned even if the caller could have done the work by then; for a
//! call of a few tens of microseconds that wait eats the whole gain (measurements:
//! `docs/benchmark.md`, "Rust kernels"). Here workers spin for [`SPIN`] after each job before
//! parking (back-to-back calls hand over in well under a microsecond:
//! `examples/pool_overhead.rs`), and a late worker's chunks are simply done by the caller.
//!
//! A worker that finds itself on the caller's own core (schedulers do that when another
//! process holds the other cores, e.g. Linux autogroups balancing sessions rather than threads)
//! leaves the chunks to the caller and makes the next [`COLOCATED_BACKOFF`] calls run on the
//! caller alone: two threads taking turns on one core only lose time.
//!
//! Workers are started lazily, the first time a call asks for them, and live for the rest of
//! the process. Only one call uses the pool at a time; a call from another thread while it is
//! busy runs on its own thread. After a `fork` the child's pool starts afresh.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// Most threads one call can use (the caller included).
pub const MAX_THREADS: usize = 64;
/// Most chunks one call can be split into.
pub const MAX_CHUNKS: usize = 1024;
/// How long an idle worker keeps polling for the next job before it parks: long enough to
/// bridge the Python code between back-to-back calls, short enough that a worker the
/// scheduler put on the caller's own core (it does, on a shared machine: autogroups balance
/// sessions, not threads) takes little from the caller.
pub const SPIN: Duration = Duration::from_micros(50);

use Ordering::{Acquire, Relaxed, SeqCst};

/// After a worker finds itself on the caller's core, this many calls run on the caller
/// alone before the pool is tried again.
pub const COLOCATED_BACKOFF: u32 = 64;

static COLOCATION_CHECK: AtomicBool = AtomicBool::new(true);

/// Turns the co-location back-off on (the default) or off; for tests that need the workers to
/// take chunks whatever the scheduler does.
#[doc(hidden)]
pub fn set_colocation_check(on: bool) {
    COLOCATION_CHECK.store(on, Relaxed);
    POOL.backoff.store(0, Relaxed);
}

/// The CPU this thread runs on now, if the OS says (`usize::MAX` otherwise).
fn current_cpu() -> usize {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getcpu takes no arguments and only reads the calling thread's state.
        let c = unsafe { libc::sched_getcpu() };
        usize::try_from(c).unwrap_or(usize::MAX)
    }
    #[cfg(not(target_os = "linux"))]
    {
        usize::MAX
    }
}

/// The type-erased job: `call(data, c)` runs chunk `c` of the closure behind `data`.
type Trampoline = unsafe fn(*const (), usize);

struct Pool {
    /// Bumped (SeqCst) for every job: what idle workers wait for.
    seq: AtomicU64,
    /// True while the current job may still be joined by a worker.
    open: AtomicBool,
    /// Workers between "joined a job" and "left it"; the caller returns only at zero.
    inside: AtomicUsize,
    /// The current job (valid while `open`, see the protocol in `run`).
    data: AtomicPtr<()>,
    call: AtomicUsize,
    n_chunks: AtomicUsize,
    parts: AtomicUsize,
    /// Claim flag per chunk: the participant whose swap returns `false` runs it.
    claimed: [AtomicBool; MAX_CHUNKS],
    /// A chunk panicked on a worker; the caller re-raises.
    panicked: AtomicBool,
    /// Per worker: parked (or about to park), so the caller must unpark it.
    sleeping: [AtomicBool; MAX_THREADS],
    /// The CPU the caller of the current job runs on.
    caller_cpu: AtomicUsize,
    /// The caller's floating-point mode (MXCSR on x86-64: FTZ, DAZ, rounding), which a
    /// worker takes on for the job so that every chunk is computed as the caller would.
    fp_mode: AtomicU32,
    /// Calls left to run on the caller alone (see [`COLOCATED_BACKOFF`]).
    backoff: AtomicU32,
    /// Calls that asked for more than one thread (for tests).
    split_calls: AtomicU64,
    /// The caller side: one call at a time; the worker handles and the pid they belong to.
    caller: Mutex<Workers>,
}

struct Workers {
    pid: u32,
    threads: Vec<Thread>,
}

static POOL: Pool = Pool {
    seq: AtomicU64::new(0),
    open: AtomicBool::new(false),
    inside: AtomicUsize::new(0),
    data: AtomicPtr::new(std::ptr::null_mut()),
    call: AtomicUsize::new(0),
    n_chunks: AtomicUsize::new(0),
    parts: AtomicUsize::new(0),
    claimed: [const { AtomicBool::new(false) }; MAX_CHUNKS],
    panicked: AtomicBool::new(false),
    sleeping: [const { AtomicBool::new(false) }; MAX_THREADS],
    caller_cpu: AtomicUsize::new(usize::MAX),
    fp_mode: AtomicU32::new(0),
    backoff: AtomicU32::new(0),
    split_calls: AtomicU64::new(0),
    caller: Mutex::new(Workers {
        pid: 0,
        threads: Vec::new(),
    }),
};

/// 0 = not set yet (then the CPUs available to this process, looked up once).
static NUM_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Threads a large call may use: the last [`set_num_threads`], else the CPUs available to
/// this process (`std::thread::available_parallelism`, looked up on first use).
pub fn num_threads() -> usize {
    match NUM_THREADS.load(Relaxed) {
        0 => {
            let n = thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_THREADS);
            // A concurrent set_num_threads wins.
            let _ = NUM_THREADS.compare_exchange(0, n, Relaxed, Relaxed);
            NUM_THREADS.load(Relaxed)
        }
        n => n,
    }
}

/// Lets large calls use up to `n` threads, the caller included (clamped to
/// `1..=`[`MAX_THREADS`]; 1 = never split). Process-wide; workers start when first needed.
pub fn set_num_threads(n: usize) {
    NUM_THREADS.store(n.clamp(1, MAX_THREADS), Relaxed);
}

/// The chunks of participant `p` when `n` chunks are shared by `parts` participants.
fn block(p: usize, n: usize, parts: usize) -> (usize, usize) {
    (p * n / parts, (p + 1) * n / parts)
}

/// Claims chunk `c`; true if this participant now owns it.
fn claim(c: usize) -> bool {
    !POOL.claimed[c].swap(true, Relaxed)
}

/// Participant `p`'s share of the current job: its own block in order, then whatever is left
/// of the other blocks, taken from their ends.
///
/// # Safety
///
/// `call(data, c)` must be sound for every `c < n` not run by anyone else (the claim flags
/// guarantee "not by anyone else").
unsafe fn participate(p: usize, parts: usize, n: usize, call: Trampoline, data: *const ()) {
    let (lo, hi) = block(p, n, parts);
    for c in lo..hi {
        if claim(c) {
            // SAFETY: chunk c is ours alone (claimed); the caller vouches for the closure.
            unsafe { call(data, c) };
        }
    }
    for q in (1..parts).map(|d| (p + d) % parts) {
        let (lo, hi) = block(q, n, parts);
        for c in (lo..hi).rev() {
            if claim(c) {
                // SAFETY: as above.
                unsafe { call(data, c) };
            }
        }
    }
}

fn trampoline<F: Fn(usize) + Sync>(data: *const (), c: usize) {
    // SAFETY (of the cast): `run` stores `&F` as `data` together with this very
    // monomorphization, and keeps the closure alive until every participant has left.
    let f = unsafe { &*data.cast::<F>() };
    f(c);
}

/// The body of worker `w` (participant `w + 1`): wait for a job, join it if it needs this
/// worker, repeat.
fn worker(w: usize) {
    let me = w + 1;
    let mut seen = POOL.seq.load(SeqCst);
    let mut idle_since = Instant::now();
    loop {
        // Wait for the next job: poll for SPIN, then park until the caller unparks us. The
        // polling is a plain spin, not `yield_now`: where another process keeps the other
        // core busy, a yield hands it that core for a whole time slice (ms).
        let mut polls = 0u32;
        loop {
            if POOL.seq.load(Acquire) != seen {
                break;
            }
            polls = polls.wrapping_add(1);
            if polls % 64 != 0 || idle_since.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            POOL.sleeping[w].store(true, SeqCst);
            if POOL.seq.load(SeqCst) == seen {
                thread::park(); // spurious wake-ups are fine: the loop re-checks
            }
            POOL.sleeping[w].store(false, SeqCst);
        }
        seen = POOL.seq.load(SeqCst);
        POOL.inside.fetch_add(1, SeqCst);
        let mut colocated = false;
        if POOL.open.load(SeqCst) {
            let parts = POOL.parts.load(Relaxed);
            let cpu = current_cpu();
            colocated = cpu != usize::MAX
                && cpu == POOL.caller_cpu.load(Relaxed)
                && COLOCATION_CHECK.load(Relaxed);
            if colocated {
                // The scheduler put us on the caller's own core (on a shared machine, another
                // process may hold the other one): working here would only take turns with
                // the caller. Leave the chunks to it, and tell it to stop asking for a while.
                POOL.backoff.store(COLOCATED_BACKOFF, Relaxed);
            } else if me < parts {
                let n = POOL.n_chunks.load(Relaxed);
                let data = POOL.data.load(Relaxed).cast_const();
                // SAFETY: `call` was stored from a `Trampoline` in `run` (same job: see the
                // protocol there), so transmuting it back gives that function pointer.
                let call: Trampoline =
                    unsafe { std::mem::transmute::<usize, Trampoline>(POOL.call.load(Relaxed)) };
                // SAFETY: the job is open and we are counted in `inside`, so `run` keeps the
                // closure alive until we leave; chunks are claimed before they run.
                let own = fp::mode();
                let job = POOL.fp_mode.load(Relaxed);
                if own != job {
                    fp::set_mode(job);
                }
                let r = catch_unwind(AssertUnwindSafe(|| unsafe {
                    participate(me, parts, n, call, data)
                }));
                if own != job {
                    fp::set_mode(own);
                }
                if r.is_err() {
                    POOL.panicked.store(true, SeqCst);
                }
            }
        }
        POOL.inside.fetch_sub(1, SeqCst);
        // Calls that want this worker keep coming: stay awake for the next one, even if we
        // were too late for this one (as after a park). The read is only a hint when the job
        // is already closed (an atomic, so harmless).
        if me < POOL.parts.load(Relaxed) && !colocated {
            idle_since = Instant::now();
        } else {
            // Park at once: do not spin on the caller's core.
            idle_since = Instant::now().checked_sub(SPIN).unwrap_or(idle_since);
        }
    }
}

/// Spawns workers until there are `want` of them (fewer if the OS refuses threads).
fn ensure_workers(ws: &mut Workers, want: usize) {
    let pid = std::process::id();
    if ws.pid != pid {
        // A forked child (or the first call): the parent's workers do not exist here, and no
        // call of this process is running (we hold the caller lock), so start afresh.
        ws.pid = pid;
        ws.threads.clear();
        POOL.inside.store(0, SeqCst);
        POOL.open.store(false, SeqCst);
        for s in &POOL.sleeping {
            s.store(false, SeqCst);
        }
    }
    while ws.threads.len() < want {
        let w = ws.threads.len();
        let spawned = thread::Builder::new()
            .name(format!("relukit-{}", w + 1))
            .spawn(move || worker(w));
        match spawned {
            Ok(h) => ws.threads.push(h.thread().clone()),
            Err(_) => break,
        }
    }
}

/// Runs `f(c)` exactly once for every `c < n_chunks`, on up to `parts` threads (this one
/// included), and returns when all have finished. `f` may run concurrently with itself (on
/// distinct chunks). Chunks are dealt out in contiguous blocks per thread (see the module
/// docs). A panic in `f` is re-raised here after every thread has left.
///
/// Runs everything on the calling thread if `parts <= 1`, `n_chunks <= 1`, or the pool is
/// busy with another call. Panics if `n_chunks > MAX_CHUNKS`.
pub fn run<F: Fn(usize) + Sync>(parts: usize, n_chunks: usize, f: F) {
    assert!(n_chunks <= MAX_CHUNKS, "relukit pool: too many chunks");
    let parts = parts.min(n_chunks).min(MAX_THREADS);
    if parts > 1 {
        POOL.split_calls.fetch_add(1, Relaxed);
    }
    let guard = if parts > 1 {
        POOL.caller.try_lock().ok()
    } else {
        None
    };
    let Some(mut ws) = guard else {
        (0..n_chunks).for_each(f);
        return;
    };
    if POOL.backoff.load(Relaxed) > 0 {
        POOL.backoff.fetch_sub(1, Relaxed);
        drop(ws);
        (0..n_chunks).for_each(f);
        return;
    }
    ensure_workers(&mut ws, parts - 1);
    let parts = parts.min(ws.threads.len() + 1);
    if parts <= 1 {
        (0..n_chunks).for_each(f);
        return;
    }

    // Protocol (all SeqCst unless noted). Invariant between calls: `open` is false and
    // `inside` is 0, so no worker reads the job fields or claim flags while we rewrite them.
    // A worker joins by incrementing `inside` and *then* checking `open`: if it sees the job
    // open, we cannot get past the wait below until it has left; if it sees it closed, it
    // touches nothing. So `f` (on our stack) is only used while we are still in here.
    for c in &POOL.claimed[..n_chunks] {
        c.store(false, Relaxed);
    }
    let call: Trampoline = trampoline::<F>;
    POOL.data.store((&f as *const F).cast_mut().cast(), Relaxed);
    POOL.call.store(call as usize, Relaxed);
    POOL.n_chunks.store(n_chunks, Relaxed);
    POOL.parts.store(parts, Relaxed);
    POOL.panicked.store(false, Relaxed);
    POOL.caller_cpu.store(current_cpu(), Relaxed);
    POOL.fp_mode.store(fp::mode(), Relaxed);
    POOL.open.store(true, SeqCst);
    POOL.seq.fetch_add(1, SeqCst);
    for (w, t) in ws.threads[..parts - 1].iter().enumerate() {
        if POOL.sleeping[w].load(SeqCst) {
            t.unpark();
        }
    }

    // SAFETY: `trampoline::<F>` with `&f` is sound for any chunk, and claims make each chunk
    // run once.
    let mine = catch_unwind(AssertUnwindSafe(|| unsafe {
        participate(0, parts, n_chunks, call, (&f as *const F).cast())
    }));

    // Every chunk is claimed now; wait for the workers still running theirs.
    POOL.open.store(false, SeqCst);
    let mut polls = 0u32;
    while POOL.inside.load(SeqCst) != 0 {
        polls = polls.wrapping_add(1);
        if polls < 4096 {
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }
    let worker_panicked = POOL.panicked.load(SeqCst);
    drop(ws);
    if let Err(p) = mine {
        resume_unwind(p);
    }
    assert!(
        !worker_panicked,
        "relukit pool: a chunk panicked on a worker thread"
    );
}

/// Calls to [`run`] so far that asked for more than one thread and had more than one chunk
/// (whether or not they could use the workers): for tests, to see a call was split.
pub fn split_calls() -> u64 {
    POOL.split_calls.load(SeqCst)
}

/// Jobs handed to the workers so far.
pub fn jobs_started() -> u64 {
    POOL.seq.load(SeqCst)
}

/// Number of workers started in this process (for tests).
pub fn workers_started() -> usize {
    POOL.caller.lock().map_or(0, |ws| {
        if ws.pid == std::process::id() {
            ws.threads.len()
        } else {
            0
        }
    })
}

/// The thread's floating-point control state, handed from a caller to the workers.
mod fp {
    /// The current mode (MXCSR on x86-64; 0 elsewhere, where there is nothing to hand on).
    #[cfg(target_arch = "x86_64")]
    pub(super) fn mode() -> u32 {
        let mut m: u32 = 0;
        // SAFETY: stmxcsr only stores the 32-bit control/status register into `m`.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut m, options(nostack, preserves_flags));
        }
        m
    }

    /// Takes on `m`, a value read by [`mode`] on some thread of this process.
    #[cfg(target_arch = "x86_64")]
    pub(super) fn set_mode(m: u32) {
        // SAFETY: ldmxcsr loads a value that `mode` read from a real MXCSR, so it has no
        // reserved bits set (which would fault).
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &m, options(nostack, readonly, preserves_flags));
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub(super) fn mode() -> u32 {
        0
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub(super) fn set_mode(_m: u32) {}

    /// For tests: set FTZ and DAZ on this thread, returning the previous mode.
    #[doc(hidden)]
    pub fn flush_denormals() -> u32 {
        let old = mode();
        #[cfg(target_arch = "x86_64")]
        set_mode(old | 0x8040);
        old
    }

    /// For tests: restore a mode [`flush_denormals`] returned.
    #[doc(hidden)]
    pub fn restore(m: u32) {
        set_mode(m);
    }
}

#[doc(hidden)]
pub use fp::{flush_denormals, restore as restore_fp_mode};
