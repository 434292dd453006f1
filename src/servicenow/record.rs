//! Records as the Table API returns them, in each display-value mode, and
//! the one reference type every reference shape parses into.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

/// Date-times are stored and returned (without display values) as UTC in
/// this format, second precision.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Reads a Table API date-time (UTC); `None` for `""` or anything else.
pub fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, TIME_FORMAT).ok()
}

/// Writes a date-time the way queries compare it (UTC, fixed width).
pub fn format_datetime(at: NaiveDateTime) -> String {
    at.format(TIME_FORMAT).to_string()
}

/// `sysparm_display_value`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DisplayMode {
    /// Stored values (`false`): choice values, sys_ids, UTC date-times.
    #[default]
    Values,
    /// Display values (`true`): labels, names, date-times in the API
    /// user's zone, journals as text.
    Display,
    /// Both (`all`): every field `{"display_value", "value"}`.
    All,
}

/// How a read asks for values: the mode, and whether references come
/// without their `link` (`sysparm_exclude_reference_link`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Display {
    pub mode: DisplayMode,
    pub exclude_reference_link: bool,
}

impl Display {
    pub const VALUES: Display = Display {
        mode: DisplayMode::Values,
        exclude_reference_link: false,
    };
    pub const DISPLAY: Display = Display {
        mode: DisplayMode::Display,
        exclude_reference_link: false,
    };
    pub const ALL: Display = Display {
        mode: DisplayMode::All,
        exclude_reference_link: false,
    };

    pub fn without_links(self) -> Self {
        Self {
            exclude_reference_link: true,
            ..self
        }
    }

    pub(crate) fn params(self) -> [(&'static str, &'static str); 2] {
        let mode = match self.mode {
            DisplayMode::Values => "false",
            DisplayMode::Display => "true",
            DisplayMode::All => "all",
        };
        let exclude = if self.exclude_reference_link {
            "true"
        } else {
            "false"
        };
        [
            ("sysparm_display_value", mode),
            ("sysparm_exclude_reference_link", exclude),
        ]
    }
}

/// A reference field, whatever shape it came in: `{"link","value"}`,
/// `{"display_value","link"}`, `{"display_value","value"}`, a bare sys_id or
/// a bare display value. Empty parts are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefValue {
    /// The target's sys_id.
    pub value: Option<String>,
    /// The target's display value (a name, a number).
    pub display: Option<String>,
}

fn non_empty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl RefValue {
    /// Parses one reference value; `mode` says what a bare string is.
    pub fn parse(value: &Value, mode: DisplayMode) -> Self {
        match value {
            Value::String(s) if s.is_empty() => Self::default(),
            Value::String(s) => match mode {
                DisplayMode::Display => Self {
                    value: None,
                    display: Some(s.clone()),
                },
                DisplayMode::Values | DisplayMode::All => Self {
                    value: Some(s.clone()),
                    display: None,
                },
            },
            Value::Object(object) => {
                // With display values the sys_id is only in the link's last segment.
                let from_link = || {
                    non_empty(object.get("link")).and_then(|link| {
                        link.rsplit('/')
                            .next()
                            .map(|id| id.split('?').next().unwrap_or(id).to_owned())
                            .filter(|id| !id.is_empty())
                    })
                };
                Self {
                    value: non_empty(object.get("value")).or_else(from_link),
                    display: non_empty(object.get("display_value")),
                }
            }
            _ => Self::default(),
        }
    }
}

/// One record of a result, with the display mode it was read in.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    fields: Map<String, Value>,
    mode: DisplayMode,
}

impl Record {
    pub(crate) fn new(fields: Map<String, Value>, mode: DisplayMode) -> Self {
        Self { fields, mode }
    }

    pub fn mode(&self) -> DisplayMode {
        self.mode
    }

