//! Structured fields: `[text;]TAG=value(;TAG=value)*`, a TAG being two upper
//! case ASCII letters (§2). `ContractID` uses `CN`; `AgreementType` uses `SN`,
//! `LN`, `PN`, `DT`, `RI`.

/// A structured field split into its parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StructuredField {
    /// The leading free text, when the first segment is not a tag.
    pub text: Option<String>,
    /// The tagged values, in order of appearance.
    pub tags: Vec<(String, String)>,
}

impl StructuredField {
    /// The first value of `tag`.
    pub fn get(&self, tag: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(t, _)| t == tag)
            .map(|(_, value)| value.as_str())
    }
}

/// Why a structured field cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error(
        "value `{value}` of tag {tag} contains `;`, which separates structured fields: remove it"
    )]
    SemicolonInValue { tag: String, value: String },
    #[error("free text `{0}` contains `;`, which separates structured fields: remove it")]
    SemicolonInText(String),
    #[error("free text `{0}` starts like a tag (`XX=`) and would be read back as one: reword it")]
    TextLooksLikeTag(String),
    #[error("`{0}` is not a tag: a tag is two upper-case letters")]
    BadTag(String),
    #[error("segment `{0}` is not `TAG=value` (a tag is two upper-case letters)")]
    NotATag(String),
}

/// Reads a structured field. Only the first segment may be free text.
pub fn parse(text: &str) -> Result<StructuredField, FieldError> {
    let mut field = StructuredField::default();
    if text.is_empty() {
        return Ok(field);
    }
    for (index, segment) in text.split(';').enumerate() {
        match split_tag(segment) {
            Some((tag, value)) => field.tags.push((tag.to_owned(), value.to_owned())),
            None if index == 0 => field.text = Some(segment.to_owned()),
            None => return Err(FieldError::NotATag(segment.to_owned())),
        }
    }
    Ok(field)
}

/// Writes a structured field; no leading `;` when there is no text
/// (`CN=2155240525`). Refuses what would not read back the same.
pub fn format(text: Option<&str>, tags: &[(&str, &str)]) -> Result<String, FieldError> {
    let mut segments = Vec::with_capacity(tags.len() + 1);
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        if text.contains(';') {
            return Err(FieldError::SemicolonInText(text.to_owned()));
        }
        if split_tag(text).is_some() {
            return Err(FieldError::TextLooksLikeTag(text.to_owned()));
        }
        segments.push(text.to_owned());
    }
    for (tag, value) in tags {
        if !is_tag(tag) {
            return Err(FieldError::BadTag((*tag).to_owned()));
        }
        if value.contains(';') {
            return Err(FieldError::SemicolonInValue {
                tag: (*tag).to_owned(),
                value: (*value).to_owned(),
            });
        }
        segments.push(format!("{tag}={value}"));
    }
    Ok(segments.join(";"))
}

fn is_tag(tag: &str) -> bool {
    tag.len() == 2 && tag.bytes().all(|b| b.is_ascii_uppercase())
}

fn split_tag(segment: &str) -> Option<(&str, &str)> {
    let tag = segment.get(..2)?;
    let value = segment.get(2..)?.strip_prefix('=')?;
    is_tag(tag).then_some((tag, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(t, v)| ((*t).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_tags_only() {
        let field = parse("SN=5UF044F7CY;LN=INC0097539_3").unwrap();
        assert_eq!(field.text, None);
        assert_eq!(
            field.tags,
            tags(&[("SN", "5UF044F7CY"), ("LN", "INC0097539_3")])
        );
        assert_eq!(field.get("LN"), Some("INC0097539_3"));
        assert_eq!(field.get("PN"), None);
    }

    #[test]
    fn reads_leading_text() {
        let field = parse("Contract for rack 3;CN=2155240525").unwrap();
        assert_eq!(field.text.as_deref(), Some("Contract for rack 3"));
        assert_eq!(field.tags, tags(&[("CN", "2155240525")]));
        let text_only = parse("just words").unwrap();
        assert_eq!(text_only.text.as_deref(), Some("just words"));
        assert!(text_only.tags.is_empty());
        assert_eq!(parse("").unwrap(), StructuredField::default());
    }

    #[test]
    fn values_may_hold_equals_and_be_empty() {
        let field = parse("PN=a=b;DT=").unwrap();
        assert_eq!(field.tags, tags(&[("PN", "a=b"), ("DT", "")]));
    }

    #[test]
    fn later_segments_must_be_tags() {
        assert_eq!(
            parse("SN=1;oops").unwrap_err(),
            FieldError::NotATag("oops".into())
        );
        assert_eq!(
            parse("SN=1;sn=2").unwrap_err(),
            FieldError::NotATag("sn=2".into())
        );
    }

    #[test]
    fn writes_without_leading_semicolon_when_no_text() {
        assert_eq!(
            format(None, &[("CN", "2155240525")]).unwrap(),
            "CN=2155240525"
        );
        assert_eq!(
            format(Some(""), &[("CN", "2155240525")]).unwrap(),
            "CN=2155240525"
        );
        assert_eq!(
            format(None, &[("SN", "5UF044F7CY"), ("LN", "INC0097539_3")]).unwrap(),
            "SN=5UF044F7CY;LN=INC0097539_3"
        );
        assert_eq!(
            format(Some("rack 3"), &[("CN", "1")]).unwrap(),
            "rack 3;CN=1"
        );
    }

    #[test]
    fn written_fields_read_back() {
        let written = format(Some("note"), &[("SN", "X"), ("LN", "INC1_2")]).unwrap();
        let field = parse(&written).unwrap();
        assert_eq!(field.text.as_deref(), Some("note"));
        assert_eq!(field.tags, tags(&[("SN", "X"), ("LN", "INC1_2")]));
    }

    #[test]
    fn refuses_what_would_not_read_back() {
        assert_eq!(
            format(None, &[("CN", "21;55")]).unwrap_err(),
            FieldError::SemicolonInValue {
                tag: "CN".into(),
                value: "21;55".into()
            }
        );
        assert_eq!(
            format(Some("a;b"), &[]).unwrap_err(),
            FieldError::SemicolonInText("a;b".into())
        );
        assert_eq!(
            format(Some("CN=x"), &[]).unwrap_err(),
            FieldError::TextLooksLikeTag("CN=x".into())
        );
        assert_eq!(
            format(None, &[("cn", "1")]).unwrap_err(),
            FieldError::BadTag("cn".into())
        );
        assert_eq!(
            FieldError::SemicolonInValue {
                tag: "CN".into(),
                value: "1;2".into()
            }
            .to_string(),
            "value `1;2` of tag CN contains `;`, which separates structured fields: remove it"
        );
    }
}
