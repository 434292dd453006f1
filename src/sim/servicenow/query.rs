//! Encoded queries as the instance evaluates them: `^` AND, `^OR` OR (binds
//! tighter than AND), `^NQ` a new query OR-ed with the others, and
//! `ORDERBY`/`ORDERBYDESC`. A part naming an unknown field, or one that does
//! not parse, is dropped without a word: that is the real platform's quirk,
//! and it can widen a query to the whole table.

use std::cmp::Ordering;

use super::schema::{Kind, Schema};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
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

/// Longest spellings first so `>=` is not read as `>` followed by `=`.
const OPERATORS: &[(&str, Op)] = &[
    ("ISNOTEMPTY", Op::IsNotEmpty),
    ("ISEMPTY", Op::IsEmpty),
    ("STARTSWITH", Op::StartsWith),
    ("LIKE", Op::Like),
    ("IN", Op::In),
    ("!=", Op::Ne),
    (">=", Op::Ge),
    ("<=", Op::Le),
    ("=", Op::Eq),
    (">", Op::Gt),
    ("<", Op::Lt),
];

/// A field of the queried table, or one field of the record a reference
/// field points to (`caller_id.user_name`).
#[derive(Clone, Debug)]
pub(crate) struct Path {
    pub field: String,
    pub walk: Option<(&'static str, String)>,
    pub kind: Kind,
}

#[derive(Clone, Debug)]
struct Condition {
    path: Path,
    op: Op,
    value: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub path: Path,
    pub descending: bool,
}

/// Reads field values for evaluation; dot-walks need the other tables.
pub(crate) trait Resolve {
    fn value(&self, path: &Path) -> String;
}

#[derive(Debug, Default)]
pub(crate) struct EncodedQuery {
    /// `^NQ` groups, each a conjunction of disjunctions.
    groups: Vec<Vec<Vec<Condition>>>,
    pub order: Vec<Order>,
}

/// Resolves `name` against `schema`; `target` gives the schema of a
/// referenced table for one level of dot-walking.
pub(crate) fn path<'s>(
    schema: &Schema,
    name: &str,
    target: impl Fn(&str) -> Option<&'s Schema>,
) -> Option<Path> {
    match name.split_once('.') {
        None => schema.field(name).map(|f| Path {
            field: f.name.clone(),
            walk: None,
            kind: f.kind,
        }),
        Some((head, tail)) => {
            let Kind::Reference(table) = schema.field(head)?.kind else {
                return None;
            };
            let walked = target(table)?.field(tail)?;
            Some(Path {
                field: head.to_owned(),
                walk: Some((table, walked.name.clone())),
                kind: walked.kind,
            })
        }
    }
}

impl EncodedQuery {
    pub fn parse<'s>(
        text: &str,
        schema: &Schema,
        target: impl Fn(&str) -> Option<&'s Schema> + Copy,
    ) -> Self {
        let mut query = Self::default();
        for group_text in text.split("^NQ") {
            let mut group: Vec<Vec<Condition>> = Vec::new();
            for part in group_text.split('^').filter(|p| !p.is_empty()) {
                if let Some(order) = parse_order(part, schema, target) {
                    query.order.extend(order);
                    continue;
                }
                let (is_or, body) = match part.strip_prefix("OR") {
                    Some(rest) if !group.is_empty() => (true, rest),
                    Some(rest) => (false, rest),
                    None => (false, part),
                };
                let Some(condition) = parse_condition(body, schema, target) else {
                    continue;
                };
                match group.last_mut() {
                    Some(last) if is_or => last.push(condition),
                    _ => group.push(vec![condition]),
                }
            }
            query.groups.push(group);
        }
        query
    }

    pub fn matches(&self, row: &impl Resolve) -> bool {
        self.groups.iter().any(|group| {
            group
                .iter()
                .all(|any_of| any_of.iter().any(|c| c.matches(&row.value(&c.path))))
        })
    }
}

/// `Some(vec![])` for an ORDERBY part whose field is unknown (dropped),
/// `None` when the part is not an ORDERBY at all.
fn parse_order<'s>(
    part: &str,
    schema: &Schema,
    target: impl Fn(&str) -> Option<&'s Schema>,
) -> Option<Vec<Order>> {
    let (descending, name) = if let Some(name) = part.strip_prefix("ORDERBYDESC") {
        (true, name)
    } else {
        (false, part.strip_prefix("ORDERBY")?)
    };
    Some(
        path(schema, name, target)
            .map(|path| Order { path, descending })
            .into_iter()
            .collect(),
    )
}

