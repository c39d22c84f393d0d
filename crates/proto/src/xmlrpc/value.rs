//! The XML-RPC value model.

/// One XML-RPC value.
///
/// `Struct` keeps its members in order: supervisord's structs are Python dicts, which
/// marshal in insertion order, and byte-identical responses depend on that order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>` / `<i4>` (XML-RPC integers are 32-bit; Python refuses to marshal larger ones).
    Int(i32),
    Bool(bool),
    String(String),
    Double(f64),
    /// `<dateTime.iso8601>` text as sent, e.g. `20240101T12:00:00`.
    DateTime(String),
    Base64(Vec<u8>),
    Array(Vec<Value>),
    /// Member names are borrowed when they are literals (most are: an answer of 3,000
    /// processes has 42,000 of them), owned when decoded.
    Struct(Vec<(Key, Value)>),
    /// `<nil/>`, an extension Python only marshals with `allow_none=True`.
    Nil,
}

/// A struct member's name.
pub type Key = std::borrow::Cow<'static, str>;

impl Value {
    /// Builds a struct from `(name, value)` pairs, keeping their order.
    pub fn structure<K, I>(members: I) -> Value
    where
        K: Into<Key>,
        I: IntoIterator<Item = (K, Value)>,
    {
        Value::Struct(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The XML-RPC type name (`int`, `boolean`, `string`, ...), for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Bool(_) => "boolean",
            Value::String(_) => "string",
            Value::Double(_) => "double",
            Value::DateTime(_) => "dateTime.iso8601",
            Value::Base64(_) => "base64",
            Value::Array(_) => "array",
            Value::Struct(_) => "struct",
            Value::Nil => "nil",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Base64(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&[(Key, Value)]> {
        match self {
            Value::Struct(m) => Some(m),
            _ => None,
        }
    }

    /// Looks up a struct member by name (`None` for a missing member or a non-struct).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_struct()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Sets a struct member, replacing an existing one in place (as a Python dict does) or
    /// appending it. Does nothing on a non-struct.
    pub fn set(&mut self, name: &str, value: Value) {
        if let Value::Struct(members) = self {
            match members.iter_mut().find(|(k, _)| k == name) {
                Some(slot) => slot.1 = value,
                None => members.push((Key::Owned(name.to_owned()), value)),
            }
        }
    }

    /// Nesting depth: 1 for a scalar, one more per array or struct level.
    pub fn depth(&self) -> usize {
        match self {
            Value::Array(items) => 1 + items.iter().map(Value::depth).max().unwrap_or(0),
            Value::Struct(members) => 1 + members.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 1,
        }
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::String(v.clone())
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Base64(v)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v)
    }
}

impl From<Vec<(String, Value)>> for Value {
    fn from(v: Vec<(String, Value)>) -> Self {
        Value::Struct(v.into_iter().map(|(k, v)| (Key::Owned(k), v)).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` becomes `Nil`.
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Nil, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_match_only_their_variant() {
        assert_eq!(Value::from(5).as_i32(), Some(5));
        assert_eq!(Value::from("x").as_i32(), None);
        assert_eq!(Value::from("x").as_str(), Some("x"));
        assert_eq!(Value::from(true).as_bool(), Some(true));
        assert_eq!(Value::from(1).as_bool(), None);
        assert_eq!(Value::from(1.5).as_f64(), Some(1.5));
        assert_eq!(Value::from(vec![1u8, 2]).as_bytes(), Some(&[1u8, 2][..]));
        assert_eq!(
            Value::from(vec![Value::Nil]).as_array().map(<[Value]>::len),
            Some(1)
        );
        assert_eq!(Value::from(None::<i32>), Value::Nil);
        assert_eq!(Value::from(Some(3)), Value::Int(3));
    }

    #[test]
    fn struct_lookup_and_set() {
        let mut v = Value::structure([("a", Value::from(1)), ("b", Value::from("two"))]);
        assert_eq!(v.get("b"), Some(&Value::from("two")));
        assert_eq!(v.get("c"), None);
        v.set("a", Value::from(10));
        v.set("c", Value::Nil);
        let keys: Vec<&str> = v.as_struct().unwrap().iter().map(|(k, _)| &**k).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(v.get("a"), Some(&Value::Int(10)));
        assert_eq!(Value::Int(1).get("a"), None);
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(Value::Int(1).depth(), 1);
        assert_eq!(Value::Array(vec![]).depth(), 1);
        let nested = Value::Array(vec![Value::structure([(
            "k",
            Value::Array(vec![Value::Nil]),
        )])]);
        assert_eq!(nested.depth(), 4);
    }
}
