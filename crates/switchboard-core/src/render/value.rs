//! Typed checks of one argument value against its [`ParameterDefinition`]:
//! type (with the element type of arrays), `enum`, `minimum` / `maximum`
//! (a number's value, a string's length in characters, an array's length),
//! `pattern` (whole-value match) and `format`.
//!
//! Every refusal is [`Error::invalid_argument`] naming the parameter (an
//! array element as `name[index]`) and saying what is allowed.

use regex::Regex;
use serde_json::Value;

use super::format;
use crate::definition::{ParameterDefinition, ParameterType};
use crate::error::{Error, ErrorKind, Result};

/// A parameter's `pattern`, compiled once per method (whole-value match).
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    /// The parameter has no pattern.
    None,
    /// The compiled pattern.
    Compiled(Regex),
    /// The pattern does not compile: a definition error, reported when a
    /// value is checked against it (as if it were compiled then).
    Invalid,
}

impl Pattern {
    /// Compile the parameter's pattern, if it has one.
    pub(crate) fn of(param: &ParameterDefinition) -> Pattern {
        match compile_pattern(param) {
            Ok(Some(re)) => Pattern::Compiled(re),
            Ok(None) => Pattern::None,
            Err(_) => Pattern::Invalid,
        }
    }

    /// The regular expression, or the definition error.
    fn regex<'a>(
        &'a self,
        param: &ParameterDefinition,
        compiled: &'a mut Option<Regex>,
    ) -> Result<Option<&'a Regex>> {
        match self {
            Pattern::None => Ok(None),
            Pattern::Compiled(re) => Ok(Some(re)),
            Pattern::Invalid => {
                *compiled = compile_pattern(param)?;
                Ok(compiled.as_ref())
            }
        }
    }
}

/// Check a value (never `null`, never for `binary`) against the parameter
/// and its compiled `pattern` ([`Pattern::of`]).
pub(crate) fn check(param: &ParameterDefinition, pattern: &Pattern, value: &Value) -> Result<()> {
    let name = param.name.as_str();
    let mut compiled = None;
    check_type(name, param.kind, param.items, value)?;
    match value {
        Value::Array(items) => {
            check_bounds(name, param, items.len() as f64, Bound::Length("items"))?;
            let pattern = pattern.regex(param, &mut compiled)?;
            for (index, item) in items.iter().enumerate() {
                // The element's name is written only when it is refused.
                if let Some(allowed) =
                    check_enum(param, item).or_else(|| check_string_rules(param, pattern, item))
                {
                    return Err(Error::invalid_argument(format!("{name}[{index}]"), allowed));
                }
            }
        }
        _ => {
            if let Some(allowed) = check_enum(param, value) {
                return Err(Error::invalid_argument(name, allowed));
            }
            match value {
                Value::Number(n) => {
                    if let Some(n) = n.as_f64() {
                        check_bounds(name, param, n, Bound::Value)?;
                    }
                }
                Value::String(s)
                    if param.kind == ParameterType::String
                        && (param.minimum.is_some() || param.maximum.is_some()) =>
                {
                    check_bounds(
                        name,
                        param,
                        s.chars().count() as f64,
                        Bound::Length("characters"),
                    )?;
                }
                _ => {}
            }
            let pattern = pattern.regex(param, &mut compiled)?;
            if let Some(allowed) = check_string_rules(param, pattern, value) {
                return Err(Error::invalid_argument(name, allowed));
            }
        }
    }
    Ok(())
}

/// Check binary content's length against the parameter's `minimum` and
/// `maximum` (bytes). The refusal names the method and the limit, followed
/// by the parameter's description (where a connector says what to do
/// instead, such as an upload session for large files).
pub(crate) fn check_content_size(
    method_id: &str,
    param: &ParameterDefinition,
    len: usize,
) -> Result<()> {
    let len = len as f64;
    let refusal = match (param.minimum, param.maximum) {
        (_, Some(max)) if len > max => format!("takes at most {} bytes", num(max)),
        (Some(min), _) if len < min => format!("takes at least {} bytes", num(min)),
        _ => return Ok(()),
    };
    let mut message = format!("is {} bytes; `{method_id}` {refusal}", num(len));
    if let Some(description) = &param.description {
        message.push_str(". ");
        message.push_str(description);
    }
    Err(Error::invalid_argument(param.name.as_str(), message))
}