    /// The field as it came.
    pub fn raw(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The stored value (a choice value, a sys_id, a UTC date-time), when
    /// the response carries it: always without display values, from
    /// `value` with `all`, and never with display values alone.
    pub fn value(&self, field: &str) -> Option<&str> {
        match (self.fields.get(field)?, self.mode) {
            (Value::String(s), DisplayMode::Values) => Some(s),
            (Value::Object(o), DisplayMode::Values | DisplayMode::All) => {
                o.get("value").and_then(Value::as_str)
            }
            _ => None,
        }
    }

    /// The display value, when the response carries it (display values or `all`).
    pub fn display_value(&self, field: &str) -> Option<&str> {
        match (self.fields.get(field)?, self.mode) {
            (Value::String(s), DisplayMode::Display) => Some(s),
            (Value::Object(o), DisplayMode::Display | DisplayMode::All) => {
                o.get("display_value").and_then(Value::as_str)
            }
            _ => None,
        }
    }

    /// The value if carried, else the display value: for plain text fields,
    /// which are the same in every mode.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.value(field).or_else(|| self.display_value(field))
    }

    pub fn reference(&self, field: &str) -> RefValue {
        self.fields
            .get(field)
            .map(|v| RefValue::parse(v, self.mode))
            .unwrap_or_default()
    }

    pub fn sys_id(&self) -> Option<&str> {
        self.text("sys_id")
    }

    pub fn mod_count(&self) -> Option<u64> {
        self.value("sys_mod_count")?.parse().ok()
    }

    /// A stored (UTC) date-time; `None` if empty, absent or not carried.
    pub fn datetime(&self, field: &str) -> Option<NaiveDateTime> {
        parse_datetime(self.value(field)?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LINK: &str =
        "https://x.service-now.com/api/now/table/sys_user/5137153cc611227c000bbd1bd8cd2005";
    const ID: &str = "5137153cc611227c000bbd1bd8cd2005";

    #[test]
    fn every_reference_shape() {
        let both = RefValue {
            value: Some(ID.into()),
            display: Some("Fred Luddy".into()),
        };
        let link_value = json!({"link": LINK, "value": ID});
        assert_eq!(
            RefValue::parse(&link_value, DisplayMode::Values),
            RefValue {
                value: Some(ID.into()),
                display: None
            }
        );
        let display_link = json!({"display_value": "Fred Luddy", "link": LINK});
        assert_eq!(RefValue::parse(&display_link, DisplayMode::Display), both);
        let display_value = json!({"display_value": "Fred Luddy", "value": ID});
        assert_eq!(RefValue::parse(&display_value, DisplayMode::All), both);
        assert_eq!(
            RefValue::parse(&json!("Fred Luddy"), DisplayMode::Display),
            RefValue {
                value: None,
                display: Some("Fred Luddy".into())
            }
        );
        assert_eq!(
            RefValue::parse(&json!(ID), DisplayMode::Values),
            RefValue {
                value: Some(ID.into()),
                display: None
            }
        );
        assert_eq!(
            RefValue::parse(&json!(""), DisplayMode::Values),
            RefValue::default()
        );
        let empty = json!({"display_value": "", "value": ""});
        assert_eq!(
            RefValue::parse(&empty, DisplayMode::All),
            RefValue::default()
        );
    }

    #[test]
    fn values_by_mode() {
        let all = Record::new(
            json!({"state": {"display_value": "In Progress", "value": "2"}})
                .as_object()
                .cloned()
                .unwrap(),
            DisplayMode::All,
        );
        assert_eq!(all.value("state"), Some("2"));
        assert_eq!(all.display_value("state"), Some("In Progress"));
        let display = Record::new(
            json!({"state": "In Progress"})
                .as_object()
                .cloned()
                .unwrap(),
            DisplayMode::Display,
        );
        assert_eq!(display.value("state"), None);
        assert_eq!(display.text("state"), Some("In Progress"));
        let values = Record::new(
            json!({"sys_updated_on": "2025-03-04 05:06:07", "sys_mod_count": "4"})
                .as_object()
                .cloned()
                .unwrap(),
            DisplayMode::Values,
        );
        assert_eq!(values.mod_count(), Some(4));
        assert_eq!(
            values
                .datetime("sys_updated_on")
                .map(format_datetime)
                .as_deref(),
            Some("2025-03-04 05:06:07")
        );
    }
}
