//! [`RuleSet`]: validated rules, ready to match requests.

use crate::rule_text;
use http::header::{COOKIE, HeaderName};
use http::{HeaderMap, Uri};
use regex::{Regex, RegexBuilder};
use sae_core::{Error, Lane};

use super::hash::{BUCKETS, bucket};
use super::spec::{PercentageSpec, RuleSpec, RulesSpec, ValueMatchSpec};

/// Compiled regexes are capped (1 MiB) so a rule file cannot make the
/// process build an enormous automaton.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Validated ingress rules. Build one with [`RuleSet::compile`] or
/// [`RuleSet::parse`](super::RuleSet::parse); swap it at runtime through a
/// [`LaneRules`](super::LaneRules) handle.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
struct Rule {
    lane: Lane,
    headers: Vec<(HeaderName, ValueMatch)>,
    cookies: Vec<(String, ValueMatch)>,
    query: Vec<(String, ValueMatch)>,
    path_prefix: Option<String>,
    percentage: Option<Percentage>,
}

#[derive(Clone, Debug)]
enum ValueMatch {
    Exact(String),
    Prefix(String),
    Regex(Regex),
}

#[derive(Clone, Debug)]
struct Percentage {
    header: HeaderName,
    /// Buckets below this match.
    below: u64,
    salt: String,
}

impl RuleSet {
    /// No rules: assigns no lane.
    pub fn empty() -> Self {
        RuleSet::default()
    }

    /// Validates `spec`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the rule (`rules[2] ("beta")`) and the field
    /// (`headers[0].regex`) that is wrong, and why.
    pub fn compile(spec: &RulesSpec) -> Result<Self, Error> {
        let mut rules = Vec::with_capacity(spec.rules.len());
        let names: Vec<Option<&str>> = spec.rules.iter().map(|rule| rule.name.as_deref()).collect();
        for (index, rule) in spec.rules.iter().enumerate() {
            let at = |field: &str| rule_text::field_path(index, rule.name.as_deref(), field);
            if let Some(first) = rule_text::duplicate_of(&names, index) {
                return Err(config(at("name"), format!("duplicate of rules[{first}]")));
            }
            rules.push(compile_rule(rule, &at)?);
        }
        Ok(RuleSet { rules })
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The lane of the first rule matching a request with these headers and
    /// URI, if any. Costs what the rules ask for; no allocation.
    pub fn assign(&self, headers: &HeaderMap, uri: &Uri) -> Option<Lane> {
        self.rules
            .iter()
            .find(|rule| rule.matches(headers, uri))
            .map(|rule| rule.lane.clone())
    }
}

fn config(at: String, message: impl Into<String>) -> Error {
    Error::Config {
        at,
        message: message.into(),
    }
}

fn compile_rule(rule: &RuleSpec, at: &dyn Fn(&str) -> String) -> Result<Rule, Error> {
    let lane = Lane::new(&rule.lane).map_err(|error| config(at("lane"), error.to_string()))?;
    let mut headers = Vec::with_capacity(rule.headers.len());
    for (i, spec) in rule.headers.iter().enumerate() {
        let field = format!("headers[{i}]");
        let name = header_name(&spec.name, &at(&format!("{field}.name")))?;
        headers.push((name, value_match(spec, &field, at)?));
    }
    let mut cookies = Vec::with_capacity(rule.cookies.len());
    for (i, spec) in rule.cookies.iter().enumerate() {
        let field = format!("cookies[{i}]");
        plain_name(&spec.name, "=; ,", &at(&format!("{field}.name")))?;
        cookies.push((spec.name.clone(), value_match(spec, &field, at)?));
    }
    let mut query = Vec::with_capacity(rule.query.len());
    for (i, spec) in rule.query.iter().enumerate() {
        let field = format!("query[{i}]");
        plain_name(&spec.name, "=&#", &at(&format!("{field}.name")))?;
        query.push((spec.name.clone(), value_match(spec, &field, at)?));
    }
    if let Some(prefix) = &rule.path_prefix
        && !prefix.starts_with('/')
    {
        return Err(config(
            at("path_prefix"),
            format!("{prefix:?} must start with '/'"),
        ));
    }
    let percentage = rule
        .percentage
        .as_ref()
        .map(|spec| percentage(spec, at))
        .transpose()?;
    if headers.is_empty()
        && cookies.is_empty()
        && query.is_empty()
        && rule.path_prefix.is_none()
        && percentage.is_none()
    {
        return Err(config(
            at(""),
            "the rule has no condition; give at least one of headers, cookies, query, path_prefix, percentage",
        ));
    }
    Ok(Rule {
        lane,
        headers,
        cookies,
        query,
        path_prefix: rule.path_prefix.clone(),
        percentage,
    })
}

fn header_name(name: &str, at: &str) -> Result<HeaderName, Error> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        config(
            at.to_owned(),
            format!("{name:?} is not a valid header name"),
        )
    })
}