/// What a value of the type looks like, for error messages.
fn describe_type(kind: ParameterType, items: Option<ParameterType>) -> String {
    match kind {
        ParameterType::String => "must be a string".into(),
        ParameterType::Integer => "must be an integer (a JSON number without a fraction)".into(),
        ParameterType::Number => "must be a number".into(),
        ParameterType::Boolean => "must be true or false".into(),
        ParameterType::DateTime => format!("must be {}", crate::datetime::DATE_TIME_FORM),
        ParameterType::Array => match items {
            Some(item) => format!(
                "must be an array whose items are each of type {}",
                item.as_str()
            ),
            None => "must be an array".into(),
        },
        ParameterType::Object => "must be a JSON object".into(),
        ParameterType::Binary => {
            "is binary content: pass it with Arguments::with_content, not as a named value".into()
        }
    }
}

fn has_type(kind: ParameterType, value: &Value) -> bool {
    match kind {
        ParameterType::String => value.is_string(),
        ParameterType::Integer => value.is_i64() || value.is_u64(),
        ParameterType::Number => value.is_number(),
        ParameterType::Boolean => value.is_boolean(),
        ParameterType::DateTime => value.as_str().is_some_and(crate::datetime::is_date_time),
        ParameterType::Array => value.is_array(),
        ParameterType::Object => value.is_object(),
        ParameterType::Binary => false,
    }
}

fn check_type(
    name: &str,
    kind: ParameterType,
    items: Option<ParameterType>,
    value: &Value,
) -> Result<()> {
    if !has_type(kind, value) {
        return Err(Error::invalid_argument(name, describe_type(kind, items)));
    }
    if let (Value::Array(elements), Some(item_kind)) = (value, items) {
        for (index, element) in elements.iter().enumerate() {
            if !has_type(item_kind, element) {
                return Err(Error::invalid_argument(
                    format!("{name}[{index}]"),
                    describe_type(item_kind, None),
                ));
            }
        }
    }
    Ok(())
}

/// What is allowed, when the value is not one of the parameter's `enum`.
fn check_enum(param: &ParameterDefinition, value: &Value) -> Option<String> {
    match &param.allowed {
        Some(allowed) if !allowed.contains(value) => {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            Some(format!("must be one of: {}", list.join(", ")))
        }
        _ => None,
    }
}

/// What a bound applies to.
#[derive(Clone, Copy)]
enum Bound {
    /// The number itself.
    Value,
    /// A length counted in the named unit.
    Length(&'static str),
}

fn check_bounds(name: &str, param: &ParameterDefinition, actual: f64, bound: Bound) -> Result<()> {
    let (min, max) = (param.minimum, param.maximum);
    let below = min.is_some_and(|m| actual < m);
    let above = max.is_some_and(|m| actual > m);
    if !below && !above {
        return Ok(());
    }
    let range = match (min, max) {
        (Some(lo), Some(hi)) => format!("between {} and {}", num(lo), num(hi)),
        (Some(lo), None) => format!("at least {}", num(lo)),
        (None, Some(hi)) => format!("at most {}", num(hi)),
        (None, None) => String::new(),
    };
    let allowed = match bound {
        Bound::Value => format!("must be {range}"),
        Bound::Length(unit) => format!("must have {range} {unit}"),
    };
    Err(Error::invalid_argument(name, allowed))
}

/// A bound written without a needless `.0`.
fn num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn compile_pattern(param: &ParameterDefinition) -> Result<Option<Regex>> {
    let Some(pattern) = &param.pattern else {
        return Ok(None);
    };
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidDefinition,
                format!(
                    "parameter `{}` has a pattern that is not a valid regular expression: {e}",
                    param.name
                ),
            )
            .with_field(param.name.clone())
        })
}

/// `pattern` and `format` apply to string values (and string elements):
/// what is allowed, when the value does not match.
fn check_string_rules(
    param: &ParameterDefinition,
    pattern: Option<&Regex>,
    value: &Value,
) -> Option<String> {
    let Value::String(s) = value else {
        return None;
    };
    if let Some(re) = pattern
        && !re.is_match(s)
    {
        return Some(format!(
            "must match the pattern `{}`",
            param.pattern.as_deref().unwrap_or_default()
        ));
    }
    match param.format {
        Some(f) if !format::matches(f, s) => Some(format::describe(f).to_owned()),
        _ => None,
    }
}
