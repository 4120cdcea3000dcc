//! The worker's logic against the in-memory fakes, on tokio's paused clock: what it deletes,
//! hides, renews, releases and protects, and when. Each test is one behaviour; AWS itself is
//! exercised by the LocalStack tests beside this file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_worker::fakes::{FakeActivity, FakeGroup, FakeQueue, QueueCall};
use switchyard_worker::{
    Handler, InstanceSource, Job, JobFailed, LifecycleState, Services, Summary, Worker, WorkerConfig,
};
use tokio::time::{Instant, sleep};

const INSTANCE: &str = "i-0123456789abcdef0";
const GROUP: &str = "consumers";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

struct Fakes {
    queue: Arc<FakeQueue>,
    group: Arc<FakeGroup>,
    activity: Arc<FakeActivity>,
}

impl Fakes {
    fn new() -> Self {
        Fakes {
            queue: Arc::new(FakeQueue::new()),
            group: Arc::new(FakeGroup::with_instance(INSTANCE, GROUP)),
            activity: Arc::new(FakeActivity::default()),
        }
    }

    async fn worker(&self, config: WorkerConfig) -> Worker {
        let services =
            Services { queue: self.queue.clone(), membership: self.group.clone(), activity: self.activity.clone() };
        Worker::with_services(config, services).await.unwrap()
    }
}

/// One-second long polls, a 10 s visibility timeout, two jobs at once.
fn config() -> WorkerConfig {
    let mut config = WorkerConfig::new("https://sqs.fake/000000000000/work");
    config.wait = secs(1);
    config.visibility = secs(10);
    config.concurrency = 2;
    config
}

/// [`config`] bound to the fake group's instance, reporting under fleet "workers" every 2 s.
fn on_instance() -> WorkerConfig {
    let mut config = config();
    config.instance = Some(InstanceSource::Id(INSTANCE.into()));
    config.fleet = Some("workers".into());
    config.activity_interval = secs(2);
    config
}

/// When each report saying the worker is alive on [`INSTANCE`] came.
fn liveness(activity: &FakeActivity) -> Vec<Instant> {
    activity
        .reports()
        .into_iter()
        .filter(|(_, r)| r.fleet == "workers" && r.alive_on.as_deref() == Some(INSTANCE))
        .map(|(at, _)| at)
        .collect()
}

/// A handler whose jobs take as many seconds as their body says, and fail when it says "fail";
/// each job's start and end are written down.
#[derive(Clone, Default)]
struct Timed {
    runs: Arc<Mutex<Vec<(Job, Instant, Instant)>>>,
}

impl Timed {
    fn handler(&self) -> impl Handler {
        let runs = Arc::clone(&self.runs);
        move |job: Job| {
            let runs = Arc::clone(&runs);
            async move {
                let started = Instant::now();
                let seconds = job.body.split_whitespace().find_map(|w| w.parse().ok()).unwrap_or(0);
                sleep(secs(seconds)).await;
                let failed = job.body.contains("fail");
                runs.lock().unwrap().push((job, started, Instant::now()));
                if failed { Err(JobFailed("the body says so".into())) } else { Ok(()) }
            }
        }
    }

    fn runs(&self) -> Vec<(Job, Instant, Instant)> {
        self.runs.lock().unwrap().clone()
    }
}

async fn run_for(worker: &Worker, handler: &Timed, stop_after: Duration) -> Summary {
    worker.run(handler.handler(), sleep(stop_after)).await
}

