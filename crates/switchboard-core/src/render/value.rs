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

/// Check a value (never `null`, never for `binary`) against the parameter.
pub(crate) fn check(param: &ParameterDefinition, value: &Value) -> Result<()> {
    let name = param.name.as_str();
    check_type(name, param.kind, param.items, value)?;
    match value {
        Value::Array(items) => {
            check_bounds(name, param, items.len() as f64, Bound::Length("items"))?;
            let pattern = compile_pattern(param)?;
            for (index, item) in items.iter().enumerate() {
                let field = format!("{name}[{index}]");
                check_enum(&field, param, item)?;
                check_string_rules(&field, param, pattern.as_ref(), item)?;
            }
        }
        _ => {
            check_enum(name, param, value)?;
            match value {
                Value::Number(n) => {
                    if let Some(n) = n.as_f64() {
                        check_bounds(name, param, n, Bound::Value)?;
                    }
                }
                Value::String(s) if param.kind == ParameterType::String => {
                    check_bounds(
                        name,
                        param,
                        s.chars().count() as f64,
                        Bound::Length("characters"),
                    )?;
                }
                _ => {}
            }
            let pattern = compile_pattern(param)?;
            check_string_rules(name, param, pattern.as_ref(), value)?;
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
        ParameterType::DateTime => format::DATE_TIME_ALLOWED.into(),
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
        ParameterType::DateTime => value.as_str().is_some_and(format::is_date_time),
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

fn check_enum(field: &str, param: &ParameterDefinition, value: &Value) -> Result<()> {
    match &param.allowed {
        Some(allowed) if !allowed.contains(value) => {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            Err(Error::invalid_argument(
                field,
                format!("must be one of: {}", list.join(", ")),
            ))
        }
        _ => Ok(()),
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

/// `pattern` and `format` apply to string values (and string elements).
fn check_string_rules(
    field: &str,
    param: &ParameterDefinition,
    pattern: Option<&Regex>,
    value: &Value,
) -> Result<()> {
    let Value::String(s) = value else {
        return Ok(());
    };
    if let Some(re) = pattern
        && !re.is_match(s)
    {
        return Err(Error::invalid_argument(
            field,
            format!(
                "must match the pattern `{}`",
                param.pattern.as_deref().unwrap_or_default()
            ),
        ));
    }
    if let Some(f) = param.format
        && !format::matches(f, s)
    {
        return Err(Error::invalid_argument(field, format::describe(f)));
    }
    Ok(())
}
