//! Encoded queries built from known field names only.
//!
//! ServiceNow drops a query part naming an unknown field without a word,
//! which can turn "this incident's journal" into "every journal entry". So
//! every field a [`Query`] names is checked against the table's
//! [`TableDef`] when it is encoded, and a value that would break the
//! encoding (`^`, or `,` inside an `IN` list) is refused.

use std::borrow::Cow;

use super::error::SnError;
use super::tables::TableDef;

/// An encoded-query operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    In,
    Like,
    StartsWith,
    IsEmpty,
    IsNotEmpty,
}

impl Op {
    fn spelling(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::In => "IN",
            Op::Like => "LIKE",
            Op::StartsWith => "STARTSWITH",
            Op::IsEmpty => "ISEMPTY",
            Op::IsNotEmpty => "ISNOTEMPTY",
        }
    }

    /// Longest spellings first, for reading operator-supplied queries.
    const ALL: [Op; 11] = [
        Op::IsNotEmpty,
        Op::IsEmpty,
        Op::StartsWith,
        Op::Like,
        Op::In,
        Op::Ne,
        Op::Ge,
        Op::Le,
        Op::Eq,
        Op::Gt,
        Op::Lt,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Join {
    And,
    Or,
    NewQuery,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Condition {
        join: Join,
        field: Cow<'static, str>,
        op: Op,
        /// One value, or the items of an `IN` list.
        values: Vec<String>,
    },
    Order {
        field: Cow<'static, str>,
        descending: bool,
    },
    /// An operator-supplied encoded query (from the configuration), AND-ed
    /// in; its field names are checked like the others.
    Encoded { text: String, fields: Vec<String> },
}

/// An encoded query under construction. Field names are `&'static str`
/// constants of [`crate::servicenow::tables`] or names read from the
/// configuration (`String`); either way they are checked when encoded.
/// Conditions are AND-ed; `or`
/// attaches to the condition before it (OR binds tighter than AND, as on
/// the platform); `new_query` starts an alternative (`^NQ`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    parts: Vec<Part>,
    next_join: Option<Join>,
}

impl Query {
    /// Matches every record.
    pub fn new() -> Self {
        Self::default()
    }

    /// AND-s `field op value`.
    pub fn and(
        self,
        field: impl Into<Cow<'static, str>>,
        op: Op,
        value: impl Into<String>,
    ) -> Self {
        self.condition(field, op, vec![value.into()])
    }

    fn condition(
        mut self,
        field: impl Into<Cow<'static, str>>,
        op: Op,
        values: Vec<String>,
    ) -> Self {
        let join = self.next_join.take().unwrap_or(Join::And);
        self.parts.push(Part::Condition {
            join,
            field: field.into(),
            op,
            values,
        });
        self
    }

    /// OR-s `field op value` with the condition before it.
    pub fn or(
        mut self,
        field: impl Into<Cow<'static, str>>,
        op: Op,
        value: impl Into<String>,
    ) -> Self {
        self.next_join = Some(Join::Or);
        self.and(field, op, value)
    }

    /// The next condition starts a new query whose matches are added (`^NQ`).
    pub fn new_query(mut self) -> Self {
        self.next_join = Some(Join::NewQuery);
        self
    }

    pub fn eq(self, field: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.and(field, Op::Eq, value)
    }

    pub fn ne(self, field: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.and(field, Op::Ne, value)
    }

    pub fn gt(self, field: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.and(field, Op::Gt, value)
    }

    pub fn ge(self, field: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.and(field, Op::Ge, value)
    }

    pub fn lt(self, field: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.and(field, Op::Lt, value)
    }

    pub fn le(self, field: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.and(field, Op::Le, value)
    }

    pub fn like(self, field: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.and(field, Op::Like, value)
    }

    pub fn starts_with(
        self,
        field: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        self.and(field, Op::StartsWith, value)
    }

