//! What the agent asks a person (`elicitation/create` in form mode) as ao's questions, and a
//! person's answers (`ao answer`) as the form's typed content.
//!
//! Each field of the form (a property of its `requestedSchema`) is one ao question, in the order
//! of the fields' names (the protocol's schema keeps its properties as a map by name). A choice
//! offers its values as options (a boolean: `true`, `false`); anything else is free text. The
//! answers are checked against the form before anything is sent: their count, a choice's
//! membership, a number's or a boolean's parsing, the form's bounds; what is wrong is said with
//! what is allowed.

use std::collections::BTreeMap;

use agent_client_protocol::v1::schema::{
    ElicitationContentValue, ElicitationPropertySchema, ElicitationSchema, MultiSelectItems,
    StringPropertySchema,
};
use ao_agent::session::PendingQuestion;

/// One choice a field offers: its value (what is sent) and its label, when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// What the agent gets.
    pub value: String,
    /// Its label for people, when it has one (an answer may name it too).
    pub title: Option<String>,
}

/// What kind of answer a field takes, and its bounds.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// Free text, of at least / at most so many characters.
    Text {
        /// The fewest characters.
        min_length: Option<u32>,
        /// The most characters.
        max_length: Option<u32>,
    },
    /// One of these.
    Choice(Vec<Choice>),
    /// Some of these, comma-separated.
    Choices {
        /// What it offers.
        offered: Vec<Choice>,
        /// The fewest to pick.
        min_items: Option<u64>,
        /// The most to pick.
        max_items: Option<u64>,
    },
    /// A number (a whole one when `integer`), within the bounds given.
    Number {
        /// Whether only whole numbers will do.
        integer: bool,
        /// The least.
        minimum: Option<f64>,
        /// The most.
        maximum: Option<f64>,
    },
    /// Yes or no.
    Boolean,
}

/// One field of a form: one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The property's name (the content's key).
    pub name: String,
    /// The question, for people.
    pub question: String,
    /// Whether the form requires it (an optional one may be answered with nothing).
    pub required: bool,
    /// What it takes.
    pub kind: FieldKind,
}

