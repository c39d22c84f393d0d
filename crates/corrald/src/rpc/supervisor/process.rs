//! `supervisor.*` process control: start, stop, signal, stdin, and process info, with
//! supervisord's argument handling, results and faults.
//!
//! A waiting call (`startProcess(name, True)`, `stopProcess(name, True)`) watches the
//! process's published snapshot. That channel keeps only the latest value, so another
//! request may move the process on before the waiter looks (a stop, then someone's start):
//! the snapshot's `entered_running`/`entered_stopped` counters tell the waiter that the
//! transition it waits for did happen. Every wait is also bounded by what the process's
//! own settings allow, plus a margin, and ends with a fault saying what it saw if the
//! bound passes.

use std::rc::Rc;
use std::time::Duration;

use corral_core::{ProcessState, Reply};
use corral_proto::api::{self, Fault, ProcessInfo, capped_int, make_namespec};
use corral_proto::xmlrpc::Value;

use super::lookup::{group_and_process, group_processes, named_process};
use crate::logs::mainlog;
use crate::process::{ExecError, Info, ProcessHandle};
use crate::rpc::args::{Args, parse_signal, signal_repr};
use crate::rpc::error::{RpcError, RpcResult, err, err_value};
use crate::supervisor::Supervisor;

/// Slack on top of a process's own timing rules before a waiting call gives up.
const WAIT_MARGIN: Duration = Duration::from_secs(30);

/// The struct getProcessInfo returns.
pub fn process_info(p: &ProcessHandle) -> ProcessInfo {
    let info = p.info();
    let s = &info.snapshot;
    let now = crate::sys::unix_time();
    let mut pi = ProcessInfo {
        name: p.name().to_string(),
        group: p.group().to_string(),
        start: capped_int(s.laststart.unwrap_or(0.0) as i64),
        stop: capped_int(s.laststop.unwrap_or(0.0) as i64),
        now: capped_int(now as i64),
        state: api::ProcessState::from_code(s.state.code()).unwrap_or(api::ProcessState::Unknown),
        spawnerr: s.spawnerr.clone().unwrap_or_default(),
        exitstatus: s.exitstatus.unwrap_or(0),
        stdout_logfile: info.logs.stdout.as_deref().unwrap_or_default().to_string(),
        stderr_logfile: info.logs.stderr.as_deref().unwrap_or_default().to_string(),
        pid: s.pid.map_or(0, |p| p.get()),
        description: String::new(),
    };
    pi.description = super::describe::describe(p, &info, &pi);
    pi
}

/// One entry of the array the `*Group`/`*All` calls return.
pub fn result_struct(p: &ProcessHandle, code: i32, description: &str) -> Value {
    Value::structure([
        ("name", Value::from(p.name())),
        ("group", Value::from(p.group())),
        ("status", Value::Int(code)),
        ("description", Value::from(description)),
    ])
}

/// The entry for `p` once its action is done: OK, or the fault it got.
pub fn outcome(p: &ProcessHandle, r: Result<(), RpcError>) -> Value {
    match r {
        Ok(()) => result_struct(p, Fault::Success.code(), "OK"),
        Err(e) => result_struct(p, e.code, &e.text),
    }
}

pub async fn get_process_info(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    Ok(process_info(&named_process(&sup, &a.name(0)?)?).to_value())
}

pub async fn get_all_process_info(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    Ok(Value::Array(
        super::lookup::all_processes(&sup, true)
            .iter()
            .map(|p| process_info(p).to_value())
            .collect(),
    ))
}

pub async fn start_process(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let name = a.name(0)?;
    let wait = a.flag(1, true);
    let (group, p) = group_and_process(&sup, &name)?;
    let Some(p) = p else {
        return start_many(&sup, group_processes(&group), wait).await;
    };
    if let Some(w) = begin_start(&sup, &p, &name, wait).await? {
        w.wait(&name).await?;
    }
    Ok(Value::Bool(true))
}

pub async fn start_process_group(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let group = super::lookup::lookup_group(&sup, a.get(0))?;
    start_many(&sup, group_processes(&group), a.flag(1, true)).await
}

pub async fn start_all_processes(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let all = super::lookup::all_processes(&sup, false);
    start_many(&sup, all, a.flag(0, true)).await
}

pub async fn stop_process(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let name = a.name(0)?;
    let wait = a.flag(1, true);
    let (group, p) = group_and_process(&sup, &name)?;
    let Some(p) = p else {
        return stop_many(&sup, group_processes(&group), wait).await;
    };
    if let Some(w) = begin_stop(&p, &name, wait).await? {
        w.wait(&name).await?;
    }
    Ok(Value::Bool(true))
}

