//! `supervisor.*` log access: the main log and each process's stdout/stderr logs (read a
//! byte range, tail, clear), as supervisord's `readFile`/`tailFile` do.

use std::io::{Read, Seek, SeekFrom};
use std::rc::Rc;

use corral_proto::api::{Fault, capped_int, make_namespec};
use corral_proto::xmlrpc::{Value, xml_safe_text};

use super::lookup::{all_processes, existing_file, named_process, process_log};
use super::process::outcome;
use crate::logs::mainlog;
use crate::rpc::args::Args;
use crate::rpc::error::{RpcError, RpcResult, err, err0};
use crate::supervisor::Supervisor;

pub async fn read_log(_: Rc<Supervisor>, a: Args) -> RpcResult {
    // supervisord checks the file before converting the arguments.
    let path = existing_file(mainlog::path().map(|p| p.to_string_lossy().into_owned()))?;
    read_file(&path, a.int(0)?, a.int(1)?)
}

pub async fn clear_log(_: Rc<Supervisor>, _: Args) -> RpcResult {
    match mainlog::path() {
        Some(p) if p.exists() => {}
        _ => return err0(Fault::NoFile),
    }
    if mainlog::clear().is_err() {
        return err0(Fault::Failed);
    }
    mainlog::info("reopening log file");
    Ok(Value::Bool(true))
}

/// `readProcessStdoutLog` (and its alias `readProcessLog`).
pub async fn read_process_stdout_log(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    read_process_log(&sup, &a, false)
}

pub async fn read_process_stderr_log(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    read_process_log(&sup, &a, true)
}

fn read_process_log(sup: &Supervisor, a: &Args, stderr: bool) -> RpcResult {
    // The file is checked before the arguments are converted.
    let path = existing_file(process_log(sup, &a.name(0)?, stderr)?)?;
    read_file(&path, a.int(1)?, a.int(2)?)
}

/// `tailProcessStdoutLog` (and its alias `tailProcessLog`).
pub async fn tail_process_stdout_log(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    tail_process_log(&sup, &a, false)
}

pub async fn tail_process_stderr_log(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    tail_process_log(&sup, &a, true)
}

fn tail_process_log(sup: &Supervisor, a: &Args, stderr: bool) -> RpcResult {
    // Without a log file the arguments are never looked at.
    match existing_file(process_log(sup, &a.name(0)?, stderr)?) {
        Ok(path) => Ok(tail_file(&path, a.int(1)?, a.int(2)?)),
        Err(_) => Ok(Value::Array(vec![
            Value::from(""),
            Value::Int(0),
            Value::Bool(false),
        ])),
    }
}

/// `clearProcessLogs` (and its alias `clearProcessLog`).
pub async fn clear_process_logs_call(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let name = a.name(0)?;
    clear_process_logs(&sup, &name)
        .await
        .map(|()| Value::Bool(true))
}

pub async fn clear_all_process_logs(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    let mut results = Vec::new();
    for p in all_processes(&sup, false) {
        let namespec = make_namespec(p.group(), p.name());
        results.push(outcome(&p, clear_process_logs(&sup, &namespec).await));
    }
    Ok(Value::Array(results))
}

async fn clear_process_logs(sup: &Supervisor, name: &str) -> Result<(), RpcError> {
    named_process(sup, name)?
        .clear_logs()
        .await
        .or_else(|_| err(Fault::Failed, name))
}

/// supervisord's `readFile`, with text made safe for XML.
fn read_file(path: &str, offset: i64, length: i64) -> RpcResult {
    let data = read_bytes(path, offset, length)?;
    Ok(Value::String(xml_safe_text(&data)))
}

/// supervisord's `readFile`, the bytes as the file holds them: `length` bytes from
/// `offset` (to the end when 0), or, with a negative `offset` (and `length` 0), the last
/// `-offset` bytes.
pub fn read_bytes(path: &str, offset: i64, length: i64) -> Result<Vec<u8>, RpcError> {
    let mut f = std::fs::File::open(path).or_else(|_| err0(Fault::Failed))?;
    let mut data = Vec::new();
    if offset < 0 {
        if length != 0 {
            return err0(Fault::BadArguments);
        }
        let size = f.seek(SeekFrom::End(0)).or_else(|_| err0(Fault::Failed))?;
        let pos = size.saturating_sub(offset.unsigned_abs());
        f.seek(SeekFrom::Start(pos))
            .or_else(|_| err0(Fault::Failed))?;
        f.take(offset.unsigned_abs())
            .read_to_end(&mut data)
            .or_else(|_| err0(Fault::Failed))?;
    } else {
        if length < 0 {
            return err0(Fault::BadArguments);
        }
        f.seek(SeekFrom::Start(offset as u64))
            .or_else(|_| err0(Fault::Failed))?;
        if length == 0 {
            f.read_to_end(&mut data).or_else(|_| err0(Fault::Failed))?;
        } else {
            f.take(length as u64)
                .read_to_end(&mut data)
                .or_else(|_| err0(Fault::Failed))?;
        }
    }
    Ok(data)
}

/// supervisord's `tailFile`: [bytes, new offset, overflow].
fn tail_file(path: &str, offset: i64, length: i64) -> Value {
    let fallback = Value::Array(vec![
        Value::from(""),
        Value::Int(capped_int(offset)),
        Value::Bool(false),
    ]);
    let Ok(mut f) = std::fs::File::open(path) else {
        return fallback;
    };
    let Ok(sz) = f.seek(SeekFrom::End(0)) else {
        return fallback;
    };
    let sz = sz as i64;
    let (mut offset, mut length) = (offset, length);
    let mut overflow = false;
    if sz > offset + length {
        overflow = true;
        offset = sz - 1;
    }
    if offset + length > sz {
        if offset > sz - 1 {
            length = 0;
        }
        offset = sz - length;
    }
    offset = offset.max(0);
    length = length.max(0);
    let mut data = Vec::new();
    if length > 0 && f.seek(SeekFrom::Start(offset as u64)).is_ok() {
        let _ = (&mut f).take(length as u64).read_to_end(&mut data);
    }
    Value::Array(vec![
        Value::String(xml_safe_text(&data)),
        Value::Int(capped_int(sz)),
        Value::Bool(overflow),
    ])
}
