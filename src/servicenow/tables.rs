//! The tables casebridge reads and writes, and the field names it may use on
//! each: a query or write naming any other field is refused before it is
//! sent (see [`crate::servicenow::Query`]).

use std::borrow::Cow;

/// A table and the field names casebridge may use on it.
#[derive(Clone, Debug)]
pub struct TableDef {
    name: Cow<'static, str>,
    fields: Fields,
}

/// Field names fixed in code, or read from the configuration (the mirror
/// tables' names are the operator's choice).
#[derive(Clone, Debug)]
enum Fields {
    Fixed(&'static [&'static str]),
    Configured(Vec<String>),
}

impl TableDef {
    pub const fn new(name: &'static str, fields: &'static [&'static str]) -> Self {
        Self {
            name: Cow::Borrowed(name),
            fields: Fields::Fixed(fields),
        }
    }

    /// A table whose name comes from the configuration (the mirror tables
    /// for onsite tasks and part orders); its fields are still fixed in code.
    pub fn named(name: impl Into<String>, fields: &'static [&'static str]) -> Self {
        Self {
            name: Cow::Owned(name.into()),
            fields: Fields::Fixed(fields),
        }
    }

    /// A table whose name and field names all come from the configuration.
    pub fn with_fields<S: Into<String>>(
        name: impl Into<String>,
        fields: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            name: Cow::Owned(name.into()),
            fields: Fields::Configured(fields.into_iter().map(Into::into).collect()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field names known here, in the order given.
    pub fn fields(&self) -> impl Iterator<Item = &str> + '_ {
        let (fixed, configured): (&[&str], &[String]) = match &self.fields {
            Fields::Fixed(f) => (f, &[]),
            Fields::Configured(f) => (&[], f),
        };
        fixed
            .iter()
            .copied()
            .chain(configured.iter().map(String::as_str))
    }

    /// Whether `field` is known here. A dot-walked name (`caller_id.name`)
    /// is judged by its first segment: the platform checks the rest.
    pub fn knows(&self, field: &str) -> bool {
        let head = field.split('.').next().unwrap_or(field);
        match &self.fields {
            Fields::Fixed(f) => f.contains(&head),
            Fields::Configured(f) => f.iter().any(|known| known == head),
        }
    }
}

/// Two definitions are the same when they name the same table and fields,
/// however the names were given.
impl PartialEq for TableDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.fields().eq(other.fields())
    }
}

impl Eq for TableDef {}

macro_rules! table {
    ($(#[$doc:meta])* $module:ident, $konst:ident, $table:literal, { $($(#[$fdoc:meta])* $field:ident = $name:literal),+ $(,)? }) => {
        $(#[$doc])*
        pub mod $module {
            pub const TABLE: &str = $table;
            $( $(#[$fdoc])* pub const $field: &str = $name; )+
            pub const FIELDS: &[&str] = &[$($field),+];
        }
        pub static $konst: TableDef = TableDef::new($table, $module::FIELDS);
    };
}

table!(
    /// `incident`: the fields casebridge reads, writes or queries on.
    incident, INCIDENT, "incident", {
    SYS_ID = "sys_id",
    NUMBER = "number",
    SHORT_DESCRIPTION = "short_description",
    DESCRIPTION = "description",
    CATEGORY = "category",
    /// 1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed, 8 Canceled.
    STATE = "state",
    /// 4 Awaiting Vendor.
    HOLD_REASON = "hold_reason",
    ACTIVE = "active",
    IMPACT = "impact",
    URGENCY = "urgency",
    /// Derived by the platform from impact and urgency: read-only.
    PRIORITY = "priority",
    CMDB_CI = "cmdb_ci",
    ASSIGNMENT_GROUP = "assignment_group",
    ASSIGNED_TO = "assigned_to",
    CALLER_ID = "caller_id",
    OPENED_AT = "opened_at",
    RESOLVED_AT = "resolved_at",
    CLOSE_CODE = "close_code",
    CLOSE_NOTES = "close_notes",
    /// Journal: write-only, reads back `""`.
    COMMENTS = "comments",
    /// Journal: write-only, reads back `""`.
    WORK_NOTES = "work_notes",
    /// The HPE case number.
    CORRELATION_ID = "correlation_id",
    /// "HPE GSEM".
    CORRELATION_DISPLAY = "correlation_display",
    SYS_CREATED_ON = "sys_created_on",
    SYS_CREATED_BY = "sys_created_by",
    SYS_UPDATED_ON = "sys_updated_on",
    SYS_UPDATED_BY = "sys_updated_by",
    SYS_MOD_COUNT = "sys_mod_count",
});

table!(
    /// `sys_journal_field`: one row per comment or work note.
    journal, JOURNAL, "sys_journal_field", {
    SYS_ID = "sys_id",
    /// `comments` or `work_notes`.
    ELEMENT = "element",
    /// The sys_id of the record the entry belongs to.
    ELEMENT_ID = "element_id",
    /// The table of that record.
    NAME = "name",
    VALUE = "value",
    SYS_CREATED_ON = "sys_created_on",
    SYS_CREATED_BY = "sys_created_by",
});

table!(
    /// `sys_user`.
    user, USER, "sys_user", {
    SYS_ID = "sys_id",
    USER_NAME = "user_name",
    NAME = "name",
    EMAIL = "email",
});

table!(
    /// `sys_user_group`.
    group, GROUP, "sys_user_group", {
    SYS_ID = "sys_id",
    NAME = "name",
});

table!(
    /// `cmdb_ci`: the systems incidents are raised against.
    ci, CI, "cmdb_ci", {
    SYS_ID = "sys_id",
    NAME = "name",
    SYS_CLASS_NAME = "sys_class_name",
    SERIAL_NUMBER = "serial_number",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_know_their_fields_and_only_those() {
        assert_eq!(INCIDENT.name(), "incident");
        assert!(INCIDENT.knows(incident::SYS_MOD_COUNT));
        assert!(INCIDENT.knows("caller_id.user_name"));
        assert!(!INCIDENT.knows("u_typo"));
        assert!(!JOURNAL.knows(incident::NUMBER));
        let mirror = TableDef::named("u_hpe_part_order", &["u_hpe_id"]);
        assert_eq!(mirror.name(), "u_hpe_part_order");
        assert!(mirror.knows("u_hpe_id"));
        let configured = TableDef::with_fields("u_hpe_part_order", ["u_hpe_id".to_owned()]);
        assert!(configured.knows("u_hpe_id"));
        assert!(!configured.knows("u_status"));
        assert_eq!(configured, mirror);
        assert!(INCIDENT.fields().eq(incident::FIELDS.iter().copied()));
    }
}