    pub fn is_in<S: AsRef<str>>(self, field: impl Into<Cow<'static, str>>, values: &[S]) -> Self {
        let list = values.iter().map(|v| v.as_ref().to_owned()).collect();
        self.condition(field, Op::In, list)
    }

    pub fn is_empty(self, field: impl Into<Cow<'static, str>>) -> Self {
        self.and(field, Op::IsEmpty, "")
    }

    pub fn is_not_empty(self, field: impl Into<Cow<'static, str>>) -> Self {
        self.and(field, Op::IsNotEmpty, "")
    }

    pub fn order_by(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.parts.push(Part::Order {
            field: field.into(),
            descending: false,
        });
        self
    }

    pub fn order_by_desc(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.parts.push(Part::Order {
            field: field.into(),
            descending: true,
        });
        self
    }

    /// AND-s an operator-written encoded query (the configured incident
    /// filter, say). It is read now, so a malformed one fails here; `^NQ`
    /// is refused because conditions AND-ed after it would bind only to its
    /// last alternative. Its field names are checked when encoded.
    pub fn and_encoded(mut self, text: &str) -> Result<Self, SnError> {
        let text = text.trim().trim_start_matches('^').trim_end_matches('^');
        if text.is_empty() {
            return Ok(self);
        }
        if text.contains("^NQ") {
            return Err(SnError::QuerySyntax {
                part: text.to_owned(),
                reason:
                    "^NQ cannot be combined with other conditions; write the alternatives with ^OR"
                        .to_owned(),
            });
        }
        let fields = text
            .split('^')
            .filter(|p| !p.is_empty() && *p != "EQ")
            .map(encoded_field)
            .collect::<Result<Vec<_>, _>>()?;
        self.parts.push(Part::Encoded {
            text: text.to_owned(),
            fields,
        });
        Ok(self)
    }

    /// The field names this query uses.
    fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .flat_map(|part| -> Box<dyn Iterator<Item = &str>> {
                match part {
                    Part::Condition { field, .. } | Part::Order { field, .. } => {
                        Box::new(std::iter::once(field.as_ref()))
                    }
                    Part::Encoded { fields, .. } => Box::new(fields.iter().map(String::as_str)),
                }
            })
    }

    /// The `sysparm_query` value, after checking every field against `table`.
    pub fn encode(&self, table: &TableDef) -> Result<String, SnError> {
        if let Some(field) = self.fields().find(|f| !table.knows(f)) {
            return Err(SnError::UnknownField {
                table: table.name().to_owned(),
                field: field.to_owned(),
            });
        }
        let mut out = String::new();
        for part in &self.parts {
            let (join, body) = match part {
                Part::Condition {
                    join,
                    field,
                    op,
                    values,
                } => {
                    let value = if matches!(op, Op::IsEmpty | Op::IsNotEmpty) {
                        String::new()
                    } else {
                        for value in values {
                            check_value(field, *op, value)?;
                        }
                        values.join(",")
                    };
                    (*join, format!("{field}{}{value}", op.spelling()))
                }
                Part::Order { field, descending } => {
                    let keyword = if *descending {
                        "ORDERBYDESC"
                    } else {
                        "ORDERBY"
                    };
                    (Join::And, format!("{keyword}{field}"))
                }
                Part::Encoded { text, .. } => (Join::And, text.clone()),
            };
            if !out.is_empty() || join != Join::And {
                out.push_str(match join {
                    Join::And => "^",
                    Join::Or => "^OR",
                    Join::NewQuery => "^NQ",
                });
            }
            out.push_str(&body);
        }
        Ok(out)
    }
}

fn check_value(field: &str, op: Op, value: &str) -> Result<(), SnError> {
    let bad = value
        .chars()
        .find(|c| *c == '^' || (op == Op::In && *c == ',') || c.is_control());
    match bad {
        Some(bad) => Err(SnError::QueryValue {
            field: field.to_owned(),
            value: value.to_owned(),
            bad,
        }),
        None => Ok(()),
    }
}

