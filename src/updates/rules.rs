//! The rules that drive the update parser: record-line patterns, structured
//! key names and the vocabularies, from `assets/update-rules.toml` (embedded)
//! merged with an optional site file.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use super::model::{Field, PartStatus, RecordKind, ReturnStatus, TaskStatus};

const SHIPPED_RULES: &str = include_str!("../../assets/update-rules.toml");
const SHIPPED_NAME: &str = "assets/update-rules.toml (shipped)";
/// Compiled-program cap per pattern: enough for any sane rule, small enough
/// that a pathological site pattern is refused instead of eating memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(
        "cannot read update rules {path}: {source}; fix the file's permissions or remove it (the shipped rules are used meanwhile)"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "update rules {file} are not valid TOML: {message}; fix the syntax (the shipped rules are used meanwhile)"
    )]
    Toml { file: String, message: String },
    #[error(
        "update rules {file}, rule `{rule}`: bad pattern: {message}; fix the regular expression (the shipped rules are used meanwhile)"
    )]
    Pattern {
        file: String,
        rule: String,
        message: String,
    },
    #[error(
        "update rules {file}, rule `{rule}`: unknown {what} `{name}`; use one of: {known} (the shipped rules are used meanwhile)"
    )]
    Unknown {
        file: String,
        rule: String,
        what: &'static str,
        name: String,
        known: String,
    },
    #[error(
        "update rules {file}, rule `{rule}`: {problem}; {fix} (the shipped rules are used meanwhile)"
    )]
    Invalid {
        file: String,
        rule: String,
        problem: &'static str,
        fix: &'static str,
    },
}

