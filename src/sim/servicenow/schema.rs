//! The simulated instance's tables: which fields exist and what kind each is.
//! The kind decides how a value is shown with display values, compared in a
//! query, and whether writing it makes a journal entry.

/// How a field behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    /// Compared and sorted as a number.
    Integer,
    /// Stored as UTC `YYYY-MM-DD HH:MM:SS`, displayed in the API user's zone.
    DateTime,
    /// Stores a `sys_id` of the named table.
    Reference(&'static str),
    /// Reads back `""`; a write appends an entry to `sys_journal_field`.
    Journal(&'static str),
    /// Stores a value, displays its label.
    Choice(&'static [(&'static str, &'static str)]),
}

#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub name: String,
    pub kind: Kind,
}

#[derive(Clone, Debug)]
pub(crate) struct Schema {
    pub name: String,
    /// The field whose value stands for a record in references.
    pub display_field: &'static str,
    pub fields: Vec<Field>,
}

/// Maintained by the platform: a client write to these is ignored.
pub(crate) const SYSTEM_FIELDS: &[&str] = &[
    "sys_id",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
];

pub(crate) const STATE_CHOICES: &[(&str, &str)] = &[
    ("1", "New"),
    ("2", "In Progress"),
    ("3", "On Hold"),
    ("6", "Resolved"),
    ("7", "Closed"),
    ("8", "Canceled"),
];
const HOLD_REASON_CHOICES: &[(&str, &str)] = &[
    ("1", "Awaiting Caller"),
    ("3", "Awaiting Problem"),
    ("4", "Awaiting Vendor"),
    ("5", "Awaiting Change"),
];
const IMPACT_CHOICES: &[(&str, &str)] = &[("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")];
const PRIORITY_CHOICES: &[(&str, &str)] = &[
    ("1", "1 - Critical"),
    ("2", "2 - High"),
    ("3", "3 - Moderate"),
    ("4", "4 - Low"),
    ("5", "5 - Planning"),
];

pub(crate) const INCIDENT: &str = "incident";
pub(crate) const JOURNAL: &str = "sys_journal_field";
pub(crate) const USER: &str = "sys_user";
pub(crate) const GROUP: &str = "sys_user_group";
pub(crate) const CI: &str = "cmdb_ci";

impl Schema {
    fn new(name: &str, display_field: &'static str, own: Vec<(&str, Kind)>) -> Self {
        let system = [
            ("sys_id", Kind::Text),
            ("sys_created_on", Kind::DateTime),
            ("sys_created_by", Kind::Text),
            ("sys_updated_on", Kind::DateTime),
            ("sys_updated_by", Kind::Text),
            ("sys_mod_count", Kind::Integer),
        ];
        let fields = own
            .into_iter()
            .chain(system)
            .map(|(name, kind)| Field {
                name: name.to_owned(),
                kind,
            })
            .collect();
        Self {
            name: name.to_owned(),
            display_field,
            fields,
        }
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn incident() -> Self {
        use Kind::*;
        Self::new(
            INCIDENT,
            "number",
            vec![
                ("number", Text),
                ("short_description", Text),
                ("description", Text),
                ("category", Text),
                ("state", Choice(STATE_CHOICES)),
                ("hold_reason", Choice(HOLD_REASON_CHOICES)),
                ("active", Text),
                ("impact", Choice(IMPACT_CHOICES)),
                ("urgency", Choice(IMPACT_CHOICES)),
                ("priority", Choice(PRIORITY_CHOICES)),
                ("cmdb_ci", Reference(CI)),
                ("assignment_group", Reference(GROUP)),
                ("assigned_to", Reference(USER)),
                ("caller_id", Reference(USER)),
                ("opened_at", DateTime),
                ("resolved_at", DateTime),
                ("close_code", Text),
                ("close_notes", Text),
                ("comments", Journal("Additional comments")),
                ("work_notes", Journal("Work notes")),
                ("correlation_id", Text),
                ("correlation_display", Text),
            ],
        )
    }

    pub fn journal() -> Self {
        Self::new(
            JOURNAL,
            "value",
            vec![
                ("element", Kind::Text),
                ("element_id", Kind::Text),
                ("name", Kind::Text),
                ("value", Kind::Text),
            ],
        )
    }

    pub fn user() -> Self {
        Self::new(
            USER,
            "name",
            vec![
                ("user_name", Kind::Text),
                ("name", Kind::Text),
                ("email", Kind::Text),
            ],
        )
    }

    pub fn group() -> Self {
        Self::new(
            GROUP,
            "name",
            vec![("name", Kind::Text), ("description", Kind::Text)],
        )
    }

    pub fn ci() -> Self {
        Self::new(
            CI,
            "name",
            vec![
                ("name", Kind::Text),
                ("sys_class_name", Kind::Text),
                ("serial_number", Kind::Text),
                ("location", Kind::Text),
            ],
        )
    }

    /// A configured mirror table: string fields plus the system fields.
    pub fn extra(name: &str, fields: &[String]) -> Self {
        let own = fields
            .iter()
            .filter(|f| !SYSTEM_FIELDS.contains(&f.as_str()))
            .map(|f| (f.as_str(), Kind::Text))
            .collect();
        Self::new(name, "sys_id", own)
    }
}

/// Priority from impact and urgency (each 1 High .. 3 Low), the platform's
/// default lookup: 1+1 → 1 Critical … 3+3 → 5 Planning.
pub(crate) fn priority(impact: &str, urgency: &str) -> String {
    let level = |v: &str| {
        v.parse::<u8>()
            .ok()
            .filter(|n| (1..=3).contains(n))
            .unwrap_or(3)
    };
    (level(impact) + level(urgency) - 1).to_string()
}

#[cfg(test)]
mod tests {
    use super::priority;

    #[test]
    fn priority_matrix() {
        let cases = [
            ("1", "1", "1"),
            ("1", "2", "2"),
            ("2", "1", "2"),
            ("1", "3", "3"),
            ("2", "2", "3"),
            ("3", "1", "3"),
            ("2", "3", "4"),
            ("3", "2", "4"),
            ("3", "3", "5"),
        ];
        for (impact, urgency, expected) in cases {
            assert_eq!(priority(impact, urgency), expected, "{impact}+{urgency}");
        }
    }
}
