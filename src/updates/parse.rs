//! The parser: one message's `ActionLog`, name/value pairs and `Comment` in,
//! records and the human remainder out. Pure: no store, no clock.

use super::date::UpdateDate;
use super::model::{
    Field, NotUnderstood, NotUnderstoodReason, Origin, Parsed, PartUpdate, RecordKind, TaskUpdate,
    Word,
};
use super::rules::{Rules, TextRecordRules, normalise_word};

/// The parts of an inbound message the parser reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpdateInput<'a> {
    /// `ACTIVITY.ActionLog`.
    pub action_log: Option<&'a str>,
    /// `ACTIVITY.NameValuePairList`, in message order.
    pub pairs: &'a [(String, String)],
    /// `SERVICE_INCIDENT.Comment`.
    pub comment: Option<&'a str>,
}

/// Parses one message. Never fails: what is not understood is reported in
/// [`Parsed::not_understood`] and kept as note text.
pub fn parse_update(input: &UpdateInput<'_>, rules: &Rules) -> Parsed {
    let mut parsed = Parsed::default();
    if let Some(comment) = input.comment {
        parse_comment(comment, rules, &mut parsed);
    }
    for kind in [RecordKind::Task, RecordKind::Part] {
        parse_structured(kind, input, rules, &mut parsed);
    }
    parsed
}

// ---- structured form ---------------------------------------------------------

fn parse_structured(kind: RecordKind, input: &UpdateInput<'_>, rules: &Rules, parsed: &mut Parsed) {
    let structured = rules.structured(kind);
    let announced = input
        .action_log
        .is_some_and(|log| structured.action_logs.contains(&normalise_word(log)));
    let matched: Vec<(Field, &(String, String))> = input
        .pairs
        .iter()
        .filter_map(|pair| {
            structured
                .keys
                .get(&pair.0.trim().to_lowercase())
                .map(|f| (*f, pair))
        })
        .collect();
    if matched.is_empty() && !announced {
        return;
    }
    let raw = matched
        .iter()
        .map(|(_, (k, v))| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let id = matched
        .iter()
        .rev()
        .find(|(f, (_, v))| *f == Field::Id && !v.trim().is_empty())
        .map(|(_, (_, v))| v.trim());
    let Some(id) = id else {
        let text_has_one = match kind {
            RecordKind::Task => !parsed.tasks.is_empty(),
            RecordKind::Part => !parsed.parts.is_empty(),
        };
        // An update ActionLog over a comment that carries the record lines
        // is the text form, announced: nothing is missing.
        if matched.is_empty() && text_has_one {
            return;
        }
        let log = input.action_log.map(|l| format!("ActionLog={l}"));
        let text = log
            .into_iter()
            .chain((!raw.is_empty()).then_some(raw))
            .collect::<Vec<_>>()
            .join("\n");
        parsed.not_understood.push(NotUnderstood {
            text,
            reason: NotUnderstoodReason::MissingId { kind },
            origin: Origin::Structured,
        });
        return;
    };
    let fields: Vec<(Field, &str)> = matched
        .iter()
        .filter(|(f, _)| *f != Field::Id)
        .map(|(f, (_, v))| (*f, v.as_str()))
        .collect();
    push_record(kind, id, &fields, Origin::Structured, raw, rules, parsed);
}

// ---- text form ---------------------------------------------------------------

fn parse_comment(comment: &str, rules: &Rules, parsed: &mut Parsed) {
    let mut line_start = 0;
    for line in comment.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        parse_line(
            comment,
            line_start,
            content.len(),
            line.len(),
            rules,
            parsed,
        );
        line_start += line.len();
    }
}

/// One record candidate in a line: where its keyword starts and ends.
struct Start {
    kind: RecordKind,
    at: usize,
    keyword_end: usize,
}

