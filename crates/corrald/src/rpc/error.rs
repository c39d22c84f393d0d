//! supervisord's `RPCError`: a fault code and its text, and the shorthands the methods use
//! to raise one.

use corral_proto::api::Fault;
use corral_proto::xmlrpc::Value;

use super::args::py_str;

/// A fault: its code and its text (`BAD_NAME: foo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i32,
    pub text: String,
}

impl RpcError {
    pub fn new(fault: Fault, extra: Option<&str>) -> RpcError {
        RpcError {
            code: fault.code(),
            text: fault.text(extra),
        }
    }
}

/// What a method answers.
pub type RpcResult = Result<Value, RpcError>;

/// `RPCError(fault, extra)`.
pub fn err<T>(fault: Fault, extra: impl AsRef<str>) -> Result<T, RpcError> {
    Err(RpcError::new(fault, Some(extra.as_ref())))
}

/// `RPCError(fault)`: no text after the fault's name.
pub fn err0<T>(fault: Fault) -> Result<T, RpcError> {
    Err(RpcError::new(fault, None))
}

/// `err(fault, str(v))`, or the bare fault when `v` is nil (supervisord's `RPCError(code,
/// None)`).
pub fn err_value<T>(fault: Fault, v: Option<&Value>) -> Result<T, RpcError> {
    match v.and_then(py_str) {
        Some(text) => err(fault, text),
        None => err0(fault),
    }
}
