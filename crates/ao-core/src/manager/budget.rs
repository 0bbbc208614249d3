//! Budgets, as pure rules: when a session is over its budget (or its project over the project's),
//! and when `ao send --over-budget`'s allowance is used up. The monitor aborts what these rules
//! stop; every observer shows it the same way (`blocked`, `BudgetExceeded`).

use crate::clock::EpochMillis;
use crate::config::Budget;
use crate::session::{Activity, SessionAddress, SessionError, Why};
use crate::store::{Ledger, Sighting, BUDGET_KEY};

/// What the rules need of one session besides its sighting.
#[derive(Debug, Clone, Copy)]
pub(super) struct BudgetInput {
    /// Its project's budget.
    pub budget: Budget,
    /// When the agent last did something.
    pub last_activity: Option<EpochMillis>,
}

/// Why a session with cost `cost` in a project that has cost `project_cost` is over `budget`;
/// `None` when it is not.
pub(super) fn over_budget(budget: &Budget, cost: f64, project_cost: f64) -> Option<String> {
    if let Some(limit) = budget.session_usd.filter(|l| cost > *l) {
        return Some(format!(
            "cost {} passed the session budget of {}",
            dollars(cost),
            dollars(limit)
        ));
    }
    if let Some(limit) = budget.project_usd.filter(|l| project_cost > *l) {
        return Some(format!(
            "the project's sessions cost {} together, past the project budget of {}",
            dollars(project_cost),
            dollars(limit)
        ));
    }
    None
}

/// Turns each sighting that is over budget into a budget stop (`blocked`, key `budget`), unless
/// an allowance lets it finish the turn it is in; says why in `why`. Returns the allowances
/// used up: those whose turn has ended since they were given.
pub(super) fn apply(
    sightings: &mut [Sighting],
    ledger: &Ledger,
    inputs: &[BudgetInput],
    why: &mut [Option<String>],
) -> Vec<SessionAddress> {
    let mut used = Vec::new();
    for ((s, input), why) in sightings.iter_mut().zip(inputs).zip(why.iter_mut()) {
        if let Some(&(from, armed)) = ledger.allowances.get(&s.address) {
            // Before the message is delivered, the session still shows the turn before it.
            let turn_ended = armed
                && matches!(
                    s.activity,
                    Activity::Ready | Activity::Idle | Activity::Blocked | Activity::Exited
                )
                && input.last_activity.is_some_and(|t| t >= from);
            if !turn_ended {
                continue;
            }
            used.push(s.address.clone());
        }
        if s.activity == Activity::Exited {
            continue;
        }
        let cost = ledger
            .session_cost
            .get(&s.address)
            .copied()
            .unwrap_or(s.cost_usd);
        let project_cost = ledger
            .project_cost
            .get(&s.address.project)
            .copied()
            .unwrap_or(cost);
        if let Some(message) = over_budget(&input.budget, cost, project_cost) {
            s.activity = Activity::Blocked;
            s.key = BUDGET_KEY.to_string();
            *why = Some(message);
        }
    }
    used
}

/// The error a budget stop shows.
pub(super) fn budget_error(message: String) -> SessionError {
    SessionError {
        why: Why::BudgetExceeded,
        message,
    }
}

/// Dollars as a person reads them: cents, or the digits that matter for a fraction of a cent.
pub fn dollars(x: f64) -> String {
    if x == 0.0 || x.abs() >= 0.01 {
        return format!("${x:.2}");
    }
    let text = format!("{x:.6}");
    format!("${}", text.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting(name: &str, activity: Activity, cost: f64) -> Sighting {
        Sighting {
            address: SessionAddress {
                project: "p".into(),
                name: name.into(),
            },
            activity,
            key: String::new(),
            first_seen_at: 0,
            at: 0,
            cost_usd: cost,
            quiet: false,
            stale: false,
            allowance_used: None,
            keep: None,
        }
    }

    const SESSION: Budget = Budget {
        session_usd: Some(0.5),
        project_usd: Some(1.0),
    };

    #[test]
    fn messages_name_the_cost_and_the_budget_passed() {
        assert_eq!(
            over_budget(&SESSION, 0.52, 0.52).as_deref(),
            Some("cost $0.52 passed the session budget of $0.50")
        );
        assert_eq!(
            over_budget(&SESSION, 0.5, 0.5),
            None,
            "reaching it is not passing it"
        );
        assert!(over_budget(&SESSION, 0.1, 1.2)
            .unwrap()
            .contains("past the project budget of $1.00"));
        assert_eq!(over_budget(&Budget::default(), 99.0, 99.0), None);
        assert_eq!(dollars(0.000795), "$0.000795");
        assert_eq!(dollars(20.0), "$20.00");
    }

    #[test]
    fn an_allowance_holds_until_the_turn_begun_after_it_has_ended() {
        let input = |last| BudgetInput {
            budget: SESSION,
            last_activity: Some(last),
        };
        let mut ledger = Ledger::default();
        ledger.project_cost.insert("p".into(), 0.6);
        let mut s = [
            sighting("a", Activity::Active, 0.6),
            sighting("b", Activity::Ready, 0.6),
            sighting("c", Activity::Exited, 0.6),
        ];
        ledger.allowances.insert(s[1].address.clone(), (2000, true));
        let mut why = vec![None; 3];
        // b's turn has not begun yet (its last activity is older than the allowance).
        let used = apply(
            &mut s,
            &ledger,
            &[input(1000), input(1000), input(1000)],
            &mut why,
        );
        assert!(used.is_empty());
        assert_eq!(
            (s[0].activity, s[0].key.as_str()),
            (Activity::Blocked, BUDGET_KEY)
        );
        assert_eq!(s[1].activity, Activity::Ready);
        assert_eq!(s[2].activity, Activity::Exited, "nothing runs to stop");
        assert!(why[0].as_deref().unwrap().contains("session budget"));

        // Its message not delivered yet, b shows the turn before it: not used up.
        let mut unarmed = ledger.clone();
        unarmed
            .allowances
            .insert(s[1].address.clone(), (2000, false));
        let mut b = [sighting("b", Activity::Ready, 0.7)];
        assert!(apply(&mut b, &unarmed, &[input(2500)], &mut [None]).is_empty());
        assert_eq!(b[0].activity, Activity::Ready);

        // b's turn ended after the allowance: used up, and b is over budget again.
        let mut s = [sighting("b", Activity::Ready, 0.7)];
        let mut why = vec![None];
        let used = apply(&mut s, &ledger, &[input(2500)], &mut why);
        assert_eq!(used, [s[0].address.clone()]);
        assert_eq!(s[0].activity, Activity::Blocked);
    }
}