/// Parses the line `comment[line_start..line_start + line_len]`, whose text
/// without its line ending is `content_len` bytes long.
fn parse_line(
    comment: &str,
    line_start: usize,
    content_len: usize,
    line_len: usize,
    rules: &Rules,
    parsed: &mut Parsed,
) {
    let content = &comment[line_start..line_start + content_len];
    let starts = record_starts(content, rules);
    let first_word = content.len() - content.trim_start().len();
    if starts.first().is_none_or(|s| s.at != first_word) {
        parsed
            .remainder
            .push_str(&comment[line_start..line_start + line_len]);
        return;
    }

    // Walk right to left so each keyword's record ends where the next
    // accepted one starts. A keyword after the first starts a record only if
    // what follows reads as one: otherwise it is words inside a value
    // ("replace the part order tray").
    let mut segments: Vec<(usize, Result<Record, NotUnderstoodReason>, usize)> = Vec::new();
    let mut end = content.len();
    for (i, start) in starts.iter().enumerate().rev() {
        let result = read_record(start, &content[..end], rules);
        if i == 0 || result.is_ok() {
            segments.push((start.at, result, end));
            end = start.at;
        }
    }
    segments.reverse();

    // The first record's span takes the line's leading spaces, the last the
    // line ending, so that spans and remainder tile the comment.
    let count = segments.len();
    for (index, (at, result, seg_end)) in segments.into_iter().enumerate() {
        let from = line_start + if index == 0 { 0 } else { at };
        let to = line_start
            + if index + 1 == count {
                line_len
            } else {
                seg_end
            };
        let span = from..to;
        let text = &comment[span.clone()];
        match result {
            Ok(record) => push_record(
                record.kind,
                &record.id,
                &record
                    .fields
                    .iter()
                    .map(|(f, v)| (*f, v.as_str()))
                    .collect::<Vec<_>>(),
                Origin::Text { span },
                text.to_string(),
                rules,
                parsed,
            ),
            Err(reason) => {
                parsed.remainder.push_str(text);
                parsed.not_understood.push(NotUnderstood {
                    text: text.trim_end_matches(['\n', '\r']).to_string(),
                    reason,
                    origin: Origin::Text { span },
                });
            }
        }
    }
}

/// Record keywords in a line, at word boundaries and outside parentheses.
fn record_starts(content: &str, rules: &Rules) -> Vec<Start> {
    let mut starts = Vec::new();
    let mut depth = ParenDepth::default();
    let mut from = 0;
    while let Some(caps) = rules.record_start.captures_at(content, from) {
        let Some(whole) = caps.get(0) else { break };
        from = next_char(content, whole.start());
        let kind = if caps.get(1).is_some() {
            RecordKind::Task
        } else {
            RecordKind::Part
        };
        if at_word_start(content, whole.start())
            && at_word_end(content, whole.end())
            && depth.at(content, whole.start()) == 0
        {
            starts.push(Start {
                kind,
                at: whole.start(),
                keyword_end: whole.end(),
            });
            from = whole.end();
        }
    }
    starts
}

struct Record {
    kind: RecordKind,
    id: String,
    fields: Vec<(Field, String)>,
}

/// Reads the record whose keyword is `start` and whose text ends at the end
/// of `text`.
fn read_record(start: &Start, text: &str, rules: &Rules) -> Result<Record, NotUnderstoodReason> {
    let kind = start.kind;
    let record_rules = rules.text(kind);
    let after_keyword = skip(text, start.keyword_end, |c| {
        c.is_whitespace() || matches!(c, ':' | '#' | '=')
    });
    let tags = find_tags(record_rules, text, after_keyword);
    if tags.first().is_some_and(|t| t.at == after_keyword) {
        return Err(NotUnderstoodReason::MissingId { kind });
    }
    let id_match = record_rules
        .id
        .find(&text[after_keyword..])
        .map(|m| text[after_keyword..after_keyword + m.end()].trim_end_matches(['.', '-', '/']))
        .filter(|id| !id.is_empty());
    let Some(id) = id_match else {
        return Err(NotUnderstoodReason::MissingId { kind });
    };
    let id_end = after_keyword + id.len();
    let tags: Vec<Tag> = tags.into_iter().filter(|t| t.at >= id_end).collect();
    let Some(first) = tags.first() else {
        return Err(NotUnderstoodReason::NoTags {
            kind,
            id: id.to_string(),
        });
    };
    let between =
        text[id_end..first.at].trim_matches(|c: char| c.is_whitespace() || ",;:|.-".contains(c));
    if !between.is_empty() {
        return Err(NotUnderstoodReason::UnexpectedText {
            kind,
            id: id.to_string(),
            text: between.to_string(),
        });
    }
    let tags = absorb_tags_in_words(kind, tags, text, rules);
    let mut fields = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let value_end = tags.get(i + 1).map_or(text.len(), |next| next.at);
        let value_start = value_start(text, tag.end, value_end);
        let value = trim_value(&text[value_start..value_end]).to_string();
        if tag.field == Field::PartNumber {
            let (number, description) = split_part_number(&value);
            fields.push((Field::PartNumber, number));
            if let Some(description) = description {
                fields.push((Field::Description, description));
            }
        } else {
            fields.push((tag.field, value));
        }
    }
    Ok(Record {
        kind,
        id: id.to_string(),
        fields,
    })
}