pub async fn stop_process_group(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let group = super::lookup::lookup_group(&sup, a.get(0))?;
    stop_many(&sup, group_processes(&group), a.flag(1, true)).await
}

pub async fn stop_all_processes(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    stop_many(
        &sup,
        super::lookup::all_processes(&sup, false),
        a.flag(0, true),
    )
    .await
}

pub async fn signal_process(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let name = a.name(0)?;
    let sig = a.get(1).unwrap_or(&Value::Nil);
    let (group, p) = group_and_process(&sup, &name)?;
    let Some(p) = p else {
        super::lookup::check_running(&sup)?;
        return Ok(signal_many(group_processes(&group), sig).await);
    };
    signal_one(&p, &name, sig).await.map(|()| Value::Bool(true))
}

pub async fn signal_process_group(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    // supervisord looks the group up before `_update`, and faults after it.
    let group = super::lookup::lookup_group(&sup, a.get(0));
    if let Err(e) = &group {
        if e.code == Fault::IncorrectParameters.code() {
            return Err(e.clone());
        }
    }
    super::lookup::check_running(&sup)?;
    let group = group?;
    let result = signal_many(group_processes(&group), a.get(1).unwrap_or(&Value::Nil)).await;
    super::lookup::check_running(&sup)?;
    Ok(result)
}

pub async fn signal_all_processes(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let all = super::lookup::all_processes(&sup, false);
    let result = signal_many(all, a.get(0).unwrap_or(&Value::Nil)).await;
    super::lookup::check_running(&sup)?;
    Ok(result)
}

pub async fn send_process_stdin(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let chars = match a.get(1) {
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(Value::Base64(b)) => b.clone(),
        other => return err_value(Fault::IncorrectParameters, other),
    };
    let name = a.name(0)?;
    let p = named_process(&sup, &name)?;
    let info = p.info();
    if info.snapshot.pid.is_none() || info.state() == ProcessState::Stopping {
        return err(Fault::NotRunning, &name);
    }
    match p.write_stdin(chars).await {
        Ok(()) => Ok(Value::Bool(true)),
        Err(_) => err(Fault::NoFile, &name),
    }
}

/// Check the command before spawning (supervisord does, to answer with NO_FILE /
/// NOT_EXECUTABLE instead of a failed start).
fn check_command(sup: &Supervisor, p: &ProcessHandle) -> Result<(), RpcError> {
    match sup.check_command(p) {
        Ok(()) => Ok(()),
        Err(ExecError::NotFound(m)) => err(Fault::NoFile, m),
        Err(e) => err(Fault::NotExecutable, e.message()),
    }
}

/// A start under way, to be waited for.
struct StartWait {
    p: ProcessHandle,
    /// `entered_running` before the start.
    running_before: u64,
    bound: Duration,
}

impl StartWait {
    /// startProcess's deferred part: until RUNNING, or a failure.
    async fn wait(&self, namespec: &str) -> Result<(), RpcError> {
        let before = self.running_before;
        // corral: a start waiting for its dependencies goes on waiting, unless they are
        // blocked.
        let watch = self.p.wait_until(|i| {
            i.snapshot.entered_running > before
                || i.snapshot.spawnerr.is_some()
                || i.snapshot.waiting.as_ref().is_some_and(|h| h.blocked)
                || (i.state() != ProcessState::Starting && i.snapshot.waiting.is_none())
        });
        let Ok(info) = tokio::time::timeout(self.bound, watch).await else {
            return err(
                Fault::Failed,
                format!(
                    "{namespec} is still {} after {} seconds",
                    self.p.state().name(),
                    self.bound.as_secs()
                ),
            );
        };
        // It got to RUNNING, even if another request has moved it on since.
        if info.snapshot.entered_running > before {
            return Ok(());
        }
        if info.snapshot.spawnerr.is_some() || info.snapshot.waiting.is_some() {
            return err(Fault::SpawnError, namespec);
        }
        err(Fault::AbnormalTermination, namespec)
    }
}

/// The longest a start of `p` can take by its own rules: startsecs, a readiness probe's
/// timeout, and the previous run's leftovers being stopped first.
fn start_bound(p: &ProcessHandle) -> Duration {
    let c = &p.config;
    let stop: u64 = c.stop_wait_total();
    Duration::from_secs(c.startsecs + c.readiness_timeout + stop) + WAIT_MARGIN
}