// ---- the file's shape ------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    text: BTreeMap<String, TextRecordFile>,
    #[serde(default)]
    structured: BTreeMap<String, StructuredFile>,
    #[serde(default)]
    status: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    #[serde(default, rename = "return")]
    return_: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    carriers: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextRecordFile {
    keyword: Option<String>,
    id: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StructuredFile {
    action_logs: Option<Vec<String>>,
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
}

/// The merged, not yet compiled rules, each value remembering which file
/// it came from so an error names the right one.
#[derive(Debug, Default, Clone)]
struct Merged {
    text: BTreeMap<(RecordKind, &'static str), Sourced<String>>,
    structured_logs: BTreeMap<RecordKind, Sourced<Vec<String>>>,
    keys: BTreeMap<(RecordKind, Field), Sourced<Vec<String>>>,
    task_words: BTreeMap<String, (TaskStatus, String)>,
    part_words: BTreeMap<String, (PartStatus, String)>,
    return_words: BTreeMap<String, (ReturnStatus, String)>,
    required_words: BTreeMap<String, (bool, String)>,
    carrier_words: BTreeMap<String, (String, String)>,
}

#[derive(Debug, Clone)]
struct Sourced<T> {
    value: T,
    file: String,
}

// ---- compiled rules ----------------------------------------------------------

/// Patterns of one kind of text record.
#[derive(Debug, Clone)]
pub(crate) struct TextRecordRules {
    /// `^(?:id)`: the id right after the keyword.
    pub id: Regex,
    /// All tags of this kind as one alternation, group `i` = `tag_fields[i]`.
    pub tags: Regex,
    pub tag_fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub(crate) struct StructuredRules {
    pub action_logs: Vec<String>,
    /// Lower-cased key → field.
    pub keys: HashMap<String, Field>,
}

/// A word list: normalised HPE word → meaning.
#[derive(Debug, Clone)]
pub(crate) struct Vocabulary<C> {
    words: HashMap<String, C>,
}

impl<C: Clone> Vocabulary<C> {
    pub fn lookup(&self, word: &str) -> Option<C> {
        self.words.get(&normalise_word(word)).cloned()
    }
}

/// The update rules in force: shipped, possibly merged with a site file.
#[derive(Clone)]
pub struct Rules {
    /// Keyword alternation; group 1 = task, group 2 = part.
    pub(crate) record_start: Regex,
    pub(crate) task_text: TextRecordRules,
    pub(crate) part_text: TextRecordRules,
    pub(crate) task_structured: StructuredRules,
    pub(crate) part_structured: StructuredRules,
    pub(crate) task_status: Vocabulary<TaskStatus>,
    pub(crate) part_status: Vocabulary<PartStatus>,
    pub(crate) return_status: Vocabulary<ReturnStatus>,
    pub(crate) return_required: Vocabulary<bool>,
    pub(crate) carriers: Vocabulary<String>,
    sources: Vec<String>,
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rules")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl Rules {
    /// The rules embedded in the binary. They are tested to compile, so an
    /// error here means a broken build, reported rather than panicking.
    pub fn shipped() -> Result<Rules, RulesError> {
        let file = parse_file(SHIPPED_RULES, SHIPPED_NAME)?;
        let mut merged = Merged::default();
        merged.add(file, SHIPPED_NAME)?;
        merged.compile(vec![SHIPPED_NAME.to_string()])
    }

    /// The shipped rules merged with a site file. A missing site file is no
    /// error. A broken one yields the shipped rules plus the error to show:
    /// updates keep being parsed while the site fixes its file. `Err` only
    /// if the shipped rules themselves are broken.
    pub fn load_with_override(
        path: Option<&Path>,
    ) -> Result<(Rules, Option<RulesError>), RulesError> {
        let shipped = Rules::shipped()?;
        let Some(path) = path else {
            return Ok((shipped, None));
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((shipped, None)),
            Err(source) => {
                return Ok((
                    shipped,
                    Some(RulesError::Read {
                        path: path.to_path_buf(),
                        source,
                    }),
                ));
            }
        };
        match Rules::shipped_with(&text, &path.display().to_string()) {
            Ok(rules) => Ok((rules, None)),
            Err(e) => Ok((shipped, Some(e))),
        }
    }

    /// The shipped rules merged with site rules given as text; `name` is how
    /// errors name the site file.
    pub fn shipped_with(site_toml: &str, name: &str) -> Result<Rules, RulesError> {
        let mut merged = Merged::default();
        merged.add(parse_file(SHIPPED_RULES, SHIPPED_NAME)?, SHIPPED_NAME)?;
        merged.add(parse_file(site_toml, name)?, name)?;
        merged.compile(vec![SHIPPED_NAME.to_string(), name.to_string()])
    }

    /// The files these rules came from, shipped first.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    pub(crate) fn text(&self, kind: RecordKind) -> &TextRecordRules {
        match kind {
            RecordKind::Task => &self.task_text,
            RecordKind::Part => &self.part_text,
        }
    }

    pub(crate) fn structured(&self, kind: RecordKind) -> &StructuredRules {
        match kind {
            RecordKind::Task => &self.task_structured,
            RecordKind::Part => &self.part_structured,
        }
    }
}

/// Upper case; `-`, `_` and runs of whitespace become one space; trimmed;
/// a trailing full stop dropped.
pub(crate) fn normalise_word(word: &str) -> String {
    let upper = word.trim().trim_end_matches('.').to_uppercase();
    upper
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn sourced<T>(value: T, file: &str) -> Sourced<T> {
    Sourced {
        value,
        file: file.to_string(),
    }
}

fn parse_file(text: &str, file: &str) -> Result<RulesFile, RulesError> {
    toml::from_str(text).map_err(|e| RulesError::Toml {
        file: file.to_string(),
        message: e.to_string(),
    })
}

fn kind_named(name: &str, file: &str, rule: String) -> Result<RecordKind, RulesError> {
    match name {
        "task" => Ok(RecordKind::Task),
        "part" => Ok(RecordKind::Part),
        _ => Err(RulesError::Unknown {
            file: file.to_string(),
            rule,
            what: "record kind",
            name: name.to_string(),
            known: "task, part".to_string(),
        }),
    }
}

fn field_named(
    kind: RecordKind,
    name: &str,
    allowed: &[Field],
    file: &str,
    rule: String,
) -> Result<Field, RulesError> {
    allowed
        .iter()
        .copied()
        .find(|f| f.name() == name)
        .ok_or_else(|| RulesError::Unknown {
            file: file.to_string(),
            rule,
            what: match kind {
                RecordKind::Task => "task field",
                RecordKind::Part => "part field",
            },
            name: name.to_string(),
            known: allowed
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Adds `words` under `meaning`, a site's word replacing the shipped meaning.
fn add_words<C: Clone>(
    into: &mut BTreeMap<String, (C, String)>,
    meaning: C,
    words: impl IntoIterator<Item = String>,
    file: &str,
) {
    for word in words {
        let key = normalise_word(&word);
        if !key.is_empty() {
            into.insert(key, (meaning.clone(), file.to_string()));
        }
    }
}

fn canonical<C: Copy>(
    all: &[C],
    name_of: fn(C) -> &'static str,
    name: &str,
    file: &str,
    rule: String,
    what: &'static str,
) -> Result<C, RulesError> {
    all.iter()
        .copied()
        .find(|c| name_of(*c) == name)
        .ok_or_else(|| RulesError::Unknown {
            file: file.to_string(),
            rule,
            what,
            name: name.to_string(),
            known: all
                .iter()
                .map(|c| name_of(*c))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

impl Merged {
    fn add(&mut self, file: RulesFile, name: &str) -> Result<(), RulesError> {
        for (kind_name, record) in file.text {
            let kind = kind_named(&kind_name, name, format!("text.{kind_name}"))?;
            if let Some(keyword) = record.keyword {
                self.text.insert((kind, "keyword"), sourced(keyword, name));
            }
            if let Some(id) = record.id {
                self.text.insert((kind, "id"), sourced(id, name));
            }
            for (tag, pattern) in record.tags {
                let rule = format!("text.{kind_name}.tags.{tag}");
                let field = field_named(kind, &tag, kind.text_fields(), name, rule)?;
                self.text
                    .insert((kind, field.name()), sourced(pattern, name));
            }
        }
        for (kind_name, record) in file.structured {
            let kind = kind_named(&kind_name, name, format!("structured.{kind_name}"))?;
            if let Some(logs) = record.action_logs {
                self.structured_logs.insert(kind, sourced(logs, name));
            }
            for (key, names) in record.keys {
                let rule = format!("structured.{kind_name}.keys.{key}");
                let field = field_named(kind, &key, kind.structured_fields(), name, rule)?;
                self.keys.insert((kind, field), sourced(names, name));
            }
        }
        for (kind_name, words) in file.status {
            let kind = kind_named(&kind_name, name, format!("status.{kind_name}"))?;
            for (status, list) in words {
                let rule = format!("status.{kind_name}.{status}");
                match kind {
                    RecordKind::Task => {
                        let c = canonical(
                            TaskStatus::ALL,
                            TaskStatus::as_str,
                            &status,
                            name,
                            rule,
                            "task status",
                        )?;
                        add_words(&mut self.task_words, c, list, name);
                    }
                    RecordKind::Part => {
                        let c = canonical(
                            PartStatus::ALL,
                            PartStatus::as_str,
                            &status,
                            name,
                            rule,
                            "part status",
                        )?;
                        add_words(&mut self.part_words, c, list, name);
                    }
                }
            }
        }
        for (table, words) in file.return_ {
            for (meaning, list) in words {
                let rule = format!("return.{table}.{meaning}");
                match table.as_str() {
                    "status" => {
                        let c = canonical(
                            ReturnStatus::ALL,
                            ReturnStatus::as_str,
                            &meaning,
                            name,
                            rule,
                            "return status",
                        )?;
                        add_words(&mut self.return_words, c, list, name);
                    }
                    "required" => {
                        let c = canonical(
                            &[true, false],
                            |b| if b { "yes" } else { "no" },
                            &meaning,
                            name,
                            rule,
                            "answer",
                        )?;
                        add_words(&mut self.required_words, c, list, name);
                    }
                    _ => {
                        return Err(RulesError::Unknown {
                            file: name.to_string(),
                            rule: format!("return.{table}"),
                            what: "table",
                            name: table.clone(),
                            known: "status, required".to_string(),
                        });
                    }
                }
            }
        }
        for (carrier, list) in file.carriers {
            if normalise_word(&carrier).is_empty() {
                return Err(RulesError::Invalid {
                    file: name.to_string(),
                    rule: format!("carriers.{carrier}"),
                    problem: "a carrier needs a name",
                    fix: "name the carrier, e.g. FEDEX = [\"FED EX\"]",
                });
            }
            let words = std::iter::once(carrier.clone()).chain(list);
            add_words(&mut self.carrier_words, carrier.clone(), words, name);
        }
        Ok(())
    }

    fn compile(self, sources: Vec<String>) -> Result<Rules, RulesError> {
        let mut keywords = Vec::new();
        let mut texts = Vec::new();
        for kind in [RecordKind::Task, RecordKind::Part] {
            let keyword = self.required_text(kind, "keyword")?;
            compile_groupless(
                &keyword.value,
                &keyword.file,
                &format!("text.{}.keyword", kind.as_str()),
            )?;
            keywords.push(format!("({})", keyword.value));
            let id = self.required_text(kind, "id")?;
            let id_rule = format!("text.{}.id", kind.as_str());
            let id_regex = compile_pattern(&format!("^(?:{})", id.value), &id.file, &id_rule)?;
            if id_regex.is_match("") {
                return Err(RulesError::Invalid {
                    file: id.file.clone(),
                    rule: id_rule,
                    problem: "the id pattern matches empty text",
                    fix: "make it need at least one character, e.g. '[A-Z0-9][A-Z0-9-]*'",
                });
            }
            let mut alternatives = Vec::new();
            let mut tag_fields = Vec::new();
            for field in kind.text_fields() {
                if let Some(pattern) = self.text.get(&(kind, field.name())) {
                    let rule = format!("text.{}.tags.{}", kind.as_str(), field.name());
                    compile_groupless(&pattern.value, &pattern.file, &rule)?;
                    alternatives.push(format!("({})", pattern.value));
                    tag_fields.push(*field);
                }
            }
            let tags = compile_pattern(
                &alternatives.join("|"),
                SHIPPED_NAME,
                &format!("text.{}.tags", kind.as_str()),
            )?;
            texts.push(TextRecordRules {
                id: id_regex,
                tags,
                tag_fields,
            });
        }
        let record_start = compile_pattern(&keywords.join("|"), SHIPPED_NAME, "text.*.keyword")?;
        let mut structured = Vec::new();
        for kind in [RecordKind::Task, RecordKind::Part] {
            let action_logs = self
                .structured_logs
                .get(&kind)
                .map(|s| s.value.iter().map(|l| normalise_word(l)).collect())
                .unwrap_or_default();
            let mut keys = HashMap::new();
            for ((k, field), names) in &self.keys {
                if *k == kind {
                    for key in &names.value {
                        keys.insert(key.trim().to_lowercase(), *field);
                    }
                }
            }
            if !keys.values().any(|f| *f == Field::Id) {
                return Err(RulesError::Invalid {
                    file: SHIPPED_NAME.to_string(),
                    rule: format!("structured.{}.keys.id", kind.as_str()),
                    problem: "no key names the record id",
                    fix: "list at least one key for the id",
                });
            }
            structured.push(StructuredRules { action_logs, keys });
        }
        let [task_text, part_text] =
            <[TextRecordRules; 2]>::try_from(texts).map_err(|_| RulesError::Invalid {
                file: SHIPPED_NAME.to_string(),
                rule: "text".to_string(),
                problem: "record kinds are missing",
                fix: "restore [text.task] and [text.part]",
            })?;
        let [task_structured, part_structured] = <[StructuredRules; 2]>::try_from(structured)
            .map_err(|_| RulesError::Invalid {
                file: SHIPPED_NAME.to_string(),
                rule: "structured".to_string(),
                problem: "record kinds are missing",
                fix: "restore [structured.task] and [structured.part]",
            })?;
        Ok(Rules {
            record_start,
            task_text,
            part_text,
            task_structured,
            part_structured,
            task_status: vocabulary(self.task_words, TaskStatus::ALL, TaskStatus::as_str),
            part_status: vocabulary(self.part_words, PartStatus::ALL, PartStatus::as_str),
            return_status: vocabulary(self.return_words, ReturnStatus::ALL, ReturnStatus::as_str),
            return_required: Vocabulary {
                words: self
                    .required_words
                    .into_iter()
                    .map(|(w, (c, _))| (w, c))
                    .collect(),
            },
            carriers: Vocabulary {
                words: self
                    .carrier_words
                    .into_iter()
                    .map(|(w, (c, _))| (w, c))
                    .collect(),
            },
            sources,
        })
    }

    fn required_text(
        &self,
        kind: RecordKind,
        what: &'static str,
    ) -> Result<&Sourced<String>, RulesError> {
        self.text
            .get(&(kind, what))
            .ok_or_else(|| RulesError::Invalid {
                file: SHIPPED_NAME.to_string(),
                rule: format!("text.{}.{what}", kind.as_str()),
                problem: "the pattern is missing",
                fix: "restore it from the shipped rules",
            })
    }
}

/// Every canonical name matches itself, on top of the listed words.
fn vocabulary<C: Copy>(
    words: BTreeMap<String, (C, String)>,
    all: &[C],
    name_of: fn(C) -> &'static str,
) -> Vocabulary<C> {
    let mut map: HashMap<String, C> = all
        .iter()
        .map(|c| (normalise_word(name_of(*c)), *c))
        .collect();
    map.extend(words.into_iter().map(|(w, (c, _))| (w, c)));
    Vocabulary { words: map }
}

fn compile_pattern(pattern: &str, file: &str, rule: &str) -> Result<Regex, RulesError> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| RulesError::Pattern {
            file: file.to_string(),
            rule: rule.to_string(),
            message: e.to_string(),
        })
}

/// A keyword or tag pattern, which the parser wraps in a group of its own
/// and finds by that group's number: a group inside it would shift the
/// numbering, so it is refused.
fn compile_groupless(pattern: &str, file: &str, rule: &str) -> Result<Regex, RulesError> {
    let regex = compile_pattern(pattern, file, rule)?;
    if regex.captures_len() > 1 {
        return Err(RulesError::Invalid {
            file: file.to_string(),
            rule: rule.to_string(),
            problem: "the pattern has a capture group",
            fix: "write groups as (?:...) instead of (...)",
        });
    }
    if regex.is_match("") {
        return Err(RulesError::Invalid {
            file: file.to_string(),
            rule: rule.to_string(),
            problem: "the pattern matches empty text",
            fix: "make it match the words, e.g. 'CARRIER|VIA'",
        });
    }
    Ok(regex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_error(toml: &str) -> String {
        match Rules::shipped_with(toml, "site.toml") {
            Ok(_) => panic!("site rules should be refused: {toml}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn shipped_rules_compile_and_know_the_spec_words() {
        let rules = Rules::shipped().unwrap();
        assert_eq!(
            rules.task_status.lookup("Engineer on-site"),
            Some(TaskStatus::Onsite)
        );
        assert_eq!(
            rules.task_status.lookup("WORK COMPLETE"),
            Some(TaskStatus::Complete)
        );
        assert_eq!(
            rules.task_status.lookup("canceled"),
            Some(TaskStatus::Cancelled)
        );
        assert_eq!(
            rules.part_status.lookup("back_ordered"),
            Some(PartStatus::Backordered)
        );
        assert_eq!(
            rules.part_status.lookup("BACKORDER"),
            Some(PartStatus::Backordered)
        );
        assert_eq!(rules.return_status.lookup("AWAITING PICKUP"), None);
        assert_eq!(rules.return_required.lookup("y"), Some(true));
        assert_eq!(rules.carriers.lookup("Fed Ex"), Some("FEDEX".to_string()));
        assert_eq!(rules.sources(), [SHIPPED_NAME.to_string()]);
    }

    #[test]
    fn site_words_extend_and_move() {
        let rules = Rules::shipped_with(
            "[status.part]\nshipped = [\"HANDED TO CARRIER\"]\nordered = [\"DISPATCHED\"]\n[carriers]\nPUROLATOR = []\n",
            "site.toml",
        )
        .unwrap();
        assert_eq!(
            rules.part_status.lookup("handed to carrier"),
            Some(PartStatus::Shipped)
        );
        assert_eq!(
            rules.part_status.lookup("DISPATCHED"),
            Some(PartStatus::Ordered)
        );
        assert_eq!(
            rules.part_status.lookup("SHIPPED"),
            Some(PartStatus::Shipped)
        );
        assert_eq!(
            rules.carriers.lookup("purolator"),
            Some("PUROLATOR".to_string())
        );
        assert_eq!(rules.carriers.lookup("UPS"), Some("UPS".to_string()));
        assert_eq!(rules.sources().len(), 2);
    }

    #[test]
    fn broken_site_rules_name_file_rule_and_fix() {
        assert_eq!(
            site_error("[text.part.tags]\ncarrier = 'CARRIER|(VIA'\n")
                .split(": bad pattern")
                .next()
                .unwrap(),
            "update rules site.toml, rule `text.part.tags.carrier`"
        );
        assert_eq!(
            site_error("[status.task]\narrived = [\"TECH ARRIVED\"]\n"),
            "update rules site.toml, rule `status.task.arrived`: unknown task status `arrived`; use one of: \
             scheduled, dispatched, onsite, complete, cancelled (the shipped rules are used meanwhile)"
        );
        assert_eq!(
            site_error("[text.task.tags]\nstatus = 'STATUS|(STATE)'\n"),
            "update rules site.toml, rule `text.task.tags.status`: the pattern has a capture group; write groups \
             as (?:...) instead of (...) (the shipped rules are used meanwhile)"
        );
        assert_eq!(
            site_error("[text.task.tags]\nstatus = 'X*'\n"),
            "update rules site.toml, rule `text.task.tags.status`: the pattern matches empty text; make it match \
             the words, e.g. 'CARRIER|VIA' (the shipped rules are used meanwhile)"
        );
        assert_eq!(
            site_error("[text.task.tags]\nweather = 'WX'\n"),
            "update rules site.toml, rule `text.task.tags.weather`: unknown task field `weather`; use one of: \
             status, engineer_eta, scheduled_start, description, completed (the shipped rules are used meanwhile)"
        );
        assert_eq!(
            site_error("[text.part]\nid = '[0-9]*'\n"),
            "update rules site.toml, rule `text.part.id`: the id pattern matches empty text; make it need at least \
             one character, e.g. '[A-Z0-9][A-Z0-9-]*' (the shipped rules are used meanwhile)"
        );
        assert!(
            site_error("[status.task\n").starts_with("update rules site.toml are not valid TOML: ")
        );
        assert!(site_error("colour = 1\n").contains("unknown field `colour`"));
    }

    #[test]
    fn load_with_override_keeps_shipped_rules_on_error() {
        let dir = std::env::temp_dir().join(format!("casebridge-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("absent.toml");
        let (rules, error) = Rules::load_with_override(Some(&missing)).unwrap();
        assert!(error.is_none());
        assert_eq!(rules.sources().len(), 1);

        let broken = dir.join("broken.toml");
        std::fs::write(&broken, "[status.part]\nlost = [\"GONE\"]\n").unwrap();
        let (rules, error) = Rules::load_with_override(Some(&broken)).unwrap();
        let message = error.unwrap().to_string();
        assert!(message.contains(&broken.display().to_string()), "{message}");
        assert!(message.contains("rule `status.part.lost`"), "{message}");
        assert_eq!(rules.sources(), [SHIPPED_NAME.to_string()]);
        assert_eq!(
            rules.part_status.lookup("SHIPPED"),
            Some(PartStatus::Shipped)
        );

        let good = dir.join("good.toml");
        std::fs::write(&good, "[status.part]\nshipped = [\"GONE\"]\n").unwrap();
        let (rules, error) = Rules::load_with_override(Some(&good)).unwrap();
        assert!(error.is_none());
        assert_eq!(rules.part_status.lookup("gone"), Some(PartStatus::Shipped));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
