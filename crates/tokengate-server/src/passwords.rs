//! Password checks off the async workers. argon2 runs on `password_concurrency` threads of its
//! own (default: one per CPU) at a lower scheduling priority (nice + 10): while the CPU is free
//! they hash at full speed; when token requests need the CPU, the scheduler serves those first
//! (SPEC §7; `bench/flood.sh`). Unknown users cost the same time as real ones
//! (`verify_password` checks against a dummy hash).
//!
//! Work waits in a bounded queue shared fairly between client addresses: each address has its
//! own line, the threads take one check from each address in turn, an address may have at most
//! [`QUEUE_PER_ADDRESS`] checks waiting and all addresses together [`QUEUE_CAPACITY`]; beyond
//! that a check is refused at once (429). So a flood from one address delays another address's
//! check by about one hash per thread, never by the flood's length. The pool also hands out
//! per-user turns: one password check per user name at a time (see `tokengate_core::
//! authenticate::run_attempt`, which decides what happens inside a turn).

use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use tokengate_core::Secret;
use tokengate_core::authenticate::{HashRefused, PasswordAttempts};
use tokengate_core::password::verify_password;
use tokio::sync::{OwnedMutexGuard, oneshot};

/// How much lower than the rest of the process the hashing threads run (Linux nice values).
const NICE_INCREMENT: i32 = 10;
/// Checks waiting for a hashing thread, at most, from all addresses together.
pub const QUEUE_CAPACITY: usize = 256;
/// Checks one client address may have waiting at once.
pub const QUEUE_PER_ADDRESS: usize = 16;

struct Job {
    stored_hash: Option<String>,
    password: Secret,
    verdict: oneshot::Sender<bool>,
}

/// Waiting checks, one line per client address, served round-robin.
#[derive(Default)]
struct FairQueue {
    lines: HashMap<IpAddr, VecDeque<Job>>,
    /// Addresses with waiting checks, in the order they are served next.
    order: VecDeque<IpAddr>,
    waiting: usize,
    closed: bool,
}

impl FairQueue {
    fn push(&mut self, client: IpAddr, job: Job) -> Result<(), HashRefused> {
        if self.closed {
            return Err(HashRefused::Unavailable);
        }
        if self.waiting >= QUEUE_CAPACITY {
            return Err(HashRefused::Busy);
        }
        let line = self.lines.entry(client).or_default();
        if line.len() >= QUEUE_PER_ADDRESS {
            return Err(HashRefused::Busy);
        }
        if line.is_empty() {
            self.order.push_back(client);
        }
        line.push_back(job);
        self.waiting += 1;
        Ok(())
    }

    /// The next address's oldest check; that address goes to the back of the order.
    fn pop(&mut self) -> Option<Job> {
        while let Some(client) = self.order.pop_front() {
            let Some(line) = self.lines.get_mut(&client) else {
                continue;
            };
            let job = line.pop_front();
            if line.is_empty() {
                self.lines.remove(&client);
            } else {
                self.order.push_back(client);
            }
            if let Some(job) = job {
                self.waiting -= 1;
                return Some(job);
            }
        }
        None
    }
}