#[tokio::test(start_paused = true)]
async fn a_job_is_deleted_only_after_its_handler_succeeds() {
    let fakes = Fakes::new();
    let id = fakes.queue.send("work 3");
    let worker = fakes.worker(config()).await;
    let queue = Arc::clone(&fakes.queue);
    let on_queue_while_running = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&on_queue_while_running);
    let handler = move |job: Job| {
        let (queue, seen) = (Arc::clone(&queue), Arc::clone(&seen));
        async move {
            sleep(secs(3)).await;
            *seen.lock().unwrap() = Some(queue.message(&job.message_id).is_some());
            Ok::<(), JobFailed>(())
        }
    };
    let t0 = Instant::now();
    let summary = worker.run(handler, sleep(secs(10))).await;

    assert_eq!(*on_queue_while_running.lock().unwrap(), Some(true), "still on the queue at the job's end");
    assert!(fakes.queue.messages().is_empty(), "deleted once done");
    let deletes: Vec<(Instant, QueueCall)> =
        fakes.queue.calls().into_iter().filter(|(_, c)| matches!(c, QueueCall::Delete { .. })).collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!(deletes[0].1, QueueCall::Delete { message_ids: vec![id] });
    assert!(deletes[0].0 >= t0 + secs(3), "not before the handler returned");
    assert_eq!((summary.processed, summary.failed, summary.delete_failures), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failed_job_stays_on_the_queue_hidden_for_the_retry_delay() {
    let fakes = Fakes::new();
    let id = fakes.queue.send("fail");
    let mut config = config();
    config.retry_delay = Some(secs(30));
    let worker = fakes.worker(config).await;
    let handler = Timed::default();
    let summary = run_for(&worker, &handler, secs(5)).await;

    let failed_at = handler.runs()[0].2;
    let message = fakes.queue.message(&id).expect("the message stays for redelivery");
    assert_eq!(message.visible_at, failed_at + secs(30), "visible again after the retry delay");
    let calls: Vec<QueueCall> = fakes.queue.calls().into_iter().map(|(_, c)| c).collect();
    assert_eq!(calls, vec![QueueCall::Delay { message_id: id, visibility: secs(30) }], "no delete");
    assert_eq!((summary.processed, summary.failed), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn protection_is_on_before_the_first_job_of_a_busy_spell_and_off_after_the_idle_grace() {
    let fakes = Fakes::new();
    for _ in 0..3 {
        fakes.queue.send("work 2");
    }
    let mut config = config();
    config.concurrency = 1;
    config.instance = Some(InstanceSource::Id(INSTANCE.into()));
    config.protection_idle = secs(5);
    let worker = fakes.worker(config).await;
    let handler = Timed::default();
    let summary = run_for(&worker, &handler, secs(30)).await;

    let runs = handler.runs();
    assert_eq!(runs.len(), 3, "three jobs, one after the other");
    let calls = fakes.group.protection_calls();
    assert_eq!(
        calls.iter().map(|(_, id, on)| (id.as_str(), *on)).collect::<Vec<_>>(),
        [(INSTANCE, true), (INSTANCE, false)]
    );
    assert!(calls[0].0 <= runs[0].1, "on before the first job starts");
    let last_end = runs[2].2;
    let off_after = calls[1].0 - last_end;
    assert!(
        off_after >= secs(5) && off_after <= secs(5) + Duration::from_millis(400),
        "off {off_after:?} after the last job"
    );
    assert_eq!(summary.protection_calls, 2, "one call per spell, not per job");
    assert!(!fakes.group.is_protected(INSTANCE));
}

#[tokio::test(start_paused = true)]
async fn a_held_jobs_visibility_is_renewed_at_half_time() {
    let fakes = Fakes::new();
    let id = fakes.queue.send("long 26");
    let worker = fakes.worker(config()).await;
    let handler = Timed::default();
    let summary = run_for(&worker, &handler, secs(30)).await;

    let runs = handler.runs();
    assert_eq!(runs.len(), 1, "never handed out twice");
    let renewals: Vec<Instant> = fakes
        .queue
        .calls()
        .into_iter()
        .filter(|(_, c)| *c == QueueCall::ChangeVisibility { message_ids: vec![id.clone()], visibility: secs(10) })
        .map(|(at, _)| at)
        .collect();
    assert_eq!(renewals.len(), 5, "every 5 s of a 26 s job: {renewals:?}");
    let mut last = runs[0].1;
    for at in renewals {
        let gap = at - last;
        assert!(gap >= secs(5) && gap <= secs(5) + Duration::from_millis(200), "renewed {gap:?} after the last");
        last = at;
    }
    assert_eq!(summary.renewals, 5);
    assert_eq!(summary.processed, 1);
}

#[tokio::test(start_paused = true)]
async fn on_stop_held_jobs_finish_until_the_deadline_and_the_rest_are_released() {
    let fakes = Fakes::new();
    let short = fakes.queue.send("short 2");
    let long = fakes.queue.send("long 60");
    let mut config = config();
    config.stop_deadline = secs(5);
    let worker = fakes.worker(config).await;
    let handler = Timed::default();
    let t0 = Instant::now();
    let summary = run_for(&worker, &handler, secs(1)).await;
    let stopped_after = Instant::now() - t0;

    assert_eq!(summary.stopped_because, "stop signal");
    assert!(stopped_after >= secs(6) && stopped_after <= secs(6) + Duration::from_millis(400), "{stopped_after:?}");
    assert!(fakes.queue.message(&short).is_none(), "the short job finished and was deleted");
    let released = fakes.queue.message(&long).expect("the long job's message is back on the queue");
    assert!(released.visible_at <= Instant::now(), "visible again at once");
    assert!(fakes.queue.calls().iter().any(
        |(_, c)| *c == QueueCall::ChangeVisibility { message_ids: vec![long.clone()], visibility: Duration::ZERO }
    ));
    assert_eq!((summary.processed, summary.released), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn the_worker_stops_when_its_instance_leaves_in_service() {
    let fakes = Fakes::new();
    let mut config = config();
    config.instance = Some(InstanceSource::Id(INSTANCE.into()));
    config.lifecycle_check = secs(1);
    let worker = fakes.worker(config).await;
    let group = Arc::clone(&fakes.group);
    tokio::spawn(async move {
        sleep(secs(3)).await;
        group.set_state(INSTANCE, LifecycleState::TerminatingWait);
    });
    let t0 = Instant::now();
    let summary = worker.run(Timed::default().handler(), std::future::pending()).await;

    assert_eq!(summary.stopped_because, format!("instance {INSTANCE} is Terminating:Wait"));
    let stopped_after = Instant::now() - t0;
    assert!(stopped_after >= secs(3) && stopped_after <= secs(5) + Duration::from_millis(400), "{stopped_after:?}");
}

#[tokio::test(start_paused = true)]
async fn protection_left_on_by_a_previous_worker_is_cleared_at_start() {
    let fakes = Fakes::new();
    fakes.group.set_protected(INSTANCE, true); // its worker was killed with -9
    let worker = fakes.worker(on_instance()).await;
    let t0 = Instant::now();
    let summary = run_for(&worker, &Timed::default(), secs(1)).await;

    assert!(!fakes.group.is_protected(INSTANCE));
    assert_eq!(fakes.group.protection_calls(), [(t0, INSTANCE.to_owned(), false)], "cleared at once, once");
    assert_eq!(summary.protection_calls, 1);
}

#[tokio::test(start_paused = true)]
async fn a_worker_starting_on_an_unprotected_instance_makes_no_protection_call() {
    let fakes = Fakes::new();
    let worker = fakes.worker(on_instance()).await;
    let summary = run_for(&worker, &Timed::default(), secs(1)).await;

    assert_eq!(fakes.group.protection_calls(), []);
    assert_eq!(summary.protection_calls, 0);
}

#[tokio::test(start_paused = true)]
async fn a_batch_received_on_an_instance_already_leaving_is_released_unprocessed_and_the_worker_stops() {
    let fakes = Fakes::new();
    let mut config = on_instance();
    config.lifecycle_check = secs(60); // the periodic check does not come into it
    let worker = fakes.worker(config).await;
    // Idle and unprotected, the instance is chosen for scale-in; a message arrives just then.
    let (group, queue) = (Arc::clone(&fakes.group), Arc::clone(&fakes.queue));
    let sent = Arc::new(Mutex::new(None));
    let id = Arc::clone(&sent);
    tokio::spawn(async move {
        sleep(secs(2)).await;
        group.set_state(INSTANCE, LifecycleState::TerminatingWait);
        *id.lock().unwrap() = Some(queue.send("work 1"));
    });
    let handler = Timed::default();
    let t0 = Instant::now();
    let summary = worker.run(handler.handler(), std::future::pending()).await;

    let id = sent.lock().unwrap().clone().unwrap();
    assert!(handler.runs().is_empty(), "the job never ran");
    let message = fakes.queue.message(&id).expect("still on the queue");
    assert!(message.visible_at <= Instant::now(), "visible again at once");
    assert_eq!(
        fakes.queue.calls().into_iter().map(|(_, c)| c).collect::<Vec<_>>(),
        [QueueCall::ChangeVisibility { message_ids: vec![id], visibility: Duration::ZERO }]
    );
    assert_eq!((summary.received, summary.released, summary.processed), (1, 1, 0));
    assert_eq!(summary.stopped_because, format!("instance {INSTANCE} is Terminating:Wait"));
    assert!(Instant::now() - t0 < secs(3), "stopped at once, not at the next lifecycle check");
}

#[tokio::test(start_paused = true)]
async fn a_worker_reports_liveness_as_soon_as_it_starts() {
    let fakes = Fakes::new();
    let worker = fakes.worker(on_instance()).await;
    let t0 = Instant::now();
    run_for(&worker, &Timed::default(), secs(1)).await;

    assert_eq!(liveness(&fakes.activity).first(), Some(&t0));
}

#[tokio::test(start_paused = true)]
async fn a_protected_idle_worker_still_reports_liveness_every_interval() {
    let fakes = Fakes::new();
    fakes.queue.send("work 1");
    let mut config = on_instance();
    config.protection_idle = secs(60); // protected and idle for the rest of the run
    let worker = fakes.worker(config).await;
    let t0 = Instant::now();
    run_for(&worker, &Timed::default(), secs(20)).await;

    let calls = fakes.group.protection_calls();
    assert_eq!(calls.iter().map(|(_, _, on)| *on).collect::<Vec<_>>(), [true, false], "{calls:?}");
    assert!(calls[1].0 >= t0 + secs(20), "protected until stopped");
    let alive = liveness(&fakes.activity);
    let mut last = t0;
    for at in &alive[1..] {
        assert!(*at - last <= secs(2) + Duration::from_millis(200), "a gap of {:?} at {:?}", *at - last, *at - t0);
        last = *at;
    }
    assert!(t0 + secs(20) - last <= secs(2), "reported until the stop");
    let idle_reports = fakes.activity.reports().into_iter().filter(|(at, _)| *at >= t0 + secs(4)).count();
    let idle_activity =
        fakes.activity.reports().into_iter().filter(|(at, r)| *at >= t0 + secs(4) && r.activity.is_some()).count();
    assert!(idle_reports >= 7, "{idle_reports} reports while idle");
    assert_eq!(idle_activity, 0, "liveness alone: an idle worker reports no activity");
}

#[tokio::test(start_paused = true)]
async fn an_unprotected_idle_worker_reports_liveness_too() {
    let fakes = Fakes::new();
    let worker = fakes.worker(on_instance()).await;
    run_for(&worker, &Timed::default(), secs(9)).await;

    assert_eq!(fakes.group.protection_calls(), []);
    assert_eq!(liveness(&fakes.activity).len(), 1 + 4, "at start, then every 2 s");
}

#[tokio::test(start_paused = true)]
async fn a_worker_without_an_instance_reports_activity_but_no_liveness() {
    let fakes = Fakes::new();
    fakes.queue.send("work 1");
    let mut config = on_instance();
    config.instance = None;
    let worker = fakes.worker(config).await;
    run_for(&worker, &Timed::default(), secs(10)).await;

    let reports = fakes.activity.reports();
    assert!(reports.iter().all(|(_, r)| r.alive_on.is_none()), "{reports:?}");
    let processed: u64 = reports.iter().filter_map(|(_, r)| r.activity).map(|a| a.processed).sum();
    assert_eq!(processed, 1);
}

#[tokio::test(start_paused = true)]
async fn protection_taken_off_by_another_caller_while_a_job_runs_is_put_back_at_the_next_lifecycle_check() {
    let fakes = Fakes::new();
    fakes.queue.send("work 10");
    let mut config = on_instance();
    config.lifecycle_check = secs(2);
    let worker = fakes.worker(config).await;
    // The scaler missed this worker's reports and took its protection off.
    let group = Arc::clone(&fakes.group);
    tokio::spawn(async move {
        sleep(secs(3)).await;
        group.set_protected(INSTANCE, false);
    });
    let t0 = Instant::now();
    let summary = run_for(&worker, &Timed::default(), secs(8)).await;

    let calls = fakes.group.protection_calls();
    let on: Vec<Instant> = calls.iter().filter(|(_, _, on)| *on).map(|(at, _, _)| *at).collect();
    assert_eq!(on.len(), 2, "on for the spell, then on again: {calls:?}");
    assert_eq!(on[0], t0);
    let back_after = on[1] - t0;
    assert!(back_after > secs(3) && back_after <= secs(4) + Duration::from_millis(400), "{back_after:?}");
    assert_eq!(summary.processed, 1);
}
