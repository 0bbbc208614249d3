//! What the host reads of Claude Code that its ACP adapter says only in `_meta`: the model a
//! turn ran on.
//!
//! claude-agent-acp (measured 0.101.0) names its `model` config option's value, `default` unless a
//! project chose one, and the model behind it only in each `usage_update`'s
//! `_meta["_claude/model"]` (`claude-opus-5-5`). ao shows the latter, the model Claude ran and
//! priced the turn on.

use agent_client_protocol::v1::schema::Meta;

/// The key of `usage_update._meta` that names the model.
const MODEL_KEY: &str = "_claude/model";

/// The model a `usage_update`'s `_meta` names, when it names one.
pub fn model_of(meta: Option<&Meta>) -> Option<&str> {
    meta?
        .get(MODEL_KEY)?
        .as_str()
        .filter(|model| !model.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(value: serde_json::Value) -> Meta {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn the_model_is_claude_s_own_key_when_it_has_words() {
        let named = meta(json!({"_claude/model": "claude-opus-5-5", "other": 1}));
        assert_eq!(model_of(Some(&named)), Some("claude-opus-5-5"));
        for unnamed in [
            json!({}),
            json!({"_claude/model": ""}),
            json!({"_claude/model": 3}),
        ] {
            assert_eq!(model_of(Some(&meta(unnamed))), None);
        }
        assert_eq!(model_of(None), None);
    }

    #[test]
    fn a_usage_update_shows_the_model_claude_ran_on() {
        let mut record = crate::record::HostRecord {
            model: Some("default".into()),
            ..Default::default()
        };
        let mut fold = |value: serde_json::Value| {
            let update = serde_json::from_value(value).expect("a session update");
            super::super::fold::update(
                &update,
                &mut record,
                &mut super::super::fold::TurnIds::new(1),
                &mut false,
                1,
            )
        };
        let folded = fold(
            json!({"sessionUpdate": "usage_update", "used": 107, "size": 1000000,
            "_meta": {"_claude/model": "claude-opus-5-5"}}),
        );
        assert!(folded.shown);
        let folded = fold(
            json!({"sessionUpdate": "usage_update", "used": 117, "size": 1000000,
            "cost": {"amount": 0.0022, "currency": "USD"}, "_meta": {"_claude/model": "claude-opus-5-5"}}),
        );
        assert!(folded.shown, "the cost changed");
        let folded = fold(json!({"sessionUpdate": "usage_update", "used": 120, "size": 1000000}));
        assert!(!folded.shown);
        assert_eq!(record.model.as_deref(), Some("claude-opus-5-5"));
        assert_eq!(record.cost_usd, Some(0.0022));
    }
}
