//! The `system.*` namespace: supervisord's `SystemNamespaceRPCInterface` (`xmlrpc.py`):
//! introspection of the method table, and `multicall`.

use std::rc::Rc;

use corral_proto::api::{self, Fault};
use corral_proto::xmlrpc::Value;

use super::args::{Args, multicall_params, py_str, py_type_name};
use super::dispatch::{dispatch, method_exists};
use super::error::{RpcError, RpcResult, err, err0};
use crate::supervisor::Supervisor;

pub async fn list_methods(_: Rc<Supervisor>, _: Args) -> RpcResult {
    Ok(Value::Array(
        api::list_methods().into_iter().map(Value::from).collect(),
    ))
}

pub async fn method_help(_: Rc<Supervisor>, a: Args) -> RpcResult {
    // supervisord compares the argument with each method name: a non-string matches none.
    let Ok(name) = a.name(0) else {
        return err0(Fault::SignatureUnsupported);
    };
    match api::method_help(&name) {
        Some(h) => Ok(Value::from(h)),
        None => err0(Fault::SignatureUnsupported),
    }
}

pub async fn method_signature(_: Rc<Supervisor>, a: Args) -> RpcResult {
    let Ok(name) = a.name(0) else {
        return err0(Fault::SignatureUnsupported);
    };
    match api::method_signature(&name) {
        Some(s) => Ok(Value::Array(s.iter().map(|t| Value::from(*t)).collect())),
        None => err0(Fault::SignatureUnsupported),
    }
}

pub async fn multicall(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let Some(Value::Array(calls)) = a.get(0).cloned() else {
        return err0(Fault::IncorrectParameters);
    };
    let mut results = Vec::with_capacity(calls.len());
    for call in calls {
        let r = match call.get("methodName") {
            None | Some(Value::Nil) => Err(RpcError::new(
                Fault::IncorrectParameters,
                Some("No methodName"),
            )),
            Some(Value::String(m)) if m == "system.multicall" => Err(RpcError::new(
                Fault::IncorrectParameters,
                Some("Recursive system.multicall forbidden"),
            )),
            Some(m @ (Value::String(_) | Value::Base64(_))) => {
                let m = py_str(m).unwrap_or_default();
                match multicall_params(call.get("params")) {
                    Some(params) => dispatch(sup.clone(), m, params).await,
                    // `func(*params)` on a non-iterable: TypeError, once the
                    // method name resolved.
                    None if method_exists(&m) => err0(Fault::IncorrectParameters),
                    None => err0(Fault::UnknownMethod),
                }
            }
            // `name.split('.')` on a non-string, caught by multicall's bare except.
            Some(other) => err(
                Fault::Failed,
                format!(
                    "<class 'AttributeError'>:'{}' object has no attribute 'split'",
                    py_type_name(other)
                ),
            ),
        };
        // supervisord appends each value as is, not wrapped in a one-element
        // array as the multicall convention (and its own docstring) says; clients
        // written against it read bare values.
        results.push(match r {
            Ok(v) => v,
            Err(e) => Value::structure([
                ("faultCode", Value::Int(e.code)),
                ("faultString", Value::from(e.text.as_str())),
            ]),
        });
    }
    Ok(Value::Array(results))
}