/// The first half of startProcess: checks and spawn. `Ok(Some(w))` means "wait for it".
async fn begin_start(
    sup: &Supervisor,
    p: &ProcessHandle,
    namespec: &str,
    wait: bool,
) -> Result<Option<StartWait>, RpcError> {
    check_command(sup, p)?;
    // corral: what it depends on starts first (it waits for them, held).
    sup.start_requirements(p).await;
    let running_before = p.info().snapshot.entered_running;
    match p.start().await {
        Reply::AlreadyStarted => return err(Fault::AlreadyStarted, namespec),
        Reply::InUnknownState => {
            return err(
                Fault::Failed,
                format!("{namespec} is in an unknown process state"),
            );
        }
        Reply::Failed(m) => return err(Fault::Failed, m),
        Reply::Ok | Reply::NotRunning => {}
    }
    let info = p.info();
    if info.snapshot.spawnerr.is_some() {
        return err(Fault::SpawnError, namespec);
    }
    if wait && info.state() != ProcessState::Running {
        return Ok(Some(StartWait {
            p: p.clone(),
            running_before,
            bound: start_bound(p) + sup.requirements_bound(p, start_bound),
        }));
    }
    Ok(None)
}

/// supervisord's `make_allfunc` over startProcess, for processes not running.
async fn start_many(sup: &Supervisor, procs: Vec<ProcessHandle>, wait: bool) -> RpcResult {
    let mut results = Vec::new();
    let mut waiting = Vec::new();
    for p in procs {
        if p.state().is_running() {
            continue;
        }
        let namespec = make_namespec(p.group(), p.name());
        let begun = begin_start(sup, &p, &namespec, wait).await;
        route_begun(&p, namespec, begun, &mut results, &mut waiting);
    }
    Ok(Value::Array(with_waited(results, waiting).await))
}

/// An action begun on a process that a waiting call then waits for (a start, a stop).
trait Pending: 'static {
    fn process(&self) -> &ProcessHandle;
    async fn wait(&self, namespec: &str) -> Result<(), RpcError>;
}

impl Pending for StartWait {
    fn process(&self) -> &ProcessHandle {
        &self.p
    }

    async fn wait(&self, namespec: &str) -> Result<(), RpcError> {
        StartWait::wait(self, namespec).await
    }
}

impl Pending for StopWait {
    fn process(&self) -> &ProcessHandle {
        &self.p
    }

    async fn wait(&self, namespec: &str) -> Result<(), RpcError> {
        StopWait::wait(self, namespec).await
    }
}

/// Where a process of a `*Group`/`*All` call stands once its action began: answered at
/// once (done, or refused), or to be waited for.
fn route_begun<W>(
    p: &ProcessHandle,
    namespec: String,
    begun: Result<Option<W>, RpcError>,
    results: &mut Vec<Value>,
    waiting: &mut Vec<(W, String)>,
) {
    match begun {
        Ok(Some(w)) => waiting.push((w, namespec)),
        Ok(None) => results.push(outcome(p, Ok(()))),
        Err(e) => results.push(outcome(p, Err(e))),
    }
}

/// `results`, then the outcomes of `waiting`, waited for concurrently and appended in
/// completion order (as supervisord's polling appends them).
async fn with_waited<W: Pending>(mut results: Vec<Value>, waiting: Vec<(W, String)>) -> Vec<Value> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (w, namespec) in waiting {
        let tx = tx.clone();
        tokio::task::spawn_local(async move {
            let r = w.wait(&namespec).await;
            let _ = tx.send(outcome(w.process(), r));
        });
    }
    drop(tx);
    while let Some(v) = rx.recv().await {
        results.push(v);
    }
    results
}

/// A stop under way, to be waited for.
struct StopWait {
    p: ProcessHandle,
    /// `entered_stopped` before the stop.
    stopped_before: u64,
    bound: Duration,
}

impl StopWait {
    /// stopProcess's deferred part: until the process has stopped (even if another request
    /// started it again since), logging "waiting for NAME to stop" every 2 s.
    async fn wait(&self, namespec: &str) -> Result<(), RpcError> {
        let before = self.stopped_before;
        let stopped = |i: &Info| i.snapshot.entered_stopped > before || i.state().is_stopped();
        let give_up = tokio::time::Instant::now() + self.bound;
        // supervisord's stop_report: at once (the report timer was reset by the stop), then
        // every 2 s while the process is STOPPING.
        loop {
            if self.p.state() == ProcessState::Stopping {
                mainlog::info(format!("waiting for {} to stop", self.p.name()));
            }
            let until = give_up.min(tokio::time::Instant::now() + Duration::from_secs(2));
            if tokio::time::timeout_at(until, self.p.wait_until(stopped))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= give_up {
                return err(
                    Fault::Failed,
                    format!(
                        "{namespec} is still {} after {} seconds",
                        self.p.state().name(),
                        self.bound.as_secs()
                    ),
                );
            }
        }
    }
}

