//! A request's OData query options (`$top`, `$select`, `$filter`,
//! `$skiptoken`, ...) and its `Prefer` header, parsed once per request;
//! `crate::odata` applies them to collections.

use crate::errors::GraphError;

/// The query options of a request, parsed once.
#[derive(Default, Clone)]
pub(crate) struct Query {
    pub top: Option<usize>,
    pub skip: Option<usize>,
    pub select: Option<Vec<String>>,
    pub filter: Option<String>,
    pub orderby: Option<String>,
    pub count: bool,
    pub search: Option<String>,
    pub expand: Option<String>,
    pub skiptoken: Option<String>,
    pub deltatoken: Option<String>,
    /// Every parameter as sent (decoded), in order.
    pub params: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Query, GraphError> {
        let mut q = Query::default();
        let Some(raw) = raw else { return Ok(q) };
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            let (k, v) = (k.into_owned(), v.into_owned());
            let key = k.trim_start_matches('$').to_ascii_lowercase();
            let dollar = k.starts_with('$');
            match (dollar, key.as_str()) {
                (true, "top") => {
                    let n: usize = v.trim().parse().map_err(|_| {
                        GraphError::bad_request(
                            "BadRequest",
                            format!("Invalid value '{v}' for $top query option found. The $top query option requires a non-negative integer value."),
                        )
                    })?;
                    q.top = Some(n);
                }
                (true, "skip") => {
                    q.skip = Some(v.trim().parse().map_err(|_| {
                        GraphError::bad_request(
                            "BadRequest",
                            format!("Invalid value '{v}' for $skip query option found."),
                        )
                    })?);
                }
                (true, "select") => {
                    q.select = Some(
                        v.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    );
                }
                (true, "filter") => q.filter = Some(v.clone()),
                (true, "orderby") => q.orderby = Some(v.clone()),
                (true, "count") => q.count = v.eq_ignore_ascii_case("true"),
                (true, "search") => q.search = Some(v.clone()),
                (true, "expand") => q.expand = Some(v.clone()),
                (true, "skiptoken") => q.skiptoken = Some(v.clone()),
                (true, "deltatoken") => q.deltatoken = Some(v.clone()),
                _ => {}
            }
            q.params.push((k, v));
        }
        Ok(q)
    }

    /// A non-OData parameter, by name (case-insensitive).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the `Prefer` header asked for.
#[derive(Default, Clone)]
pub(crate) struct Prefs {
    pub max_page_size: Option<usize>,
    pub body_text: Option<bool>,
    pub timezone: Option<String>,
    pub return_minimal: bool,
}

impl Prefs {
    /// Parses every `Prefer` header.
    pub(crate) fn parse<'a>(values: impl Iterator<Item = &'a str>) -> Prefs {
        let mut p = Prefs::default();
        for header in values {
            for pref in header.split(',') {
                let pref = pref.trim();
                let (name, value) = match pref.split_once('=') {
                    Some((n, v)) => (n.trim(), v.trim().trim_matches('"')),
                    None => (pref, ""),
                };
                match name.to_ascii_lowercase().as_str() {
                    "odata.maxpagesize" => p.max_page_size = value.parse().ok().filter(|n| *n > 0),
                    "outlook.body-content-type" => {
                        if value.eq_ignore_ascii_case("text") {
                            p.body_text = Some(true);
                        } else if value.eq_ignore_ascii_case("html") {
                            p.body_text = Some(false);
                        }
                    }
                    "outlook.timezone" => p.timezone = Some(value.to_string()),
                    "return" => p.return_minimal = value.eq_ignore_ascii_case("minimal"),
                    _ => {}
                }
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_parsing() {
        let p = Prefs::parse(
            [
                "outlook.body-content-type=\"text\", odata.maxpagesize=5",
                "outlook.timezone=\"Pacific Standard Time\"",
            ]
            .into_iter(),
        );
        assert_eq!(p.max_page_size, Some(5));
        assert_eq!(p.body_text, Some(true));
        assert_eq!(p.timezone.as_deref(), Some("Pacific Standard Time"));
    }
}
