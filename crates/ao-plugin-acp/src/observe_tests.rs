use super::*;
use std::os::unix::process::CommandExt;

use ao_agent::agent::{PlanPriority, PlanStatus};
use ao_agent::session::{PermitOption, PermitOptionKind, Tokens};

use crate::record::{ProcessRecord, ToolKind};

/// This test's own process: a host that runs.
fn alive() -> ProcessRecord {
    let me = ProcessIdentity::of(std::process::id()).unwrap();
    ProcessRecord {
        pid: me.pid,
        start_time: me.start_time,
    }
}

/// A host that is not running: this pid, started at another time (a reused pid, as ao sees it).
fn dead() -> ProcessRecord {
    ProcessRecord {
        start_time: alive().start_time + 1,
        ..alive()
    }
}

/// The observation of a session whose host wrote `record`, read back from a session directory.
fn observe(record: HostRecord) -> Observation {
    let tmp = tempfile::tempdir().unwrap();
    let files = HostFiles::of(tmp.path());
    std::fs::create_dir_all(files.dir()).unwrap();
    std::fs::write(files.state(), serde_json::to_vec(&record).unwrap()).unwrap();
    observation(&look(&files, None))
}

fn record(phase: HostPhase, host: ProcessRecord) -> HostRecord {
    HostRecord {
        host: Some(host),
        phase,
        model: Some("mock/m1".into()),
        title: Some("Say hi".into()),
        tokens: Some(Tokens {
            input: 60,
            output: 2,
            ..Default::default()
        }),
        last_activity_at: Some(1_000),
        ..Default::default()
    }
}

fn why(o: &Observation) -> (&str, &str) {
    let e = o.error.as_ref().expect("an error");
    (e.why.name(), e.message.as_str())
}

#[test]
fn no_record_yet_is_active_while_the_host_may_be_starting_and_exited_after() {
    let tmp = tempfile::tempdir().unwrap();
    let files = HostFiles::of(tmp.path());
    let none = look(&files, None);
    assert_eq!(
        observation(&none).activity,
        Activity::Exited,
        "never launched"
    );

    std::fs::create_dir_all(files.dir()).unwrap();
    std::fs::write(files.launch(), "{}").unwrap();
    let young = look(&files, None);
    assert!(young.starting);
    assert_eq!(observation(&young).activity, Activity::Active);
    // Nothing is known of its tokens yet (a restored session's are not 0).
    assert_eq!(observation(&young).tokens, None);
    assert_eq!(observation(&none).tokens, None);

    // An old launch, but the runtime's process (the host) runs.
    let handle = RuntimeHandle::Process {
        pid: alive().pid,
        start_time: alive().start_time,
        log: tmp.path().join("log"),
    };
    let old = Look {
        starting: false,
        ..young.clone()
    };
    assert_eq!(observation(&old).activity, Activity::Exited);
    std::fs::remove_file(files.launch()).unwrap();
    assert!(look(&files, Some(&handle)).starting);
}

#[test]
fn a_starting_host_or_a_turn_is_active_with_what_the_record_says() {
    let o = observe(record(HostPhase::Starting, alive()));
    assert_eq!((o.activity, o.error.clone()), (Activity::Active, None));
    let mut turn = record(HostPhase::Turn { since: 900 }, alive());
    turn.cost_usd = Some(0.25);
    turn.plan = vec![
        PlanItem {
            content: "a".into(),
            status: PlanStatus::Completed,
            priority: PlanPriority::High,
        },
        PlanItem {
            content: "b".into(),
            status: PlanStatus::Pending,
            priority: PlanPriority::Low,
        },
    ];
    let o = observe(turn);
    assert_eq!(o.activity, Activity::Active);
    assert_eq!(o.tokens.expect("tokens").input, 60);
    assert_eq!(o.cost_usd, Some(0.25));
    assert_eq!(o.model.as_deref(), Some("mock/m1"));
    assert_eq!(o.summary.as_deref(), Some("Say hi"));
    assert_eq!(o.last_activity_at, Some(1_000));
    let todos = o.todos.unwrap();
    assert_eq!((todos.done, todos.total), (1, 2));
    assert_eq!(
        observe(record(HostPhase::Open, alive())).todos,
        None,
        "no plan, no count"
    );
    assert_eq!(observe(record(HostPhase::Open, alive())).cost_usd, None);
}

#[test]
fn a_pending_permission_waits_for_input_with_its_options() {
    let mut r = record(HostPhase::Turn { since: 900 }, alive());
    r.pending = vec![PendingPermission {
        id: "call_1".into(),
        kind: Some(ToolKind::Execute),
        title: "echo hi > out.txt".into(),
        options: vec![PermitOption {
            id: "once".into(),
            name: "Allow once".into(),
            kind: PermitOptionKind::AllowOnce,
        }],
        at: 950,
    }];
    let o = observe(r);
    assert_eq!(o.activity, Activity::WaitingInput);
    assert_eq!(o.pending.len(), 1);
    let p = &o.pending[0];
    assert_eq!(p.kind, PendingKind::Permission);
    assert_eq!(p.id, "call_1");
    assert_eq!(p.title, "echo hi > out.txt");
    assert_eq!(p.tool.as_deref(), Some("execute"));
    assert_eq!(p.options[0].kind, PermitOptionKind::AllowOnce);
}