fn plain_name(name: &str, forbidden: &str, at: &str) -> Result<(), Error> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| forbidden.contains(c) || c.is_control())
    {
        return Err(config(
            at.to_owned(),
            format!(
                "{name:?} must be non-empty, without control characters or any of {forbidden:?}"
            ),
        ));
    }
    Ok(())
}

fn value_match(
    spec: &ValueMatchSpec,
    field: &str,
    at: &dyn Fn(&str) -> String,
) -> Result<ValueMatch, Error> {
    match (&spec.exact, &spec.prefix, &spec.regex) {
        (Some(exact), None, None) => Ok(ValueMatch::Exact(exact.clone())),
        (None, Some(prefix), None) => Ok(ValueMatch::Prefix(prefix.clone())),
        (None, None, Some(pattern)) => RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(ValueMatch::Regex)
            .map_err(|error| config(at(&format!("{field}.regex")), error.to_string())),
        _ => Err(config(
            at(field),
            "give exactly one of exact, prefix, regex",
        )),
    }
}

fn percentage(spec: &PercentageSpec, at: &dyn Fn(&str) -> String) -> Result<Percentage, Error> {
    let header = header_name(&spec.header, &at("percentage.header"))?;
    if !(spec.percent.is_finite() && (0.0..=100.0).contains(&spec.percent)) {
        return Err(config(
            at("percentage.percent"),
            format!("{} is not between 0 and 100", spec.percent),
        ));
    }
    Ok(Percentage {
        header,
        below: (spec.percent * (BUCKETS as f64) / 100.0).round() as u64,
        salt: spec.salt.clone(),
    })
}

impl Rule {
    fn matches(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        if let Some(prefix) = &self.path_prefix
            && !uri.path().starts_with(prefix.as_str())
        {
            return false;
        }
        self.headers.iter().all(|(name, matcher)| {
            headers
                .get_all(name)
                .iter()
                .any(|value| value.to_str().is_ok_and(|value| matcher.matches(value)))
        }) && self
            .cookies
            .iter()
            .all(|(name, matcher)| cookies(headers).any(|(n, v)| n == name && matcher.matches(v)))
            && self.query.iter().all(|(name, matcher)| {
                query_pairs(uri).any(|(n, v)| n == name && matcher.matches(v))
            })
            && self.percentage.as_ref().is_none_or(|percentage| {
                headers.get(&percentage.header).is_some_and(|key| {
                    bucket(percentage.salt.as_bytes(), key.as_bytes()) < percentage.below
                })
            })
    }
}

impl ValueMatch {
    fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatch::Exact(exact) => value == exact,
            ValueMatch::Prefix(prefix) => value.starts_with(prefix.as_str()),
            ValueMatch::Regex(regex) => regex.is_match(value),
        }
    }
}

/// `(name, value)` of every cookie in every `cookie` header (RFC 6265 pairs
/// separated by `;`); non-UTF-8 headers are skipped.
fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
}

/// `(name, value)` of every query parameter, as sent.
fn query_pairs(uri: &Uri) -> impl Iterator<Item = (&str, &str)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}
