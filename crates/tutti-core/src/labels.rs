//! Label selectors: the string syntax of `?labelSelector=` and `kubectl -l`
//! (`app=web,tier!=db,env in (a,b),!canary`), `metav1.LabelSelector` objects
//! (`matchLabels` + `matchExpressions`), matching against a label set, and printing back.
//!
//! Semantics follow `k8s.io/apimachinery/pkg/labels`: requirements are ANDed, `!=` and `notin`
//! match objects without the key, an empty selector matches everything.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::names::{is_qualified_name, is_valid_label_value};

#[cfg(test)]
mod tests;

/// Why a selector was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("unable to parse label selector {input:?}: found '{found}', expected: {expected}")]
    Syntax {
        input: String,
        found: String,
        expected: String,
    },
    #[error("invalid label key {key:?} in selector: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("invalid label value {value:?} for key {key:?} in selector: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("invalid selector requirement for key {key:?}: {reason}")]
    InvalidRequirement { key: String, reason: String },
    #[error("{operator:?} is not a valid label selector operator")]
    UnknownOperator { operator: String },
}

/// A requirement's operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value`
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>3`
    GreaterThan,
    /// `key<3`
    LessThan,
}

/// One `key op values` term of a selector. Values are kept sorted and unique.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds a validated requirement: the key must be a qualified name, values valid label
    /// values, and the number of values must suit the operator.
    pub fn new(
        key: &str,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Requirement, SelectorError> {
        if let Some(reason) = is_qualified_name(key).into_iter().next() {
            return Err(SelectorError::InvalidKey {
                key: key.to_string(),
                reason,
            });
        }
        let mut values = values;
        values.sort();
        values.dedup();
        let bad = |reason: &str| {
            Err(SelectorError::InvalidRequirement {
                key: key.to_string(),
                reason: reason.to_string(),
            })
        };
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return bad("for 'in', 'notin' operators, values set can't be empty");
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                return bad("exact-match compatibility requires one single value");
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return bad("values set must be empty for exists and does not exist");
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return bad("for 'Gt', 'Lt' operators, exactly one value is required");
                }
                if values[0].parse::<i64>().is_err() {
                    return bad("for 'Gt', 'Lt' operators, the value must be an integer");
                }
                return Ok(Requirement {
                    key: key.to_string(),
                    operator,
                    values,
                });
            }
            _ => {}
        }
        for value in &values {
            if let Some(reason) = is_valid_label_value(value).into_iter().next() {
                return Err(SelectorError::InvalidValue {
                    key: key.to_string(),
                    value: value.clone(),
                    reason,
                });
            }
        }
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label set satisfies this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let contains = |v: &String| self.values.binary_search(v).is_ok();
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => value.is_some_and(contains),
            Operator::NotEquals | Operator::NotIn => !value.is_some_and(contains),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), Some(want)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let first = self.values.first().map(String::as_str).unwrap_or("");
        match self.operator {
            Operator::Equals => write!(f, "{key}={first}"),
            Operator::DoubleEquals => write!(f, "{key}=={first}"),
            Operator::NotEquals => write!(f, "{key}!={first}"),
            Operator::GreaterThan => write!(f, "{key}>{first}"),
            Operator::LessThan => write!(f, "{key}<{first}"),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::In | Operator::NotIn => {
                let op = if self.operator == Operator::In {
                    "in"
                } else {
                    "notin"
                };
                // A set holding only the empty value prints as `(,)` so it parses back.
                let list = if self.values.len() == 1 && first.is_empty() {
                    ",".to_string()
                } else {
                    self.values.join(",")
                };
                write!(f, "{key} {op} ({list})")
            }
        }
    }
}

/// A label selector: a conjunction of requirements, kept sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches every label set.
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Parses the string syntax (`a=b,c!=d,e in (f,g),h,!i`).
    pub fn parse(input: &str) -> Result<Selector, SelectorError> {
        let tokens = lex(input);
        let mut parser = Parser {
            input,
            tokens,
            pos: 0,
        };
        let requirements = parser.parse_selector()?;
        Ok(Selector::from_requirements(requirements))
    }

    /// The selector `k1=v1,k2=v2,...` for a label set (a Service's `spec.selector`).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Selector, SelectorError> {
        let requirements = labels
            .iter()
            .map(|(k, v)| Requirement::new(k, Operator::Equals, vec![v.clone()]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selector::from_requirements(requirements))
    }

    /// Converts a `metav1.LabelSelector` (matchLabels and matchExpressions).
    pub fn from_label_selector(selector: &LabelSelector) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::new(
                key,
                Operator::Equals,
                vec![value.clone()],
            )?);
        }
        for expr in selector.match_expressions.iter().flatten() {
            let operator = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError::UnknownOperator {
                        operator: other.to_string(),
                    });
                }
            };
            requirements.push(Requirement::new(
                &expr.key,
                operator,
                expr.values.clone().unwrap_or_default(),
            )?);
        }
        Ok(Selector::from_requirements(requirements))
    }

    /// Builds a selector from requirements (sorted by key, stable).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Selector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector { requirements }
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// An empty selector matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether every requirement holds for the label set.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Identifier(String),
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    OpenPar,
    ClosedPar,
    Comma,
    Greater,
    Less,
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Identifier(s) => s.clone(),
            Token::Bang => "!".into(),
            Token::Equals => "=".into(),
            Token::DoubleEquals => "==".into(),
            Token::NotEquals => "!=".into(),
            Token::OpenPar => "(".into(),
            Token::ClosedPar => ")".into(),
            Token::Comma => ",".into(),
            Token::Greater => ">".into(),
            Token::Less => "<".into(),
            Token::End => "end of string".into(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '!' | '=' | '(' | ')' | ',' | '<' | '>')
}

fn lex(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            let next_is_eq = chars.peek() == Some(&'=');
            let token = match c {
                '!' if next_is_eq => Token::NotEquals,
                '!' => Token::Bang,
                '=' if next_is_eq => Token::DoubleEquals,
                '=' => Token::Equals,
                '(' => Token::OpenPar,
                ')' => Token::ClosedPar,
                ',' => Token::Comma,
                '>' => Token::Greater,
                _ => Token::Less,
            };
            if matches!(token, Token::NotEquals | Token::DoubleEquals) {
                chars.next();
            }
            tokens.push(token);
            continue;
        }
        let mut ident = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || is_special(c) {
                break;
            }
            ident.push(c);
            chars.next();
        }
        tokens.push(Token::Identifier(ident));
    }
    tokens.push(Token::End);
    tokens
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn error<T>(&self, found: &Token, expected: &str) -> Result<T, SelectorError> {
        Err(SelectorError::Syntax {
            input: self.input.to_string(),
            found: found.describe(),
            expected: expected.to_string(),
        })
    }

    fn parse_selector(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        if *self.peek() == Token::End {
            return Ok(requirements);
        }
        loop {
            match self.peek() {
                Token::Identifier(_) | Token::Bang => requirements.push(self.parse_requirement()?),
                other => return self.error(&other.clone(), "!, identifier, or 'end of string'"),
            }
            match self.next() {
                Token::End => return Ok(requirements),
                Token::Comma => {}
                other => return self.error(&other, "',' or 'end of string'"),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorError> {
        let negated = *self.peek() == Token::Bang;
        if negated {
            self.next();
        }
        let key = match self.next() {
            Token::Identifier(k) => k,
            other => return self.error(&other, "identifier"),
        };
        if negated {
            return Requirement::new(&key, Operator::DoesNotExist, Vec::new());
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Requirement::new(&key, Operator::Exists, Vec::new());
        }
        let operator = match self.next() {
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::Greater => Operator::GreaterThan,
            Token::Less => Operator::LessThan,
            Token::Identifier(word) if word == "in" => Operator::In,
            Token::Identifier(word) if word == "notin" => Operator::NotIn,
            other => return self.error(&other, "=, ==, !=, in, notin, >, <"),
        };
        let values = if matches!(operator, Operator::In | Operator::NotIn) {
            self.parse_value_list()?
        } else {
            match self.peek() {
                Token::End | Token::Comma => vec![String::new()],
                Token::Identifier(v) => {
                    let v = v.clone();
                    self.next();
                    vec![v]
                }
                other => return self.error(&other.clone(), "identifier"),
            }
        };
        Requirement::new(&key, operator, values)
    }

    /// `(a,b,c)`; empty entries (`(a,)`) are the empty value, `()` is no values.
    fn parse_value_list(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.next() {
            Token::OpenPar => {}
            other => return self.error(&other, "'('"),
        }
        if *self.peek() == Token::ClosedPar {
            self.next();
            return Ok(Vec::new());
        }
        let mut values = Vec::new();
        let mut current = String::new();
        loop {
            match self.next() {
                Token::Identifier(v) if current.is_empty() => current = v,
                Token::Comma => values.push(std::mem::take(&mut current)),
                Token::ClosedPar => {
                    values.push(current);
                    return Ok(values);
                }
                other => return self.error(&other, "',', ')' or identifier"),
            }
        }
    }
}