#[test]
fn an_open_session_or_a_turn_that_ended_or_was_cancelled_is_ready() {
    assert_eq!(
        observe(record(HostPhase::Open, alive())).activity,
        Activity::Ready
    );
    for stop in [StopReason::EndTurn, StopReason::Cancelled] {
        let o = observe(record(HostPhase::Ended { at: 2, stop }, alive()));
        assert_eq!((o.activity, o.error), (Activity::Ready, None), "{stop}");
    }
}

#[test]
fn a_refusal_or_a_limit_blocks_with_its_name() {
    for (stop, name) in [
        (StopReason::Refusal, "refusal"),
        (StopReason::MaxTokens, "max_tokens"),
        (StopReason::MaxTurnRequests, "max_turn_requests"),
    ] {
        let o = observe(record(HostPhase::Ended { at: 2, stop }, alive()));
        assert_eq!(o.activity, Activity::Blocked);
        assert_eq!(why(&o).0, name);
        assert!(!why(&o).1.is_empty());
    }
}

#[test]
fn a_failed_turn_blocks_with_the_agents_message() {
    let failed = HostPhase::Failed {
        at: 2,
        name: "AgentError".into(),
        message: "Internal error: boom".into(),
    };
    let o = observe(record(failed.clone(), alive()));
    assert_eq!(o.activity, Activity::Blocked);
    assert_eq!(why(&o), ("AgentError", "Internal error: boom"));
    // The host ended on it (at start): exited, and the message still says why.
    let o = observe(record(failed, dead()));
    assert_eq!(o.activity, Activity::Exited);
    assert_eq!(why(&o), ("AgentError", "Internal error: boom"));
}

#[test]
fn an_agent_that_died_mid_turn_is_interrupted_and_between_turns_exited() {
    let mid = HostPhase::AgentExited {
        at: 3,
        mid_turn: true,
        status: "signal 9".into(),
    };
    let o = observe(record(mid, dead()));
    assert_eq!(o.activity, Activity::Blocked);
    assert_eq!(why(&o).0, "Interrupted");
    assert!(why(&o).1.contains("signal 9"));
    let between = HostPhase::AgentExited {
        at: 3,
        mid_turn: false,
        status: "exit status 0".into(),
    };
    assert_eq!(observe(record(between, dead())).activity, Activity::Exited);
}

#[test]
fn a_dead_host_is_exited_whatever_it_recorded_and_takes_its_agent_with_it() {
    for phase in [
        HostPhase::Starting,
        HostPhase::Open,
        HostPhase::Turn { since: 1 },
        HostPhase::Ended {
            at: 1,
            stop: StopReason::Refusal,
        },
    ] {
        let o = observe(record(phase.clone(), dead()));
        assert_eq!(o.activity, Activity::Exited, "{phase:?}");
        assert_eq!(why(&o).0, "ServerGone");
        assert!(o.pending.is_empty());
    }

    // An agent left running in its own process group by a host that was SIGKILLed.
    let mut agent = std::process::Command::new("sleep")
        .arg("30")
        .process_group(0)
        .spawn()
        .unwrap();
    let id = ProcessIdentity::of(agent.id()).unwrap();
    let mut r = record(HostPhase::Turn { since: 1 }, dead());
    r.agent_process = Some(ProcessRecord {
        pid: id.pid,
        start_time: id.start_time,
    });
    assert_eq!(observe(r).activity, Activity::Exited);
    let status = agent.wait().unwrap();
    assert!(!status.success(), "the agent was ended: {status}");
}

#[test]
fn an_unreadable_record_is_unobservable() {
    let tmp = tempfile::tempdir().unwrap();
    let files = HostFiles::of(tmp.path());
    std::fs::create_dir_all(files.dir()).unwrap();
    std::fs::write(files.state(), "not json").unwrap();
    let o = observation(&look(&files, None));
    assert_eq!(o.activity, Activity::Blocked);
    assert_eq!(why(&o).0, "Unobservable");
    assert_eq!(o.tokens, None);
}

#[test]
fn a_question_the_agent_asked_waits_for_input_with_its_questions_in_status_json() {
    let mut r = record(HostPhase::Turn { since: 900 }, alive());
    r.questions = vec![crate::record::QuestionRequest {
        id: "question-1-1".into(),
        title: "Pick a color".into(),
        questions: vec![
            ao_agent::session::PendingQuestion {
                question: "color".into(),
                options: vec!["red".into(), "blue".into()],
            },
            ao_agent::session::PendingQuestion {
                question: "why".into(),
                options: Vec::new(),
            },
        ],
        at: 950,
    }];
    let o = observe(r);
    assert_eq!(o.activity, Activity::WaitingInput);
    assert_eq!(
        serde_json::to_value(&o.pending).unwrap(),
        serde_json::json!([{"kind": "question", "id": "question-1-1", "title": "Pick a color",
            "questions": [{"question": "color", "options": ["red", "blue"]},
                          {"question": "why", "options": []}]}])
    );
}
