//! OData as Graph speaks it: `$filter`, `$select`, `$orderby`, `$top`,
//! `$skiptoken`, `$count`, `$search`, delta tokens and the `Prefer` header.
//!
//! Collections are filtered, sorted and paged here on Graph JSON objects,
//! so each area only has to produce its records.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use crate::errors::GraphError;
use crate::request::Ctx;

// ---------------------------------------------------------------- $filter

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Str(String),
    Word(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '(' | ')' | ',' | '\'')
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, String, Value),
    Func(String, String, String),
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<String> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_word().as_deref() == Some("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word().as_deref() == Some("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_word().as_deref() == Some("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::RParen) {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                let lw = w.to_ascii_lowercase();
                if matches!(lw.as_str(), "startswith" | "endswith" | "contains")
                    && self.toks.get(self.pos) == Some(&Tok::LParen)
                {
                    self.pos += 1;
                    let prop = match self.toks.get(self.pos) {
                        Some(Tok::Word(p)) => p.clone(),
                        _ => return Err(format!("{lw} needs a property name")),
                    };
                    self.pos += 1;
                    if self.toks.get(self.pos) != Some(&Tok::Comma) {
                        return Err(format!("{lw} needs two arguments"));
                    }
                    self.pos += 1;
                    let lit = match self.toks.get(self.pos) {
                        Some(Tok::Str(s)) => s.clone(),
                        _ => return Err(format!("{lw} needs a string literal")),
                    };
                    self.pos += 1;
                    if self.toks.get(self.pos) != Some(&Tok::RParen) {
                        return Err("missing ')'".into());
                    }
                    self.pos += 1;
                    return Ok(Expr::Func(lw, w_prop(&prop), lit));
                }
                let op = self
                    .peek_word()
                    .ok_or_else(|| format!("expected an operator after '{w}'"))?;
                if !matches!(op.as_str(), "eq" | "ne" | "gt" | "ge" | "lt" | "le") {
                    return Err(format!("unsupported operator '{op}'"));
                }
                self.pos += 1;
                let lit = match self.toks.get(self.pos).cloned() {
                    Some(Tok::Str(s)) => Value::String(s),
                    Some(Tok::Word(v)) => literal(&v),
                    _ => return Err(format!("expected a value after '{op}'")),
                };
                self.pos += 1;
                Ok(Expr::Cmp(w_prop(&w), op, lit))
            }
            _ => Err("expected an expression".into()),
        }
    }
}

fn w_prop(p: &str) -> String {
    p.to_string()
}

fn literal(word: &str) -> Value {
    match word.to_ascii_lowercase().as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => {
            if let Ok(n) = word.parse::<i64>() {
                json!(n)
            } else if let Ok(f) = word.parse::<f64>() {
                json!(f)
            } else {
                // Date-times and enum members compare as text.
                Value::String(word.to_string())
            }
        }
    }
}

/// Parses a `$filter` expression.
pub(crate) fn parse_filter(text: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: tokenize(text)?,
        pos: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err("unexpected text after the expression".into());
    }
    Ok(e)
}

