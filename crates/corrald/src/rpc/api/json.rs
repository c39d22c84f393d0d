//! XML-RPC values and processes as JSON.

use serde_json::{Value as Json, json};

use corral_proto::xmlrpc::Value;

use super::super::supervisor::process::process_info;
use crate::process::ProcessHandle;
use crate::rpc::metrics::{healthy, restarts_by_reason};

/// An XML-RPC value as JSON: structs become objects, binary and dates strings.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Int(i) => json!(i),
        Value::Bool(b) => json!(b),
        Value::String(s) => json!(s),
        Value::Double(d) => json!(d),
        Value::DateTime(s) => json!(s),
        Value::Base64(b) => json!(String::from_utf8_lossy(b)),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::Struct(members) => Json::Object(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
        Value::Nil => Json::Null,
    }
}

/// A process: `getProcessInfo`'s struct, plus what corral knows beyond it (its namespec,
/// uptime, restarts, readiness, health, log bytes).
pub fn process_json(p: &ProcessHandle) -> Json {
    let pi = process_info(p);
    let info = p.info();
    let mut j = to_json(&pi.to_value());
    let running = info.state() == corral_core::ProcessState::Running;
    let restarts: serde_json::Map<String, Json> = restarts_by_reason(&info.snapshot)
        .into_iter()
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    j["namespec"] = json!(corral_proto::api::make_namespec(p.group(), p.name()));
    j["process_num"] = json!(p.config.process_num);
    j["uptime"] = json!(if running && pi.start > 0 {
        (pi.now - pi.start).max(0)
    } else {
        0
    });
    j["restarts"] = Json::Object(restarts);
    j["ready"] = json!(running);
    j["healthy"] = healthy(p, &info).map_or(Json::Null, Json::Bool);
    j["log_bytes"] = json!({
        "stdout": info.log_bytes[0].get(),
        "stderr": info.log_bytes[1].get(),
    });
    j
}