/// The fields of a form, in the order of their names. `Err`: why ao cannot ask it (a required
/// field of a kind this ao does not know); an optional one of such a kind is left out.
pub fn fields(schema: &ElicitationSchema) -> Result<Vec<Field>, String> {
    let required = schema.required.clone().unwrap_or_default();
    let mut fields = Vec::new();
    for (name, property) in &schema.properties {
        let is_required = required.iter().any(|r| r == name);
        let (title, description, kind) = match property {
            ElicitationPropertySchema::String(s) => {
                (s.title.clone(), s.description.clone(), string_kind(s))
            }
            ElicitationPropertySchema::Number(n) => (
                n.title.clone(),
                n.description.clone(),
                FieldKind::Number {
                    integer: false,
                    minimum: n.minimum,
                    maximum: n.maximum,
                },
            ),
            ElicitationPropertySchema::Integer(n) => (
                n.title.clone(),
                n.description.clone(),
                FieldKind::Number {
                    integer: true,
                    // Bounds this far out are beyond any answer a person types.
                    minimum: n.minimum.map(|m| m as f64),
                    maximum: n.maximum.map(|m| m as f64),
                },
            ),
            ElicitationPropertySchema::Boolean(b) => {
                (b.title.clone(), b.description.clone(), FieldKind::Boolean)
            }
            ElicitationPropertySchema::Array(a) => {
                let offered = match &a.items {
                    MultiSelectItems::String(items) => items
                        .values
                        .iter()
                        .map(|v| Choice {
                            value: v.clone(),
                            title: None,
                        })
                        .collect(),
                    MultiSelectItems::Titled(items) => items
                        .options
                        .iter()
                        .map(|o| Choice {
                            value: o.value.clone(),
                            title: Some(o.title.clone()),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                if offered.is_empty() {
                    unknown(
                        name,
                        "a list of items of a kind it does not know",
                        is_required,
                    )?;
                    continue;
                }
                (
                    a.title.clone(),
                    a.description.clone(),
                    FieldKind::Choices {
                        offered,
                        min_items: a.min_items,
                        max_items: a.max_items,
                    },
                )
            }
            other => {
                let kind = serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| "unknown".into());
                unknown(name, &format!("of type `{kind}`"), is_required)?;
                continue;
            }
        };
        let question = title
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| name.clone());
        let question = match description.filter(|d| !d.trim().is_empty()) {
            Some(d) if d != question => format!("{question} ({d})"),
            _ => question,
        };
        fields.push(Field {
            name: name.clone(),
            question,
            required: is_required,
            kind,
        });
    }
    Ok(fields)
}

/// A field ao cannot ask: an error when the form requires it.
fn unknown(name: &str, what: &str, required: bool) -> Result<(), String> {
    if required {
        Err(format!(
            "the form's required field `{name}` is {what}, which ao cannot ask"
        ))
    } else {
        Ok(())
    }
}

fn string_kind(s: &StringPropertySchema) -> FieldKind {
    if let Some(one_of) = s.one_of.as_ref().filter(|o| !o.is_empty()) {
        return FieldKind::Choice(
            one_of
                .iter()
                .map(|o| Choice {
                    value: o.value.clone(),
                    title: Some(o.title.clone()),
                })
                .collect(),
        );
    }
    if let Some(values) = s.enum_values.as_ref().filter(|v| !v.is_empty()) {
        return FieldKind::Choice(
            values
                .iter()
                .map(|v| Choice {
                    value: v.clone(),
                    title: None,
                })
                .collect(),
        );
    }
    FieldKind::Text {
        min_length: s.min_length,
        max_length: s.max_length,
    }
}

/// A field as ao's question: its options are what an answer names (free text: none).
pub fn question(field: &Field) -> PendingQuestion {
    let options = match &field.kind {
        FieldKind::Choice(choices)
        | FieldKind::Choices {
            offered: choices, ..
        } => choices.iter().map(|c| c.value.clone()).collect(),
        FieldKind::Boolean => vec!["true".into(), "false".into()],
        FieldKind::Text { .. } | FieldKind::Number { .. } => Vec::new(),
    };
    PendingQuestion {
        question: field.question.clone(),
        options,
    }
}

/// What a field takes, for people: `one of red, blue`, `a whole number from 1 to 5`, ...
pub fn allowed(field: &Field) -> String {
    let values = |choices: &[Choice]| {
        choices
            .iter()
            .map(|c| match &c.title {
                Some(t) if *t != c.value => format!("{} ({t})", c.value),
                _ => c.value.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = match &field.kind {
        FieldKind::Text {
            min_length,
            max_length,
        } => match (min_length, max_length) {
            (None, None) => "free text".to_string(),
            (Some(min), None) => format!("free text of at least {min} characters"),
            (None, Some(max)) => format!("free text of at most {max} characters"),
            (Some(min), Some(max)) => format!("free text of {min} to {max} characters"),
        },
        FieldKind::Choice(choices) => format!("one of {}", values(choices)),
        FieldKind::Choices { offered, .. } => {
            format!("some of {}, comma-separated", values(offered))
        }
        FieldKind::Number {
            integer,
            minimum,
            maximum,
        } => {
            let noun = if *integer {
                "a whole number"
            } else {
                "a number"
            };
            match (minimum, maximum) {
                (None, None) => noun.to_string(),
                (Some(min), None) => format!("{noun} of at least {min}"),
                (None, Some(max)) => format!("{noun} of at most {max}"),
                (Some(min), Some(max)) => format!("{noun} from {min} to {max}"),
            }
        }
        FieldKind::Boolean => "true or false".to_string(),
    };
    if !field.required {
        text.push_str(", or empty to leave it out");
    }
    text
}

/// The form's content from one answer per field, in order. `Err`: what is wrong, and what is
/// allowed.
pub fn content(
    fields: &[Field],
    answers: &[String],
) -> Result<BTreeMap<String, ElicitationContentValue>, String> {
    if answers.len() != fields.len() {
        let list: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| format!("  {}. {}: {}", i + 1, f.question, allowed(f)))
            .collect();
        return Err(format!(
            "the agent asks {} question(s) and got {} answer(s); give one answer each, in order:\n{}",
            fields.len(),
            answers.len(),
            list.join("\n")
        ));
    }
    let mut content = BTreeMap::new();
    for (i, (field, answer)) in fields.iter().zip(answers).enumerate() {
        let wrong = |what: String| {
            format!(
                "answer {} ({}): {what}; it takes {}",
                i + 1,
                field.question,
                allowed(field)
            )
        };
        let answer = answer.trim();
        if answer.is_empty() && !matches!(field.kind, FieldKind::Text { .. }) {
            if field.required {
                return Err(wrong("it needs an answer".into()));
            }
            continue;
        }
        if answer.is_empty() && !field.required {
            continue;
        }
        let value = value(&field.kind, answer).map_err(wrong)?;
        content.insert(field.name.clone(), value);
    }
    Ok(content)
}

/// One answer as a field's value.
fn value(kind: &FieldKind, answer: &str) -> Result<ElicitationContentValue, String> {
    match kind {
        FieldKind::Text {
            min_length,
            max_length,
        } => {
            let chars = answer.chars().count();
            if min_length.is_some_and(|min| chars < min as usize)
                || max_length.is_some_and(|max| chars > max as usize)
            {
                return Err(format!("it is {chars} characters long"));
            }
            Ok(ElicitationContentValue::String(answer.to_string()))
        }
        FieldKind::Choice(choices) => pick(choices, answer).map(ElicitationContentValue::String),
        FieldKind::Choices {
            offered,
            min_items,
            max_items,
        } => {
            let picked = answer
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| pick(offered, a))
                .collect::<Result<Vec<_>, _>>()?;
            let n = picked.len() as u64;
            if min_items.is_some_and(|min| n < min) || max_items.is_some_and(|max| n > max) {
                let bounds = match (min_items, max_items) {
                    (Some(min), Some(max)) => format!("{min} to {max}"),
                    (Some(min), None) => format!("at least {min}"),
                    (None, Some(max)) => format!("at most {max}"),
                    (None, None) => String::new(),
                };
                return Err(format!("it picks {n}, and {bounds} are wanted"));
            }
            Ok(ElicitationContentValue::StringArray(picked))
        }
        FieldKind::Number {
            integer,
            minimum,
            maximum,
        } => {
            let (value, number) = if *integer {
                let n: i64 = answer
                    .parse()
                    .map_err(|_| format!("`{answer}` is not a whole number"))?;
                (ElicitationContentValue::Integer(n), n as f64)
            } else {
                let n: f64 = answer
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| format!("`{answer}` is not a number"))?;
                (ElicitationContentValue::Number(n), n)
            };
            if minimum.is_some_and(|min| number < min) || maximum.is_some_and(|max| number > max) {
                return Err(format!("{answer} is out of range"));
            }
            Ok(value)
        }
        FieldKind::Boolean => match answer.to_lowercase().as_str() {
            "true" | "yes" | "y" => Ok(ElicitationContentValue::Boolean(true)),
            "false" | "no" | "n" => Ok(ElicitationContentValue::Boolean(false)),
            _ => Err(format!("`{answer}` is not true or false")),
        },
    }
}

/// The value of the choice an answer names: by its value, else by its label.
fn pick(choices: &[Choice], answer: &str) -> Result<String, String> {
    choices
        .iter()
        .find(|c| c.value == answer)
        .or_else(|| choices.iter().find(|c| c.title.as_deref() == Some(answer)))
        .map(|c| c.value.clone())
        .ok_or_else(|| format!("`{answer}` is not an option"))
}

/// The content in one line, for the conversation: `color: blue, note: "in a hurry"`.
pub fn summary(content: &BTreeMap<String, ElicitationContentValue>) -> String {
    if content.is_empty() {
        return "(nothing)".into();
    }
    content
        .iter()
        .map(|(k, v)| {
            let v = serde_json::to_string(v).unwrap_or_default();
            format!("{k}: {v}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(value: serde_json::Value) -> ElicitationSchema {
        serde_json::from_value(value).unwrap()
    }

    /// A form of every kind of field, as an agent would send it.
    fn every_kind() -> Vec<Field> {
        fields(&schema(json!({
            "type": "object",
            "properties": {
                "color": {"type": "string", "title": "Colour", "enum": ["red", "blue"]},
                "size": {"type": "string", "oneOf": [
                    {"const": "s", "title": "Small"}, {"const": "l", "title": "Large"}]},
                "count": {"type": "integer", "minimum": 1, "maximum": 5},
                "ratio": {"type": "number", "description": "between 0 and 1",
                          "minimum": 0.0, "maximum": 1.0},
                "ok": {"type": "boolean", "title": "Go ahead?"},
                "note": {"type": "string", "maxLength": 5},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]},
                         "maxItems": 2}
            },
            "required": ["color", "size", "count", "ratio", "ok", "tags"]
        })))
        .unwrap()
    }

    #[test]
    fn each_field_is_a_question_in_the_order_of_the_names() {
        let fields = every_kind();
        let asked: Vec<PendingQuestion> = fields.iter().map(question).collect();
        let q = |question: &str, options: &[&str]| PendingQuestion {
            question: question.into(),
            options: options.iter().map(|o| o.to_string()).collect(),
        };
        assert_eq!(
            asked,
            vec![
                q("Colour", &["red", "blue"]),
                q("count", &[]),
                q("note", &[]),
                q("Go ahead?", &["true", "false"]),
                q("ratio (between 0 and 1)", &[]),
                q("size", &["s", "l"]),
                q("tags", &["a", "b", "c"]),
            ]
        );
        assert!(!fields[2].required);
        assert_eq!(allowed(&fields[1]), "a whole number from 1 to 5");
        assert_eq!(allowed(&fields[5]), "one of s (Small), l (Large)");
        assert_eq!(
            allowed(&fields[2]),
            "free text of at most 5 characters, or empty to leave it out"
        );
    }

    #[test]
    fn answers_become_typed_content() {
        let fields = every_kind();
        let answers: Vec<String> = ["blue", "3", "hi", "yes", "0.5", "Large", "a, c"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        let content = content(&fields, &answers).unwrap();
        assert_eq!(
            serde_json::to_value(&content).unwrap(),
            json!({"color": "blue", "count": 3, "note": "hi", "ok": true, "ratio": 0.5,
                   "size": "l", "tags": ["a", "c"]})
        );
        // An optional field answered with nothing is left out.
        let mut answers = answers;
        answers[2] = String::new();
        let content = super::content(&fields, &answers).unwrap();
        assert!(!content.contains_key("note"));
        assert_eq!(
            summary(&content),
            "color: \"blue\", count: 3, ok: true, ratio: 0.5, size: \"l\", tags: [\"a\",\"c\"]"
        );
    }

    #[test]
    fn each_wrong_answer_says_what_is_wrong_and_what_is_allowed() {
        let fields = every_kind();
        let good = ["blue", "3", "hi", "no", "0.5", "s", "a"];
        let with = |i: usize, answer: &str| {
            let mut answers: Vec<String> = good.iter().map(|a| a.to_string()).collect();
            answers[i] = answer.to_string();
            content(&fields, &answers).unwrap_err()
        };
        assert_eq!(
            with(0, "purple"),
            "answer 1 (Colour): `purple` is not an option; it takes one of red, blue"
        );
        assert_eq!(
            with(1, "2.5"),
            "answer 2 (count): `2.5` is not a whole number; it takes a whole number from 1 to 5"
        );
        assert_eq!(
            with(1, "9"),
            "answer 2 (count): 9 is out of range; it takes a whole number from 1 to 5"
        );
        assert!(with(2, "too long").contains("it is 8 characters long"));
        assert_eq!(
            with(3, "maybe"),
            "answer 4 (Go ahead?): `maybe` is not true or false; it takes true or false"
        );
        assert!(with(4, "lots").contains("`lots` is not a number; it takes a number from 0 to 1"));
        assert!(with(4, "NaN").contains("is not a number"));
        assert!(with(4, "1.5").contains("1.5 is out of range"));
        assert!(with(5, "medium").contains("it takes one of s (Small), l (Large)"));
        assert!(with(6, "a,b,c").contains("it picks 3, and at most 2 are wanted"));
        assert!(with(6, "a,z").contains("`z` is not an option"));
        assert!(with(0, " ").contains("it needs an answer"));
        let few = content(&fields, &["blue".to_string()]).unwrap_err();
        assert!(
            few.starts_with("the agent asks 7 question(s) and got 1 answer(s); give one answer each, in order:\n  1. Colour: one of red, blue\n"),
            "{few}"
        );
    }

    #[test]
    fn a_field_ao_cannot_ask_is_left_out_unless_required() {
        let optional = fields(&schema(json!({
            "properties": {
                "color": {"type": "string"},
                "odd": {"type": "matrix", "rows": 2}
            }
        })))
        .unwrap();
        assert_eq!(optional.len(), 1);
        assert_eq!(
            optional[0].kind,
            FieldKind::Text {
                min_length: None,
                max_length: None
            }
        );
        let required = fields(&schema(json!({
            "properties": {"odd": {"type": "matrix"}},
            "required": ["odd"]
        })))
        .unwrap_err();
        assert_eq!(
            required,
            "the form's required field `odd` is of type `matrix`, which ao cannot ask"
        );
    }
}