impl Expr {
    /// Whether the expression needs Graph's advanced query capabilities on
    /// directory objects (`ne`, `not`, `endswith`).
    pub(crate) fn is_advanced(&self) -> Option<String> {
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => a.is_advanced().or_else(|| b.is_advanced()),
            Expr::Not(_) => Some("not".into()),
            Expr::Cmp(p, op, _) if op == "ne" => Some(p.clone()),
            Expr::Func(f, p, _) if f == "endswith" => Some(p.clone()),
            _ => None,
        }
    }

    /// Every property path the expression reads.
    pub(crate) fn properties(&self, out: &mut Vec<String>) {
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => {
                a.properties(out);
                b.properties(out);
            }
            Expr::Not(a) => a.properties(out),
            Expr::Cmp(p, _, _) | Expr::Func(_, p, _) => out.push(p.clone()),
        }
    }

    /// Evaluates the expression on a record.
    pub(crate) fn matches(&self, item: &Value) -> bool {
        match self {
            Expr::Or(a, b) => a.matches(item) || b.matches(item),
            Expr::And(a, b) => a.matches(item) && b.matches(item),
            Expr::Not(a) => !a.matches(item),
            Expr::Cmp(path, op, lit) => {
                let v = lookup(item, path);
                let ord = compare(v.unwrap_or(&Value::Null), lit);
                match op.as_str() {
                    "eq" => ord == Ordering::Equal,
                    "ne" => ord != Ordering::Equal,
                    "gt" => ord == Ordering::Greater,
                    "ge" => ord != Ordering::Less,
                    "lt" => ord == Ordering::Less,
                    "le" => ord != Ordering::Greater,
                    _ => false,
                }
            }
            Expr::Func(f, path, lit) => {
                let Some(s) = lookup(item, path).and_then(Value::as_str) else {
                    return false;
                };
                let (s, lit) = (s.to_lowercase(), lit.to_lowercase());
                match f.as_str() {
                    "startswith" => s.starts_with(&lit),
                    "endswith" => s.ends_with(&lit),
                    _ => s.contains(&lit),
                }
            }
        }
    }
}

/// Reads `a/b/c` from a JSON object.
pub(crate) fn lookup<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = item;
    for part in path.split('/') {
        cur = cur.get(part).or_else(|| {
            cur.as_object().and_then(|m| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(part))
                    .map(|(_, v)| v)
            })
        })?;
    }
    Some(cur)
}

/// Orders two JSON values as OData does: nulls first, text case-insensitively.
pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), other) | (other, Value::String(x)) => {
            let o = x.to_lowercase().cmp(&other.to_string().to_lowercase());
            if matches!(a, Value::String(_)) {
                o
            } else {
                o.reverse()
            }
        }
        _ => a.to_string().cmp(&b.to_string()),
    }
}

// ---------------------------------------------------------------- collections

/// How one collection behaves.
pub(crate) struct ListOptions<'a> {
    /// Page size when neither `$top` nor `odata.maxpagesize` says otherwise.
    pub default_page: usize,
    /// The largest `$top` Graph accepts here.
    pub max_top: usize,
    /// Properties returned when there is no `$select` (`None`: all).
    pub default_select: Option<&'a [&'a str]>,
    /// The Graph type, for error messages (`microsoft.graph.user`).
    pub type_name: &'a str,
    /// Directory rules: advanced queries need `ConsistencyLevel: eventual`
    /// and `$count=true`; `$count` and `$search` need the header.
    pub directory: bool,
}

impl ListOptions<'_> {
    pub(crate) fn outlook(type_name: &str) -> ListOptions<'_> {
        ListOptions {
            default_page: 10,
            max_top: 1000,
            default_select: None,
            type_name,
            directory: false,
        }
    }
}

/// Checks that every property named in `$select`, `$filter` or `$orderby`
/// exists on the type (judged from a full record).
fn check_properties(
    names: &[String],
    sample: Option<&Value>,
    type_name: &str,
) -> Result<(), GraphError> {
    let Some(sample) = sample.and_then(Value::as_object) else {
        return Ok(());
    };
    for name in names {
        let root = name.split('/').next().unwrap_or("");
        if root.starts_with('@') || root == "*" {
            continue;
        }
        if !sample.keys().any(|k| k.eq_ignore_ascii_case(root)) {
            return Err(GraphError::bad_request(
                "BadRequest",
                format!("Could not find a property named '{root}' on type '{type_name}'."),
            ));
        }
    }
    Ok(())
}

/// Applies `$select` (plus `id` and annotations, which Outlook and
/// OneDrive always keep).
pub(crate) fn select(item: &Value, fields: Option<&[String]>, default: Option<&[&str]>) -> Value {
    select_keeping(item, fields, default, true)
}