/// The field an operator-written query part names.
fn encoded_field(part: &str) -> Result<String, SnError> {
    let syntax = |reason: &str| SnError::QuerySyntax {
        part: part.to_owned(),
        reason: reason.to_owned(),
    };
    let (body, is_order) = if let Some(rest) = part.strip_prefix("ORDERBYDESC") {
        (rest, true)
    } else if let Some(rest) = part.strip_prefix("ORDERBY") {
        (rest, true)
    } else {
        (part.strip_prefix("OR").unwrap_or(part), false)
    };
    let end = body
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
        .unwrap_or(body.len());
    let (field, rest) = body.split_at(end);
    if field.is_empty() {
        return Err(syntax("it names no field"));
    }
    if is_order {
        return if rest.is_empty() {
            Ok(field.to_owned())
        } else {
            Err(syntax("an ORDERBY part is only a field name"))
        };
    }
    if !Op::ALL.iter().any(|op| rest.starts_with(op.spelling())) {
        return Err(syntax(
            "no operator casebridge knows (=, !=, >, >=, <, <=, IN, LIKE, STARTSWITH, ISEMPTY, ISNOTEMPTY)",
        ));
    }
    Ok(field.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servicenow::tables::{INCIDENT, JOURNAL, incident, journal};

    #[test]
    fn encodes_and_or_new_query_and_order() {
        let q = Query::new()
            .ge(incident::SYS_UPDATED_ON, "2025-01-02 03:04:05")
            .eq(incident::STATE, "1")
            .or(incident::STATE, Op::Eq, "2")
            .new_query()
            .is_not_empty(incident::CORRELATION_ID)
            .order_by(incident::SYS_UPDATED_ON)
            .order_by_desc(incident::SYS_ID);
        assert_eq!(
            q.encode(&INCIDENT).unwrap(),
            "sys_updated_on>=2025-01-02 03:04:05^state=1^ORstate=2^NQcorrelation_idISNOTEMPTY^ORDERBYsys_updated_on^ORDERBYDESCsys_id"
        );
        let q = Query::new().is_in(journal::ELEMENT, &["comments", "work_notes"]);
        assert_eq!(q.encode(&JOURNAL).unwrap(), "elementINcomments,work_notes");
    }

    #[test]
    fn refuses_fields_of_another_table() {
        let q = Query::new().eq(incident::NUMBER, "INC0010001");
        assert!(matches!(
            q.encode(&JOURNAL),
            Err(SnError::UnknownField { field, .. }) if field == "number"
        ));
    }

    #[test]
    fn refuses_values_that_break_the_encoding() {
        let q = Query::new().eq(incident::SHORT_DESCRIPTION, "a^ORstate=1");
        assert!(matches!(
            q.encode(&INCIDENT),
            Err(SnError::QueryValue { bad: '^', .. })
        ));
        let q = Query::new().is_in(incident::NUMBER, &["INC1", "INC2,INC3"]);
        assert!(matches!(
            q.encode(&INCIDENT),
            Err(SnError::QueryValue { bad: ',', .. })
        ));
    }

    #[test]
    fn operator_queries_are_checked_too() {
        let q = Query::new()
            .and_encoded("active=true^assignment_group.name=HPC Operations")
            .unwrap()
            .ge(incident::SYS_UPDATED_ON, "2025-01-01 00:00:00");
        assert_eq!(
            q.encode(&INCIDENT).unwrap(),
            "active=true^assignment_group.name=HPC Operations^sys_updated_on>=2025-01-01 00:00:00"
        );
        let typo = Query::new().and_encoded("activ=true").unwrap();
        assert!(matches!(
            typo.encode(&INCIDENT),
            Err(SnError::UnknownField { .. })
        ));
        assert!(Query::new().and_encoded("active=true^NQstate=1").is_err());
        assert!(Query::new().and_encoded("active~true").is_err());
    }
}
