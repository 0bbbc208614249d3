//! The reading of `notifyDebounceMs`, `notifications` (top level and per project) and `budget`
//! (per project or in `defaults`): here rather than in `reader`, each problem at its place in the
//! file.

use super::fields::Fields;
use super::notify::{Budget, Notifier, NotifierAction, DEFAULT_NOTIFIER_TIMEOUT_MS, NOTIFY_EVENTS};
use super::reader::Reader;
use super::yaml::{Kind, Node, Pos, Scalar};
use crate::trust::Gated;

const NOTIFIER_KEYS: &[&str] = &["on", "command", "webhook", "desktop", "timeoutMs"];
const BUDGET_KEYS: &[&str] = &["sessionUsd", "projectUsd"];

impl Reader<'_> {
    /// `notifyDebounceMs`: a whole number of milliseconds, 0 or more.
    pub(super) fn debounce(&mut self, node: &Node) -> Option<u64> {
        match node.scalar() {
            Some(Scalar::Int(ms)) if ms >= 0 => Some(ms as u64),
            _ => {
                self.problem(
                    node.pos,
                    format!(
                        "notifyDebounceMs must be a whole number of milliseconds, 0 or more \
                         (e.g. 1500), not {}",
                        describe_number(node)
                    ),
                );
                None
            }
        }
    }

    /// A `notifications` list.
    pub(super) fn notifications(&mut self, node: &Node) -> Vec<Notifier> {
        let items = match &node.kind {
            Kind::Seq(items) => items,
            _ if node.scalar() == Some(Scalar::Null) => return Vec::new(),
            _ => {
                self.problem(
                    node.pos,
                    format!(
                        "notifications must be a list of notifiers (`- on: [waiting_input]` with \
                         `command:`, `webhook:` or `desktop: true`), not {}",
                        node.describe()
                    ),
                );
                return Vec::new();
            }
        };
        items
            .iter()
            .filter_map(|item| self.notifier(item))
            .collect()
    }

    fn notifier(&mut self, node: &Node) -> Option<Notifier> {
        let f = self.fields(
            node,
            "a notification",
            NOTIFIER_KEYS,
            "a map with `on` and one of `command`, `webhook` or `desktop`",
        )?;
        let before = self.problems.len();
        let on = match f.get("on") {
            Some(on) => self.events(on),
            None => {
                if !f.suggested.iter().any(|k| k == "on") {
                    self.problem(
                        node.pos,
                        "this notification has no `on`; say which states fire it, e.g. \
                         `on: [waiting_input, blocked]`"
                            .into(),
                    );
                }
                Vec::new()
            }
        };
        let action = self.action(node.pos, &f);
        let timeout_ms = match f.get("timeoutMs") {
            None => DEFAULT_NOTIFIER_TIMEOUT_MS,
            Some(n) => match n.scalar() {
                Some(Scalar::Int(ms)) if ms > 0 => ms as u64,
                _ => {
                    self.problem(
                        n.pos,
                        format!(
                            "timeoutMs must be a positive whole number of milliseconds \
                             (e.g. 10000), not {}",
                            describe_number(n)
                        ),
                    );
                    DEFAULT_NOTIFIER_TIMEOUT_MS
                }
            },
        };
        if self.problems.len() > before {
            return None;
        }
        Some(Notifier {
            on,
            action: action?,
            timeout_ms,
            at: node.pos,
        })
    }

    /// `on`: one state or a list of them.
    fn events(&mut self, node: &Node) -> Vec<String> {
        let items: Vec<&Node> = match &node.kind {
            Kind::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        if items.is_empty() {
            self.problem(
                node.pos,
                format!(
                    "`on` is empty; name the states that fire it, any of: {}",
                    NOTIFY_EVENTS.join(", ")
                ),
            );
        }
        items
            .into_iter()
            .filter_map(|n| self.choice(n, "state", " in `on`", NOTIFY_EVENTS))
            .map(str::to_string)
            .collect()
    }

    /// Exactly one of `command`, `webhook` and `desktop: true`; a command or a webhook is gated
    /// by the file's trust (a desktop notification runs only ao's own `notify-send`).
    fn action(&mut self, at: Pos, f: &Fields<'_>) -> Option<Gated<NotifierAction>> {
        let mut found: Vec<(&str, Option<Gated<NotifierAction>>)> = Vec::new();
        if let Some(n) = f.get("command") {
            let action = self.command(n);
            found.push((
                "command",
                action.map(|a| self.gate(a, n.pos, "command", "runs a program on this machine")),
            ));
        }
        if let Some(n) = f.get("webhook") {
            let action = self.webhook(n);
            found.push((
                "webhook",
                action.map(|a| {
                    self.gate(a, n.pos, "webhook", "sends your sessions' events to a URL")
                }),
            ));
        }
        if let Some(n) = f.get("desktop") {
            match n.scalar() {
                Some(Scalar::Bool(true)) => {
                    found.push(("desktop", Some(Gated::trusted(NotifierAction::Desktop))))
                }
                Some(Scalar::Bool(false)) => {}
                _ => self.problem(
                    n.pos,
                    format!("desktop must be true or false, not {}", n.describe()),
                ),
            }
        }
        match found.len() {
            1 => found.pop().and_then(|(_, a)| a),
            0 => {
                if !f
                    .suggested
                    .iter()
                    .any(|k| ["command", "webhook", "desktop"].contains(&k.as_str()))
                {
                    self.problem(
                        at,
                        "this notification does nothing; give it one of `command: [...]`, \
                         `webhook: http://...` or `desktop: true`"
                            .into(),
                    );
                }
                None
            }
            _ => {
                let names: Vec<String> = found.iter().map(|(k, _)| format!("`{k}`")).collect();
                self.problem(
                    at,
                    format!(
                        "this notification has {}; give each its own item in `notifications`",
                        names.join(" and ")
                    ),
                );
                None
            }
        }
    }

    /// `command`: an argv list of strings, or one string for `sh -c`.
    fn command(&mut self, node: &Node) -> Option<NotifierAction> {
        match &node.kind {
            Kind::Seq(items) => {
                let argv: Vec<String> = items
                    .iter()
                    .filter_map(|n| self.string(n, "each word of `command`"))
                    .collect();
                if argv.len() != items.len() {
                    return None;
                }
                if argv.first().is_none_or(|p| p.is_empty()) {
                    self.problem(
                        node.pos,
                        "`command` is empty; give the program and its arguments, e.g. \
                         [\"notify-me\", \"--urgent\"]"
                            .into(),
                    );
                    return None;
                }
                Some(NotifierAction::Command(argv))
            }
            _ => {
                let text = self.string(node, "`command`")?;
                if text.trim().is_empty() {
                    self.problem(
                        node.pos,
                        "`command` is empty; give a list (program and arguments) or a line for \
                         sh -c"
                            .into(),
                    );
                    return None;
                }
                Some(NotifierAction::Shell(text))
            }
        }
    }

    fn webhook(&mut self, node: &Node) -> Option<NotifierAction> {
        let url = self.string(node, "`webhook`")?;
        // `get`, not a slice: the scheme's last byte may fall inside a character ("http:/é").
        let ok = ["http://", "https://"].iter().any(|scheme| {
            url.len() > scheme.len()
                && url
                    .get(..scheme.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
                && !url.contains(char::is_whitespace)
        }) && reqwest::Url::parse(&url).is_ok();
        if !ok {
            self.problem(
                node.pos,
                format!(
                    "webhook {url:?} is not an http:// or https:// URL; ao POSTs the event's JSON \
                     to it"
                ),
            );
            return None;
        }
        Some(NotifierAction::Webhook(url))
    }

    /// `budget: {sessionUsd, projectUsd}`, each a positive number of dollars.
    pub(super) fn budget(&mut self, node: &Node) -> Budget {
        let Some(f) = self.fields(
            node,
            "budget",
            BUDGET_KEYS,
            "a map with `sessionUsd` or `projectUsd`",
        ) else {
            return Budget::default();
        };
        let mut dollars = |key: &str| {
            let n = f.get(key)?;
            let value = match n.scalar() {
                Some(Scalar::Int(i)) => i as f64,
                Some(Scalar::Float(x)) => x,
                _ => f64::NAN,
            };
            if value.is_finite() && value > 0.0 {
                return Some(value);
            }
            self.problem(
                n.pos,
                format!(
                    "budget.{key} must be a positive number of US dollars (e.g. 0.50), not {}",
                    describe_number(n)
                ),
            );
            None
        };
        Budget {
            session_usd: dollars("sessionUsd"),
            project_usd: dollars("projectUsd"),
        }
    }
}

/// A number as written, or what the node is.
fn describe_number(node: &Node) -> String {
    match (node.scalar(), &node.kind) {
        (Some(Scalar::Int(_) | Scalar::Float(_)), Kind::Scalar { text, .. }) => text.clone(),
        _ => node.describe().to_string(),
    }
}