/// Applies `$select` to a directory object: `id` only when selected (or
/// in the default set), as in user-list.md's example, whose answer to
/// `$select=id,mail,assignedLicenses` is `$metadata#users(id,mail,assignedLicenses)`
/// with exactly those properties (docs-2021-07).
pub(crate) fn select_directory(
    item: &Value,
    fields: Option<&[String]>,
    default: Option<&[&str]>,
) -> Value {
    select_keeping(item, fields, default, false)
}

fn select_keeping(
    item: &Value,
    fields: Option<&[String]>,
    default: Option<&[&str]>,
    always_id: bool,
) -> Value {
    let Some(obj) = item.as_object() else {
        return item.clone();
    };
    let keep = |k: &str| -> bool {
        if (always_id && k == "id") || k.starts_with('@') {
            return true;
        }
        match (fields, default) {
            (Some(f), _) => f.iter().any(|s| s == "*" || s.eq_ignore_ascii_case(k)),
            (None, Some(d)) => d.iter().any(|s| s.eq_ignore_ascii_case(k)),
            (None, None) => true,
        }
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if keep(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The context URL's path for a `$select`: `users(displayName,mail)` for
/// `users?$select=displayName,mail` (user-list.md, user-list-memberof.md,
/// docs-2021-07); unchanged without `$select` or with `$select=*`.
pub(crate) fn selected_context(context: &str, fields: Option<&[String]>) -> String {
    match fields {
        Some(f) if !f.is_empty() && !f.iter().any(|s| s == "*") => {
            format!("{context}({})", f.join(","))
        }
        _ => context.to_string(),
    }
}

/// A collection's `$search` matcher: does the record match the text?
pub(crate) type SearchFn<'a> = &'a dyn Fn(&Value, &str) -> bool;

/// Filters, searches, sorts, counts and pages a collection, and builds
/// Graph's collection body.
pub(crate) fn list(
    ctx: &mut Ctx,
    context: &str,
    mut items: Vec<Value>,
    opts: &ListOptions,
    search: Option<SearchFn>,
) -> Result<Value, GraphError> {
    let q = ctx.query.clone();
    let sample = items.first().cloned();
    if let Some(fields) = &q.select {
        check_properties(fields, sample.as_ref(), opts.type_name)?;
    }
    if let Some(search_text) = &q.search {
        if opts.directory && !ctx.eventual {
            return Err(GraphError::bad_request(
                "Request_UnsupportedQuery",
                "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
            ));
        }
        let text = search_text.trim().trim_matches('"');
        match search {
            Some(f) => items.retain(|i| f(i, text)),
            None => {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    "$search is not supported on this resource.",
                ));
            }
        }
    }
    if let Some(text) = &q.filter {
        let expr = parse_filter(text).map_err(|m| {
            GraphError::bad_request("BadRequest", format!("Invalid filter clause: {m}"))
        })?;
        let mut props = Vec::new();
        expr.properties(&mut props);
        check_properties(&props, sample.as_ref(), opts.type_name)?;
        if opts.directory
            && let Some(prop) = expr.is_advanced()
            && !(ctx.eventual && q.count)
        {
            return Err(GraphError::bad_request(
                "Request_UnsupportedQuery",
                format!(
                    "Unsupported or invalid query filter clause specified for property '{prop}' of resource '{}'. Advanced queries need the header 'ConsistencyLevel: eventual' and '$count=true'.",
                    opts.type_name.trim_start_matches("microsoft.graph.")
                ),
            ));
        }
        items.retain(|i| expr.matches(i));
    }
    // "Use of $filter and $orderby in the same query" is an advanced query
    // on directory objects (aad-advanced-queries.md, docs-2021-07); Graph
    // refuses it otherwise with 400 Request_UnsupportedQuery.
    if opts.directory && q.filter.is_some() && q.orderby.is_some() && !(ctx.eventual && q.count) {
        return Err(GraphError::bad_request(
            "Request_UnsupportedQuery",
            "Sorting not supported for current query. $filter with $orderby needs the header 'ConsistencyLevel: eventual' and '$count=true'.",
        ));
    }
    if let Some(order) = &q.orderby {
        let mut keys = Vec::new();
        for part in order.split(',') {
            let mut words = part.split_whitespace();
            let Some(prop) = words.next() else { continue };
            let desc = matches!(words.next(), Some(d) if d.eq_ignore_ascii_case("desc"));
            keys.push((prop.to_string(), desc));
        }
        let names: Vec<String> = keys.iter().map(|(p, _)| p.clone()).collect();
        check_properties(&names, sample.as_ref(), opts.type_name)?;
        items.sort_by(|a, b| {
            for (prop, desc) in &keys {
                let o = compare(
                    lookup(a, prop).unwrap_or(&Value::Null),
                    lookup(b, prop).unwrap_or(&Value::Null),
                );
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    // Directory objects page with `$skiptoken` only: user-list.md names the
    // query parameters /users supports ($search, $count, $filter, $select,
    // $top...) and query-parameters.md says `$skip` paging is Outlook's
    // (docs-2021-07); Graph answers `$skip` on /users with 400.
    if opts.directory && q.skip.is_some() {
        return Err(GraphError::bad_request(
            "Request_BadRequest",
            "'$skip' is not supported by the service.",
        ));
    }
    // Without `ConsistencyLevel: eventual`, Graph "silently ignores the
    // $count query parameter (?$count=true)" on directory objects
    // (aad-advanced-queries.md, "Error handling for advanced queries").
    let count = q.count && (!opts.directory || ctx.eventual);
    let total = items.len();
    let page_size = page_size(ctx, opts)?;
    let offset = match &q.skiptoken {
        Some(token) => {
            let payload = ctx
                .app
                .signer
                .open("skip", token)
                .filter(|p| p["p"].as_str() == Some(ctx.path_key.as_str()))
                .ok_or_else(|| {
                    GraphError::bad_request(
                        "BadRequest",
                        "The skip token is invalid or was issued for another request.",
                    )
                })?;
            payload["o"].as_u64().unwrap_or(0) as usize
        }
        None => q.skip.unwrap_or(0),
    };
    let end = (offset + page_size).min(total);
    let page: Vec<Value> = items
        .get(offset.min(total)..end)
        .unwrap_or(&[])
        .iter()
        .map(|i| {
            if opts.directory {
                select_directory(i, q.select.as_deref(), opts.default_select)
            } else {
                select(i, q.select.as_deref(), opts.default_select)
            }
        })
        .collect();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(ctx.context_url(&selected_context(context, q.select.as_deref()))),
    );
    if count {
        body.insert("@odata.count".into(), json!(total));
    }
    if end < total {
        let token = ctx
            .app
            .signer
            .seal("skip", &json!({"p": ctx.path_key, "o": end}));
        body.insert(
            "@odata.nextLink".into(),
            json!(ctx.link_with("$skiptoken", &token)),
        );
    }
    body.insert("value".into(), Value::Array(page));
    Ok(Value::Object(body))
}

/// The page size for this request: `$top`, else `odata.maxpagesize`, else
/// the collection's default.
fn page_size(ctx: &mut Ctx, opts: &ListOptions) -> Result<usize, GraphError> {
    if let Some(top) = ctx.query.top {
        if top == 0 || top > opts.max_top {
            return Err(GraphError::bad_request(
                "Request_UnsupportedQuery",
                format!(
                    "Invalid page size specified: '{top}'. Must be between 1 and {} inclusive.",
                    opts.max_top
                ),
            ));
        }
        return Ok(top);
    }
    if let Some(n) = ctx.prefs.max_page_size {
        ctx.applied.push(format!("odata.maxpagesize={n}"));
        return Ok(n.min(opts.max_top));
    }
    Ok(opts.default_page)
}

// ---------------------------------------------------------------- delta

/// Where a delta round starts: a fresh round, a later page of one, or a
/// delta token from an earlier round.
pub(crate) struct DeltaCursor {
    /// Changes after this version are reported (0: everything).
    pub since: u64,
    /// The change counter when this round started (the next token's value).
    pub upto: u64,
    /// Records already returned in this round.
    pub offset: usize,
    /// Area-specific parameters remembered in the token (a calendar view's window).
    pub extra: Value,
    /// Whether this is the first request of a round without a token.
    pub fresh: bool,
}

impl DeltaCursor {
    /// Whether a removal (a tombstone) at change counter `version` is
    /// reported in this round: one after `since`; in a full round (no
    /// delta token, `since` 0) only one made after the round began, since
    /// "resources that have been created and deleted prior to the initial
    /// delta query won't be returned" (`concepts/delta-query-overview.md`).
    pub(crate) fn reports_removal(&self, version: u64) -> bool {
        version > self.since && (self.since > 0 || version > self.upto)
    }
}

/// Reads `$deltatoken` / `$skiptoken` for the delta query `scope`.
///
/// "Sync from now" (an empty first round whose delta link reports only
/// later changes) is `$deltaToken=latest` for users and `token=latest` for
/// drives, as `concepts/delta-query-overview.md` says; other scopes do not
/// have it. A token older than the sandbox's `delta_token_max_age` (by the
/// sandbox clock) is answered 410 Gone: see [`expired_token`].
pub(crate) fn delta_cursor(ctx: &Ctx, scope: &str) -> Result<DeltaCursor, GraphError> {
    let bad = || {
        GraphError::new(
            axum::http::StatusCode::GONE,
            "resyncRequired",
            "The delta token is invalid or belongs to another query; start a new delta round without a token.",
        )
    };
    let drive = scope.starts_with("drive|");
    let drive_token = if drive {
        ctx.query.param("token")
    } else {
        None
    };
    let latest = match (scope, &ctx.query.deltatoken, drive_token) {
        ("users", Some(t), _) => t.eq_ignore_ascii_case("latest"),
        (_, _, Some(t)) => t.eq_ignore_ascii_case("latest"),
        _ => false,
    };
    if latest {
        return Ok(DeltaCursor {
            since: ctx.clock,
            upto: ctx.clock,
            offset: 0,
            extra: Value::Null,
            fresh: false,
        });
    }
    let max_age = ctx.app.delta_token_max_age;
    let check_age = |p: &Value| -> Result<(), GraphError> {
        let issued = p["t"].as_i64();
        match (max_age, issued) {
            (Some(max), Some(at)) if ctx.app.now().saturating_sub(at) > max => {
                Err(expired_token(ctx, scope))
            }
            _ => Ok(()),
        }
    };
    if let Some(token) = ctx.query.deltatoken.as_deref().or(drive_token) {
        let p = ctx
            .app
            .signer
            .open("delta", token)
            .filter(|p| p["s"] == scope)
            .ok_or_else(bad)?;
        check_age(&p)?;
        return Ok(DeltaCursor {
            since: p["v"].as_u64().unwrap_or(0),
            upto: ctx.clock,
            offset: 0,
            extra: p["x"].clone(),
            fresh: false,
        });
    }
    if let Some(token) = &ctx.query.skiptoken {
        let p = ctx
            .app
            .signer
            .open("deltaskip", token)
            .filter(|p| p["s"] == scope)
            .ok_or_else(bad)?;
        check_age(&p)?;
        return Ok(DeltaCursor {
            since: p["v"].as_u64().unwrap_or(0),
            upto: p["u"].as_u64().unwrap_or(0),
            offset: p["o"].as_u64().unwrap_or(0) as usize,
            extra: p["x"].clone(),
            fresh: false,
        });
    }
    Ok(DeltaCursor {
        since: 0,
        upto: ctx.clock,
        offset: 0,
        extra: Value::Null,
        fresh: true,
    })
}

/// The 410 Gone for a delta or skip token older than the sandbox allows,
/// as Graph documents it per resource:
/// - messages, events, contacts (Outlook): `syncStateNotFound`, "the delta
///   token is expired" (`concepts/errors.md`, `delta-query-overview.md`
///   "Token duration");
/// - users (directory): `resyncRequired` with a `Location` that starts a
///   full round (`delta-query-overview.md` "Synchronization reset");
/// - drives: `resyncChangesApplyDifferences` with a `Location` that starts
///   a fresh enumeration (`api-reference/v1.0/api/driveitem-delta.md`).
pub(crate) fn expired_token(ctx: &Ctx, scope: &str) -> GraphError {
    let gone = axum::http::StatusCode::GONE;
    let fresh = || {
        let select = ctx
            .query
            .params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("$select"))
            .map(|(_, v)| {
                format!(
                    "?$select={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default();
        format!("{}/v1.0{}{select}", ctx.app.base_url, ctx.raw_path)
    };
    let mut e = if scope == "users" {
        GraphError::new(
            gone,
            "resyncRequired",
            "The delta token has expired; the app must reset the sync state and start again from the Location URL.",
        )
    } else if scope.starts_with("drive|") {
        GraphError::new(
            gone,
            "resyncChangesApplyDifferences",
            "The delta token has expired; enumerate again from the Location URL and replace local items with the server's.",
        )
    } else {
        return GraphError::new(
            gone,
            "syncStateNotFound",
            "The sync state generation is not found: the delta token has expired. Start a new delta round without a token.",
        );
    };
    e.location = Some(fresh());
    e
}

/// One page of a delta round: `changed` records (already filtered to the
/// cursor's `since`) followed by `removed` entries. The last page carries
/// `@odata.deltaLink`, earlier ones `@odata.nextLink`.
pub(crate) fn delta_page(
    ctx: &mut Ctx,
    context: &str,
    scope: &str,
    cursor: &DeltaCursor,
    mut entries: Vec<Value>,
    default_page: usize,
    default_select: Option<&[&str]>,
) -> Value {
    let size = ctx.query.top.filter(|n| *n > 0).or_else(|| {
        ctx.prefs
            .max_page_size
            .inspect(|n| ctx.applied.push(format!("odata.maxpagesize={n}")))
    });
    let size = size.unwrap_or(default_page);
    let total = entries.len();
    let start = cursor.offset.min(total);
    let end = (start + size).min(total);
    let select_fields = ctx.query.select.clone();
    let page: Vec<Value> = entries
        .drain(start..end)
        .map(|e| {
            if e.get("@removed").is_some() || e.get("deleted").is_some() {
                e
            } else {
                select(&e, select_fields.as_deref(), default_select)
            }
        })
        .collect();
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(ctx.context_url(context)));
    if end < total {
        let token = ctx.app.signer.seal(
            "deltaskip",
            &json!({"s": scope, "v": cursor.since, "u": cursor.upto, "o": end, "x": cursor.extra, "t": ctx.app.now()}),
        );
        body.insert(
            "@odata.nextLink".into(),
            json!(ctx.delta_link("$skiptoken", &token)),
        );
    } else {
        let token = ctx.app.signer.seal(
            "delta",
            &json!({"s": scope, "v": cursor.upto, "x": cursor.extra, "t": ctx.app.now()}),
        );
        body.insert(
            "@odata.deltaLink".into(),
            json!(ctx.delta_link("$deltatoken", &token)),
        );
    }
    body.insert("value".into(), Value::Array(page));
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_grammar() {
        let u = json!({"displayName": "Avery Fischer", "mail": "a@x.com", "accountEnabled": true, "from": {"emailAddress": {"address": "b@y.com"}}});
        let t = |f: &str| parse_filter(f).unwrap().matches(&u);
        assert!(t("displayName eq 'avery fischer'"));
        assert!(t("startswith(displayName,'Av')"));
        assert!(t("accountEnabled eq true and startswith(mail,'a')"));
        assert!(t("from/emailAddress/address eq 'b@y.com'"));
        assert!(!t("displayName ne 'Avery Fischer'"));
        assert!(t("not (mail eq 'z') or mail eq 'y'"));
        assert!(parse_filter("displayName eq").is_err());
        assert!(parse_filter("displayName has 'x'").is_err());
        assert_eq!(
            parse_filter("endswith(mail,'.com')")
                .unwrap()
                .is_advanced()
                .as_deref(),
            Some("mail")
        );
    }
}