/// A status word may contain a tag word ("HANDED TO CARRIER"): when the
/// value read up to or through the next tag is a word the rules know, that
/// tag is part of the value, not a tag.
fn absorb_tags_in_words(
    kind: RecordKind,
    mut tags: Vec<Tag>,
    text: &str,
    rules: &Rules,
) -> Vec<Tag> {
    let knows = |field: Field, word: &str| match (kind, field) {
        (RecordKind::Task, Field::Status) => rules.task_status.lookup(word).is_some(),
        (RecordKind::Part, Field::Status) => rules.part_status.lookup(word).is_some(),
        (RecordKind::Part, Field::ReturnStatus) => rules.return_status.lookup(word).is_some(),
        (RecordKind::Part, Field::Carrier) => rules.carriers.lookup(word).is_some(),
        _ => false,
    };
    let mut i = 0;
    while i < tags.len() {
        while let Some(next) = tags.get(i + 1) {
            let start = value_start(text, tags[i].end, next.at);
            let through = tags.get(i + 2).map_or(text.len(), |after| after.at);
            if knows(tags[i].field, &text[start..next.end])
                || knows(tags[i].field, trim_value(&text[start..through]))
            {
                tags.remove(i + 1);
            } else {
                break;
            }
        }
        i += 1;
    }
    tags
}

fn trim_value(value: &str) -> &str {
    value.trim_end_matches(|c: char| c.is_whitespace() || ",;|".contains(c))
}

struct Tag {
    field: Field,
    at: usize,
    end: usize,
}

/// Tags at word boundaries, outside parentheses, from `from` on.
fn find_tags(rules: &TextRecordRules, text: &str, from: usize) -> Vec<Tag> {
    let mut tags = Vec::new();
    let mut depth = ParenDepth::default();
    let mut pos = from;
    while let Some(caps) = rules.tags.captures_at(text, pos) {
        let Some(whole) = caps.get(0) else { break };
        pos = next_char(text, whole.start());
        let group = (1..caps.len()).find(|g| caps.get(*g).is_some());
        let Some(field) = group.and_then(|g| rules.tag_fields.get(g - 1)) else {
            continue;
        };
        if at_word_start(text, whole.start())
            && at_word_end(text, whole.end())
            && depth.at(text, whole.start()) == 0
        {
            tags.push(Tag {
                field: *field,
                at: whole.start(),
                end: whole.end(),
            });
            pos = whole.end();
        }
        if pos >= text.len() {
            break;
        }
    }
    tags
}

/// After a tag: spaces, one optional `:` or `=`, spaces.
fn value_start(text: &str, tag_end: usize, limit: usize) -> usize {
    let mut at = skip(text, tag_end, char::is_whitespace);
    if at < limit && matches!(text[at..].chars().next(), Some(':' | '=')) {
        at = skip(text, at + 1, char::is_whitespace);
    }
    at.min(limit)
}

/// `P05591-001 (HDR200 NIC)` → number and description.
fn split_part_number(value: &str) -> (String, Option<String>) {
    match (value.find('('), value.rfind(')')) {
        (Some(open), Some(close)) if close > open => {
            let number = value[..open].trim().to_string();
            let description = value[open + 1..close].trim().to_string();
            (number, (!description.is_empty()).then_some(description))
        }
        _ => (value.to_string(), None),
    }
}

fn skip(text: &str, from: usize, mut what: impl FnMut(char) -> bool) -> usize {
    text[from..]
        .char_indices()
        .find(|(_, c)| !what(*c))
        .map_or(text.len(), |(i, _)| from + i)
}

fn next_char(text: &str, at: usize) -> usize {
    text[at..]
        .chars()
        .next()
        .map_or(text.len(), |c| at + c.len_utf8())
}

fn at_word_start(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric())
}

fn at_word_end(text: &str, at: usize) -> bool {
    text[at..]
        .chars()
        .next()
        .is_none_or(|c| !c.is_alphanumeric())
}

