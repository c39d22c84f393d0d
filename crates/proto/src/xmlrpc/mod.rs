//! supervisord's XML-RPC wire format.
//!
//! Daemon side: [`parse_call`] on a request body, then [`encode_response`] or
//! [`encode_fault`]. Client side: [`encode_call`] and [`parse_response`]. Log contents go
//! through [`xml_safe_text`] first.

mod decode;
mod encode;
mod float;
mod text;
mod value;
mod xml;

pub use decode::{Call, DecodeError, FaultResponse, MAX_DEPTH, parse_call, parse_response};
pub use encode::{encode_call, encode_fault, encode_response, write_value};
pub use float::python_repr;
pub use text::{REPLACEMENT, is_xml_char, xml_safe_str, xml_safe_text};
pub use value::{Key, Value};