struct Shared {
    queue: Mutex<FairQueue>,
    ready: Condvar,
    hashes: AtomicU64,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, FairQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type Lines = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

pub struct PasswordPool {
    shared: Arc<Shared>,
    turns: Lines,
}

impl PasswordPool {
    /// Starts `concurrency` hashing threads (0 = one per CPU). They end when the pool is dropped.
    pub fn new(concurrency: usize) -> std::io::Result<Self> {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            concurrency
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(FairQueue::default()),
            ready: Condvar::new(),
            hashes: AtomicU64::new(0),
        });
        for index in 0..concurrency {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("tokengate-argon2-{index}"))
                .spawn(move || hash_jobs(&shared))?;
        }
        Ok(Self {
            shared,
            turns: Lines::default(),
        })
    }

    /// Verifies on a hashing thread, in `client`'s line. `Busy` at once when the queue (or
    /// the address's share of it) is full.
    pub async fn check(
        &self,
        client: IpAddr,
        stored_hash: Option<String>,
        password: Secret,
    ) -> Result<bool, HashRefused> {
        let (verdict, answer) = oneshot::channel();
        let job = Job {
            stored_hash,
            password,
            verdict,
        };
        self.shared.queue().push(client, job)?;
        self.shared.ready.notify_one();
        answer.await.map_err(|_| HashRefused::Unavailable)
    }

    /// Password hashes computed so far (the work an attacker got out of this node).
    pub fn hashes_run(&self) -> u64 {
        self.shared.hashes.load(Ordering::SeqCst)
    }

    /// Waits until no other password check for `user` is in flight on this node (first come,
    /// first served); the turn lasts until the returned guard is dropped.
    pub async fn turn(&self, user: &str) -> UserTurn {
        let ticket = Ticket::take(&self.turns, user);
        let line = ticket.line.clone();
        let held = line.lock_owned().await;
        UserTurn {
            _held: held,
            _ticket: ticket,
        }
    }

    /// User names with a check in flight or waiting (for tests: the map empties itself).
    pub fn users_in_turns(&self) -> usize {
        self.turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for PasswordPool {
    fn drop(&mut self) {
        self.shared.queue().closed = true;
        self.shared.ready.notify_all();
    }
}

/// A place in a user's line; the line is forgotten when its last ticket goes.
struct Ticket {
    lines: Lines,
    user: String,
    line: Arc<tokio::sync::Mutex<()>>,
}

impl Ticket {
    fn take(lines: &Lines, user: &str) -> Self {
        let mut map = lines.lock().unwrap_or_else(PoisonError::into_inner);
        let line = map.entry(user.to_owned()).or_default().clone();
        Self {
            lines: lines.clone(),
            user: user.to_owned(),
            line,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut map = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        // Ours and the map's: nobody else holds or waits for this user's turn.
        if map
            .get(&self.user)
            .is_some_and(|line| Arc::strong_count(line) <= 2)
        {
            map.remove(&self.user);
        }
    }
}

/// One user's turn for a password check. Fields drop in order: the lock, then the ticket.
pub struct UserTurn {
    _held: OwnedMutexGuard<()>,
    _ticket: Ticket,
}

/// One hashing thread: takes checks until the pool is dropped.
fn hash_jobs(shared: &Shared) {
    lower_priority();
    loop {
        let job = {
            let mut queue = shared.queue();
            loop {
                if let Some(job) = queue.pop() {
                    break job;
                }
                if queue.closed {
                    return;
                }
                queue = shared
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        if job.verdict.is_closed() {
            // The request went away while waiting: nobody would learn the verdict.
            continue;
        }
        let verdict = verify_password(job.stored_hash.as_deref(), &job.password);
        shared.hashes.fetch_add(1, Ordering::SeqCst);
        // The request may have gone meanwhile; nobody is left to tell.
        let _ = job.verdict.send(verdict);
    }
}

/// Lowers the calling thread's priority by [`NICE_INCREMENT`] (never needs privileges). On Linux
/// a nice value belongs to one thread, so the rest of the process keeps its priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let thread = Some(rustix::thread::gettid());
        let current = getpriority_process(thread).unwrap_or(0);
        if let Err(error) = setpriority_process(thread, (current + NICE_INCREMENT).min(19)) {
            tracing::debug!(%error, "cannot lower the priority of a password hashing thread");
        }
    }
}

/// The plain pool as attempt machinery: hashes only, with no budget, turn or effects. This is
/// what `explain` uses (no side effects); the gateway uses `crate::attempts::GuardedAttempts`.
#[async_trait]
impl PasswordAttempts for PasswordPool {
    async fn hash(
        &self,
        client: IpAddr,
        stored_hash: Option<String>,
        password: Secret,
    ) -> Result<bool, HashRefused> {
        self.check(client, stored_hash, password).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokengate_core::password::hash_password;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    fn waiting_job() -> (Job, oneshot::Receiver<bool>) {
        let (verdict, answer) = oneshot::channel();
        let job = Job {
            stored_hash: None,
            password: Secret::new("x"),
            verdict,
        };
        (job, answer)
    }

    #[tokio::test]
    async fn password_checks_run_on_their_own_threads_and_answer() {
        let pool = PasswordPool::new(1).expect("threads");
        let hash = hash_password(&Secret::new("right-password")).expect("hash");
        let client = ip("203.0.113.1");
        let right = pool.check(client, Some(hash.clone()), Secret::new("right-password"));
        let wrong = pool.check(client, Some(hash), Secret::new("wrong-password"));
        let unknown = pool.check(client, None, Secret::new("anything"));
        assert_eq!(
            (right.await, wrong.await, unknown.await),
            (Ok(true), Ok(false), Ok(false))
        );
        assert_eq!(pool.hashes_run(), 3);
    }

    #[test]
    fn the_queue_serves_addresses_in_turn_and_refuses_beyond_each_share() {
        let mut queue = FairQueue::default();
        let flood = ip("203.0.113.1");
        let other = ip("198.51.100.2");
        let mut answers = Vec::new();
        for _ in 0..QUEUE_PER_ADDRESS {
            let (job, answer) = waiting_job();
            answers.push(answer);
            assert!(queue.push(flood, job).is_ok());
        }
        let (extra, _) = waiting_job();
        assert_eq!(queue.push(flood, extra).err(), Some(HashRefused::Busy));
        let (job_other, mut answer_other) = waiting_job();
        assert!(
            queue.push(other, job_other).is_ok(),
            "another address has room"
        );
        let first = queue.pop().expect("a job");
        let second = queue.pop().expect("a job");
        drop(first);
        let _ = second.verdict.send(true);
        assert_eq!(
            answer_other.try_recv(),
            Ok(true),
            "the other address is served second, not after the flood"
        );
    }

    #[test]
    fn the_queue_refuses_when_all_addresses_together_fill_it() {
        let mut queue = FairQueue::default();
        for index in 0..QUEUE_CAPACITY {
            let (job, _) = waiting_job();
            let client = IpAddr::from([10, 0, (index / 256) as u8, (index % 256) as u8]);
            assert!(queue.push(client, job).is_ok());
        }
        let (job, _) = waiting_job();
        assert_eq!(
            queue.push(ip("192.0.2.1"), job).err(),
            Some(HashRefused::Busy)
        );
        assert!(queue.pop().is_some());
        let (job, _) = waiting_job();
        assert!(queue.push(ip("192.0.2.1"), job).is_ok(), "room again");
    }

    #[tokio::test]
    async fn one_turn_per_user_name_at_a_time_and_the_lines_empty_themselves() {
        let pool = PasswordPool::new(1).expect("threads");
        let first = pool.turn("alice").await;
        let bob = pool.turn("bob").await;
        let waiting = pool.turn("alice");
        tokio::pin!(waiting);
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(50), &mut waiting).await;
        assert!(blocked.is_err(), "alice's second check waits");
        drop(first);
        let second = waiting.await;
        drop(second);
        drop(bob);
        assert_eq!(pool.users_in_turns(), 0);
        let cancelled = pool.turn("carol").await;
        {
            let gave_up = pool.turn("carol");
            let _ = tokio::time::timeout(std::time::Duration::from_millis(10), gave_up).await;
        }
        drop(cancelled);
        assert_eq!(
            pool.users_in_turns(),
            0,
            "a waiter that gave up leaves nothing"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn password_hashing_threads_run_at_a_lower_priority() {
        let process = rustix::process::getpriority_process(None).expect("own nice value");
        let observed = std::thread::spawn(|| {
            lower_priority();
            rustix::process::getpriority_process(Some(rustix::thread::gettid()))
        })
        .join()
        .expect("thread")
        .expect("thread's nice value");
        assert_eq!(observed, (process + NICE_INCREMENT).min(19));
        // The calling thread keeps its own.
        assert_eq!(
            rustix::process::getpriority_process(None).expect("own nice value"),
            process
        );
    }
}