/// The longest a stop of `p` can take by its own rules: every step of its stop plan, then
/// SIGKILL (which takes effect at once, unless the process is stuck in the kernel).
fn stop_bound(p: &ProcessHandle) -> Duration {
    Duration::from_secs(p.config.stop_wait_total()) + WAIT_MARGIN
}

/// Running, or (corral) waiting to start once its dependencies are met: a stop applies.
fn stoppable(p: &ProcessHandle) -> bool {
    p.state().is_running() || p.info().snapshot.waiting.is_some()
}

async fn begin_stop(
    p: &ProcessHandle,
    namespec: &str,
    wait: bool,
) -> Result<Option<StopWait>, RpcError> {
    if !stoppable(p) {
        return err(Fault::NotRunning, namespec);
    }
    let stopped_before = p.info().snapshot.entered_stopped;
    match p.stop().await {
        Reply::Ok => {}
        Reply::NotRunning => return err(Fault::NotRunning, namespec),
        Reply::Failed(m) => return err(Fault::Failed, m),
        Reply::AlreadyStarted | Reply::InUnknownState => {}
    }
    if wait && !p.state().is_stopped() {
        return Ok(Some(StopWait {
            p: p.clone(),
            stopped_before,
            bound: stop_bound(p),
        }));
    }
    Ok(None)
}

/// supervisord's `make_allfunc` over stopProcess. corral: processes that depend on others
/// in the list are stopped (and waited for) before them; without `wait`, the later batches
/// are stopped in the background, each once the one before is stopped.
async fn stop_many(sup: &Supervisor, procs: Vec<ProcessHandle>, wait: bool) -> RpcResult {
    let procs: Vec<ProcessHandle> = procs.into_iter().filter(stoppable).collect();
    let mut batches = sup.stop_batches(procs).into_iter();
    let Some(first) = batches.next() else {
        return Ok(Value::Array(Vec::new()));
    };
    let rest: Vec<Vec<ProcessHandle>> = batches.collect();
    if wait {
        let mut results = stop_batch(first, true).await;
        for batch in rest {
            results.extend(stop_batch(batch, true).await);
        }
        return Ok(Value::Array(results));
    }
    let mut results = stop_batch(first.clone(), false).await;
    for p in rest.iter().flatten() {
        results.push(outcome(p, Ok(())));
    }
    if !rest.is_empty() {
        tokio::task::spawn_local(async move {
            let mut before = first;
            for batch in rest {
                for p in &before {
                    p.wait_until(Info::quiet).await;
                }
                stop_batch(batch.clone(), false).await;
                before = batch;
            }
        });
    }
    Ok(Value::Array(results))
}

/// One batch of [`stop_many`]: every process stopped at once, then waited for.
async fn stop_batch(procs: Vec<ProcessHandle>, wait: bool) -> Vec<Value> {
    let mut results = Vec::new();
    let mut waiting = Vec::new();
    for p in procs {
        if !stoppable(&p) {
            continue;
        }
        let namespec = make_namespec(p.group(), p.name());
        let begun = begin_stop(&p, &namespec, wait).await;
        route_begun(&p, namespec, begun, &mut results, &mut waiting);
    }
    with_waited(results, waiting).await
}

async fn signal_one(p: &ProcessHandle, namespec: &str, sig: &Value) -> Result<(), RpcError> {
    let Some(num) = parse_signal(sig) else {
        return err(Fault::BadSignal, signal_repr(sig));
    };
    if !p.state().is_signallable() {
        return err(Fault::NotRunning, namespec);
    }
    match p.signal(num).await {
        Reply::Ok => Ok(()),
        Reply::NotRunning => err(Fault::NotRunning, namespec),
        Reply::Failed(m) => err(Fault::Failed, m),
        Reply::AlreadyStarted | Reply::InUnknownState => Ok(()),
    }
}

async fn signal_many(procs: Vec<ProcessHandle>, sig: &Value) -> Value {
    let mut results = Vec::new();
    for p in procs {
        if !p.state().is_signallable() {
            continue;
        }
        let namespec = make_namespec(p.group(), p.name());
        results.push(outcome(&p, signal_one(&p, &namespec, sig).await));
    }
    Value::Array(results)
}
