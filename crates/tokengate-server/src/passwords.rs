//! Password checks off the async workers. argon2 runs on `password_concurrency` threads of its
//! own (default: one per CPU) at a lower scheduling priority (nice + 10): while the CPU is free
//! they hash at full speed; when token requests need the CPU, the scheduler serves those first.
//! So a flood of password attempts queues here and takes only what token traffic leaves over
//! (SPEC §7; `bench/flood.sh`). Unknown users cost the same time as real ones (`verify_password`
//! checks against a dummy hash).

use async_trait::async_trait;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokengate_core::Secret;
use tokengate_core::authenticate::PasswordCheck;
use tokengate_core::password::verify_password;
use tokio::sync::oneshot;

/// How much lower than the rest of the process the hashing threads run (Linux nice values).
const NICE_INCREMENT: i32 = 10;

struct Job {
    stored_hash: Option<String>,
    password: Secret,
    verdict: oneshot::Sender<bool>,
}

pub struct PasswordPool {
    jobs: mpsc::Sender<Job>,
}

impl PasswordPool {
    /// Starts `concurrency` hashing threads (0 = one per CPU). They end when the pool is dropped.
    pub fn new(concurrency: usize) -> std::io::Result<Self> {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            concurrency
        };
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..concurrency {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("tokengate-argon2-{index}"))
                .spawn(move || hash_jobs(&queue))?;
        }
        Ok(Self { jobs })
    }

    /// Verifies on a hashing thread; `Err` only if the pool is gone.
    pub async fn check(&self, stored_hash: Option<String>, password: Secret) -> Result<bool, ()> {
        let (verdict, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                stored_hash,
                password,
                verdict,
            })
            .map_err(|_| ())?;
        answer.await.map_err(|_| ())
    }
}

/// One hashing thread: takes jobs until the pool is dropped.
fn hash_jobs(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = next else {
            return;
        };
        let verdict = verify_password(job.stored_hash.as_deref(), &job.password);
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

#[async_trait]
impl PasswordCheck for PasswordPool {
    async fn verify(&self, stored_hash: Option<String>, password: Secret) -> Result<bool, ()> {
        self.check(stored_hash, password).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokengate_core::password::hash_password;

    #[tokio::test]
    async fn password_checks_run_on_their_own_threads_and_answer() {
        let pool = PasswordPool::new(1).expect("threads");
        let hash = hash_password(&Secret::new("right-password")).expect("hash");
        let right = pool.check(Some(hash.clone()), Secret::new("right-password"));
        let wrong = pool.check(Some(hash), Secret::new("wrong-password"));
        let unknown = pool.check(None, Secret::new("anything"));
        assert_eq!(
            (right.await, wrong.await, unknown.await),
            (Ok(true), Ok(false), Ok(false))
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