fn parse_condition<'s>(
    body: &str,
    schema: &Schema,
    target: impl Fn(&str) -> Option<&'s Schema>,
) -> Option<Condition> {
    let end = body
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
        .unwrap_or(body.len());
    let (name, rest) = body.split_at(end);
    let (spelling, op) = OPERATORS.iter().find(|(s, _)| rest.starts_with(s))?;
    let value = &rest[spelling.len()..];
    if matches!(op, Op::IsEmpty | Op::IsNotEmpty) && !value.is_empty() {
        return None;
    }
    Some(Condition {
        path: path(schema, name, target)?,
        op: *op,
        value: value.to_owned(),
    })
}

/// Integers compare as numbers; everything else, date-times included (their
/// format is fixed-width), as strings.
pub(crate) fn compare(kind: Kind, a: &str, b: &str) -> Ordering {
    if kind == Kind::Integer
        && let (Ok(x), Ok(y)) = (a.parse::<i64>(), b.parse::<i64>())
    {
        return x.cmp(&y);
    }
    a.cmp(b)
}

impl Condition {
    fn matches(&self, actual: &str) -> bool {
        let ord = || compare(self.path.kind, actual, &self.value);
        match self.op {
            Op::Eq => actual == self.value,
            Op::Ne => actual != self.value,
            Op::Gt => ord() == Ordering::Greater,
            Op::Ge => ord() != Ordering::Less,
            Op::Lt => ord() == Ordering::Less,
            Op::Le => ord() != Ordering::Greater,
            Op::In => self.value.split(',').any(|v| v == actual),
            Op::Like => actual.to_lowercase().contains(&self.value.to_lowercase()),
            Op::StartsWith => actual
                .to_lowercase()
                .starts_with(&self.value.to_lowercase()),
            Op::IsEmpty => actual.is_empty(),
            Op::IsNotEmpty => !actual.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    struct Row(BTreeMap<&'static str, &'static str>);

    impl Resolve for Row {
        fn value(&self, path: &Path) -> String {
            self.0
                .get(path.field.as_str())
                .copied()
                .unwrap_or("")
                .to_owned()
        }
    }

    fn row(pairs: &[(&'static str, &'static str)]) -> Row {
        Row(pairs.iter().copied().collect())
    }

    fn q(text: &str) -> EncodedQuery {
        let schema = Schema::incident();
        EncodedQuery::parse(text, &schema, |_| None)
    }

    #[test]
    fn or_binds_tighter_than_and() {
        let query = q("state=1^impact=1^ORimpact=2");
        assert!(query.matches(&row(&[("state", "1"), ("impact", "2")])));
        assert!(!query.matches(&row(&[("state", "2"), ("impact", "2")])));
        assert!(!query.matches(&row(&[("state", "1"), ("impact", "3")])));
    }

    #[test]
    fn nq_starts_an_alternative_query() {
        let query = q("state=1^NQstate=6");
        assert!(query.matches(&row(&[("state", "6")])));
        assert!(!query.matches(&row(&[("state", "2")])));
    }

    #[test]
    fn unknown_field_parts_are_dropped_and_widen() {
        let query = q("u_no_such_field=1");
        assert!(query.matches(&row(&[("state", "2")])));
        let query = q("state=2^u_typo=x");
        assert!(query.matches(&row(&[("state", "2")])));
    }

    #[test]
    fn operators() {
        let r = row(&[
            ("sys_mod_count", "10"),
            ("short_description", "Node nid001234 down"),
        ]);
        assert!(q("sys_mod_count>9").matches(&r));
        assert!(!q("sys_mod_count<9").matches(&r));
        assert!(q("sys_mod_count>=10^sys_mod_count<=10").matches(&r));
        assert!(q("sys_mod_countIN3,10").matches(&r));
        assert!(q("short_descriptionLIKEnid001234").matches(&r));
        assert!(q("short_descriptionSTARTSWITHnode").matches(&r));
        assert!(q("descriptionISEMPTY").matches(&r));
        assert!(!q("descriptionISNOTEMPTY").matches(&r));
        assert!(q("sys_mod_count!=3").matches(&r));
    }

    #[test]
    fn order_parts_are_collected() {
        let query = q("state=1^ORDERBYsys_updated_on^ORDERBYDESCsys_id^ORDERBYnope");
        let order: Vec<_> = query
            .order
            .iter()
            .map(|o| (o.path.field.as_str(), o.descending))
            .collect();
        assert_eq!(order, vec![("sys_updated_on", false), ("sys_id", true)]);
    }
}
