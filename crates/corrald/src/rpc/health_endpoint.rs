//! `GET /api/v1/health`: one answer for a load balancer or a Kubernetes probe. 200 when
//! every autostart program is RUNNING (and, with a `healthcheck=`, found healthy by its last check),
//! 503 otherwise (something is starting, backing off, failed, or corrald is shutting down),
//! with a small JSON body:
//!
//! ```json
//! {"status":"ok","running":3,"expected":3}
//! {"status":"unavailable","running":2,"expected":3,"not_ready":[{"name":"web:web_01","state":"BACKOFF"}]}
//! ```
//!
//! A probe usually cannot send credentials, so the endpoint answers without them; the
//! names of the programs that are not ready are only listed for a client that sent the
//! server's credentials (or when the server has none). Wrong credentials are refused like
//! any other request (and counted by the server's guard).

use corral_core::ProcessState;
use corral_core::machine::HealthState;
use corral_proto::http::{Request, Response};
use serde_json::json;

use crate::process::{Info, ProcessHandle};
use crate::supervisor::Supervisor;

/// Where it is served.
pub const PATH: &str = "/api/v1/health";

/// Why a process does not count as up, if it doesn't: not RUNNING, or (with a
/// `healthcheck=`) not found healthy by its last check. A process whose first check has
/// not run yet is not up: a load balancer should not send it traffic on faith.
fn not_up(p: &ProcessHandle, info: &Info) -> Option<&'static str> {
    if info.state() != ProcessState::Running {
        return Some(info.state().name());
    }
    // Without a health check, RUNNING is up.
    p.config.liveness.healthcheck.as_ref()?;
    match info.snapshot.health.state {
        HealthState::Healthy => None,
        HealthState::Unhealthy => Some("RUNNING, unhealthy"),
        HealthState::Unknown => Some("RUNNING, not checked yet"),
    }
}

pub fn handle(sup: &Supervisor, req: &Request, authorized: bool) -> Response {
    if req.method != "GET" {
        return Response::error_page(405).header("Allow", "GET");
    }
    let mut expected = 0;
    let mut running = 0;
    let mut not_ready = Vec::new();
    for p in sup.processes() {
        if !p.config.autostart {
            continue;
        }
        expected += 1;
        let info = p.info();
        match not_up(&p, &info) {
            None => running += 1,
            Some(state) => not_ready.push(json!({
                "name": p.config.namespec(),
                "state": state,
            })),
        }
    }
    let status = match sup.state() {
        corral_core::SupervisorState::Shutdown => "shutting down",
        corral_core::SupervisorState::Restarting => "reloading",
        _ if not_ready.is_empty() => "ok",
        _ => "unavailable",
    };
    let mut body = json!({
        "status": status,
        "running": running,
        "expected": expected,
    });
    if authorized && !not_ready.is_empty() {
        body["not_ready"] = json!(not_ready);
    }
    let code = if status == "ok" { 200 } else { 503 };
    Response::new(code)
        .header("Content-Type", "application/json")
        .header("Cache-Control", "no-store")
        .body(format!("{body}\n"))
}
