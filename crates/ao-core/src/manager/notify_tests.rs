//! What every observation records (transitions, hence `activity_since`; costs) and how budgets
//! show and refuse, on a test-only agent and injected clocks.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::tests::{live_session, manager_with_config, test_agent, FINISHED_AT};
use super::SessionManager;
use crate::agent::{
    Agent, AgentError, Observation, PreparedSession, ProjectContext, Reply, SessionContext,
};
use crate::clock::rfc3339;
use crate::runtime::LaunchSpec;
use crate::session::{Activity, Why};
use crate::target::Target;
use crate::transcript::TranscriptEntry;

/// An agent whose sessions are in `activity` and have cost `cost`.
struct PricedAgent {
    now: Mutex<(Activity, f64)>,
}

test_agent!(inert PricedAgent {
    fn name(&self) -> &'static str {
        "priced"
    }
    async fn observe(
        &self,
        _: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
    ) -> Vec<Observation> {
        let (activity, cost) = *self.now.lock().unwrap();
        let mut obs = Observation::bare(activity, None);
        obs.last_activity_at = Some(FINISHED_AT);
        obs.cost_usd = Some(cost);
        vec![obs; sessions.len()]
    }
});

/// A manager at `now` over one project `demo` with `budget` (YAML), sharing `tmp`'s store.
async fn manager_at(
    tmp: &tempfile::TempDir,
    agent: &Arc<PricedAgent>,
    budget: &str,
    now: i64,
) -> SessionManager {
    let dir = tmp.path().join("demo");
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "projects:\n  - name: demo\n    path: {}\n    workspace: none\n    runtime: process\n    budget: {budget}\n",
        dir.display()
    );
    manager_with_config(tmp, vec![agent.clone()], &text, now).await
}

#[tokio::test]
async fn activity_since_is_when_the_state_began_as_the_first_observer_saw_it() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = Arc::new(PricedAgent {
        now: Mutex::new((Activity::Ready, 0.0)),
    });
    let mgr = manager_at(&tmp, &agent, "{}", FINISHED_AT + 1000).await;
    live_session(&mgr, "demo", "priced");
    // First seen ready: since the agent last did something.
    let s = mgr
        .status(&Target::All)
        .await
        .unwrap()
        .remove(0)
        .to_status();
    assert_eq!(
        s.activity_since.as_deref(),
        Some(rfc3339(FINISHED_AT).as_str())
    );
    assert_eq!(s.budget_usd, None);

    // Another `ao`, later, sees it active: it began then; and later still, nothing new.
    *agent.now.lock().unwrap() = (Activity::Active, 0.0);
    let later = manager_at(&tmp, &agent, "{}", FINISHED_AT + 5000).await;
    let s = later
        .status(&Target::All)
        .await
        .unwrap()
        .remove(0)
        .to_status();
    assert_eq!(s.activity_since, Some(rfc3339(FINISHED_AT + 5000)));
    let later_still = manager_at(&tmp, &agent, "{}", FINISHED_AT + 9000).await;
    let s = later_still
        .status(&Target::All)
        .await
        .unwrap()
        .remove(0)
        .to_status();
    assert_eq!(s.activity_since, Some(rfc3339(FINISHED_AT + 5000)));
}

#[tokio::test]
async fn a_session_past_its_budget_is_blocked_and_send_refuses_it_unless_told() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = Arc::new(PricedAgent {
        now: Mutex::new((Activity::Active, 0.52)),
    });
    let mgr = manager_at(&tmp, &agent, "{sessionUsd: 0.50}", FINISHED_AT).await;
    live_session(&mgr, "demo", "priced");
    let s = mgr
        .status(&Target::All)
        .await
        .unwrap()
        .remove(0)
        .to_status();
    assert_eq!(s.activity, Activity::Blocked);
    let error = s.error.unwrap();
    assert_eq!(error.why, Why::BudgetExceeded);
    assert_eq!(
        error.message,
        "cost $0.52 passed the session budget of $0.50"
    );
    assert_eq!(s.budget_usd, Some(0.5));

    let err = mgr
        .send(&Target::parse("demo/agent-1"), "more")
        .await
        .unwrap_err();
    assert!(err.is_usage(), "{err}");
    let text = err.to_string();
    assert!(text.contains("budget.sessionUsd"), "{text}");
    assert!(
        text.contains("ao send --over-budget demo/agent-1"),
        "{text}"
    );
    mgr.send_with(&Target::parse("demo/agent-1"), "more", true)
        .await
        .unwrap();

    // A server that cannot be reached reports no cost: the highest seen still counts.
    *agent.now.lock().unwrap() = (Activity::Exited, 0.0);
    let s = mgr
        .status(&Target::All)
        .await
        .unwrap()
        .remove(0)
        .to_status();
    assert_eq!(s.activity, Activity::Exited, "nothing runs to stop");
    let err = mgr
        .restore(&Target::parse("demo/agent-1"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("ao restore --over-budget"),
        "{err}"
    );

    // Raised in the config, it goes on.
    let raised = manager_at(&tmp, &agent, "{sessionUsd: 1}", FINISHED_AT).await;
    *agent.now.lock().unwrap() = (Activity::Ready, 0.52);
    let s = raised
        .status(&Target::All)
        .await
        .unwrap()
        .remove(0)
        .to_status();
    assert_eq!(s.activity, Activity::Ready);
}