/// Parenthesis depth at increasing positions of one text, counted once.
#[derive(Default)]
struct ParenDepth {
    scanned: usize,
    depth: usize,
}

impl ParenDepth {
    fn at(&mut self, text: &str, pos: usize) -> usize {
        if pos > self.scanned {
            for c in text[self.scanned..pos].chars() {
                match c {
                    '(' => self.depth += 1,
                    ')' => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
            }
            self.scanned = pos;
        }
        self.depth
    }
}

// ---- values ------------------------------------------------------------------

fn push_record(
    kind: RecordKind,
    id: &str,
    fields: &[(Field, &str)],
    origin: Origin,
    raw: String,
    rules: &Rules,
    parsed: &mut Parsed,
) {
    let mut warnings = Vec::new();
    let text = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let date = |v: &str| text(v).map(|v| UpdateDate::parse(&v));
    match kind {
        RecordKind::Task => {
            let mut task = TaskUpdate {
                task_id: record_id(id),
                status: None,
                scheduled_start: None,
                engineer_eta: None,
                description: None,
                completed: None,
                origin,
                raw,
                warnings: Vec::new(),
            };
            for (field, value) in fields {
                match field {
                    Field::Status => {
                        if let Some(v) = text(value) {
                            task.status = Some(Word {
                                canonical: rules.task_status.lookup(&v),
                                raw: v,
                            });
                        }
                    }
                    Field::ScheduledStart => set(&mut task.scheduled_start, date(value)),
                    Field::EngineerEta => set(&mut task.engineer_eta, date(value)),
                    Field::Description => set(&mut task.description, text(value)),
                    Field::Completed => set(&mut task.completed, date(value)),
                    _ => {}
                }
            }
            task.warnings = warnings;
            parsed.tasks.push(task);
        }
        RecordKind::Part => {
            let mut part = PartUpdate {
                order_id: record_id(id),
                part_number: None,
                description: None,
                quantity: None,
                status: None,
                carrier: None,
                tracking: None,
                eta: None,
                return_required: None,
                return_status: None,
                origin,
                raw,
                warnings: Vec::new(),
            };
            for (field, value) in fields {
                match field {
                    Field::PartNumber => set(&mut part.part_number, text(value)),
                    Field::Description => set(&mut part.description, text(value)),
                    Field::Quantity => {
                        if let Some(v) = text(value) {
                            match v.parse::<u32>() {
                                Ok(q) if v.chars().all(|c| c.is_ascii_digit()) => {
                                    part.quantity = Some(q)
                                }
                                _ => warnings.push(format!("quantity `{v}` is not a whole number")),
                            }
                        }
                    }
                    Field::Status => {
                        if let Some(v) = text(value) {
                            part.status = Some(Word {
                                canonical: rules.part_status.lookup(&v),
                                raw: v,
                            });
                        }
                    }
                    Field::Carrier => {
                        if let Some(v) = text(value) {
                            part.carrier = Some(Word {
                                canonical: rules.carriers.lookup(&v),
                                raw: v,
                            });
                        }
                    }
                    Field::Tracking => set(&mut part.tracking, text(value)),
                    Field::Eta => set(&mut part.eta, date(value)),
                    Field::ReturnRequired => {
                        // A bare `RETURN REQUIRED` says yes.
                        let v = text(value).unwrap_or_else(|| "Y".to_string());
                        match rules.return_required.lookup(&v) {
                            Some(flag) => part.return_required = Some(flag),
                            None => warnings
                                .push(format!("return required `{v}` is neither yes nor no")),
                        }
                    }
                    Field::ReturnStatus => {
                        // A bare `RETURNED` says the part went back.
                        let v = text(value).unwrap_or_else(|| "RETURNED".to_string());
                        part.return_status = Some(Word {
                            canonical: rules.return_status.lookup(&v),
                            raw: v,
                        });
                    }
                    _ => {}
                }
            }
            part.warnings = warnings;
            parsed.parts.push(part);
        }
    }
}

/// HPE's ids are matched whatever the case they were written in, so one
/// task written `wo-4417` and `WO-4417` is one record.
fn record_id(id: &str) -> String {
    id.trim().to_uppercase()
}

/// A later value of the same field in one update wins; an absent one
/// leaves what was there.
fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}
