//! Random mode: the life of a case as HPE's field service lives it, for the
//! demo. Deciding the next step is a pure function of the case's state, the
//! story so far and a seeded generator, so a seed replays the same stream.

use chrono::{DateTime, Duration, Utc};

use crate::sis::State;

use super::provider::{HpeAction, OnsiteTask, PartOrder, UpdateForm};

/// xorshift64*: small, seedable, and good enough to vary a demo.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Zero is xorshift's fixed point; any other constant would do.
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let index = usize::try_from(self.below(items.len() as u64)).unwrap_or_default();
        items.get(index).copied().unwrap_or_default()
    }

    fn form(&mut self) -> UpdateForm {
        if self.chance(50) {
            UpdateForm::Structured
        } else {
            UpdateForm::Text
        }
    }
}

/// What the random provider does at one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Act(Box<HpeAction>),
    /// Nothing now (HPE waits on the customer); ask again next tick.
    Wait,
    /// The case is finished: the story ends.
    Done,
}

const NOTES: &[&str] = &[
    "We are reviewing the logs you provided.",
    "Escalated to the fabric engineering team for analysis.",
    "Diagnostics point at the switch blade; a replacement is being arranged.",
];
const INFO_REQUESTS: &[&str] = &[
    "Please attach the output of \"sudo fmn status --details\" from the affected node.",
    "Could you confirm the firmware level of the affected blade?",
];
const FIXES: &[&str] = &[
    "Switch blade replaced; link errors cleared after 24 h soak.",
    "NIC replaced and firmware updated; no further errors observed.",
];
const REOPENED: &str = "Investigating again after the resolution was rejected.";
const CLOSED_BY_HPE: &str = "Case closed after 7 days without customer response.";

/// How far a case's story has got.
#[derive(Debug, Clone)]
pub struct Story {
    next: usize,
    task_id: String,
    order_id: String,
    /// Whether the close-on-HPE's-side decision was taken for this resolution.
    close_decided: bool,
    /// Percent chance that HPE closes a resolved case itself.
    close_percent: u64,
}

impl Story {
    pub fn new(rng: &mut Rng, close_percent: u64) -> Self {
        Self {
            next: 0,
            task_id: format!("WO-{}", 1000 + rng.below(9000)),
            order_id: format!("{}", 7_700_000 + rng.below(100_000)),
            close_decided: false,
            close_percent,
        }
    }

    /// The next step for a case in `state`.
    pub fn step(&mut self, state: State, rng: &mut Rng, now: DateTime<Utc>) -> Step {
        match state {
            State::NotEntitled | State::Closed => Step::Done,
            State::OpenRequester => Step::Wait,
            State::ClosedPendingConfirmation => {
                if self.close_decided {
                    return Step::Wait;
                }
                self.close_decided = true;
                if rng.chance(self.close_percent) {
                    Step::Act(Box::new(HpeAction::Close(CLOSED_BY_HPE.into())))
                } else {
                    Step::Wait
                }
            }
            State::Beginning | State::ProblemSubmitted | State::Entitled => Step::Wait,
            State::OpenProvider => {
                self.close_decided = false;
                let step = self.planned(rng, now);
                self.next += 1;
                step
            }
        }
    }

    fn planned(&mut self, rng: &mut Rng, now: DateTime<Utc>) -> Step {
        let date = |hours: i64| {
            (now + Duration::hours(hours))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        };
        let task = |status: &str, note: Option<&str>| OnsiteTask {
            task_id: self.task_id.clone(),
            status: status.into(),
            scheduled_start: Some(date(4)),
            engineer_eta: Some(date(3)),
            description: Some("Replace HSN switch blade".into()),
            note: note.map(str::to_owned),
        };
        let part = |status: &str, returned: Option<&str>| PartOrder {
            order_id: self.order_id.clone(),
            part_number: Some("P05591-001".into()),
            part_description: Some("HDR200 NIC".into()),
            quantity: Some(1),
            status: status.into(),
            carrier: Some("FEDEX".into()),
            tracking_number: Some("771234567890".into()),
            eta: Some(date(24)[..10].to_owned()),
            return_required: Some(true),
            return_status: returned.map(str::to_owned),
            note: None,
        };
        let action = match self.next {
            0 => HpeAction::Note(rng.pick(NOTES).into()),
            1 if rng.chance(50) => HpeAction::RequestInfo(rng.pick(INFO_REQUESTS).into()),
            1 => HpeAction::Note(rng.pick(NOTES).into()),
            2 => HpeAction::OnsiteTask(task("DISPATCHED", None), rng.form()),
            3 => HpeAction::PartOrder(part("SHIPPED", None), rng.form()),
            4 => HpeAction::PartOrder(part("DELIVERED", Some("AWAITING PICKUP")), rng.form()),
            5 => HpeAction::OnsiteTask(
                task(
                    "ENGINEER ON SITE",
                    Some("Engineer will badge in at the loading dock."),
                ),
                rng.form(),
            ),
            6 => HpeAction::OnsiteTask(task("WORK COMPLETE", None), rng.form()),
            7 => HpeAction::Resolve(rng.pick(FIXES).into()),
            // Back in 5 after the plan: the resolution was rejected.
            n if n % 2 == 0 => HpeAction::Note(REOPENED.into()),
            _ => HpeAction::Resolve(rng.pick(FIXES).into()),
        };
        Step::Act(Box::new(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-04-29T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Plays a story to its end, applying each action's state.
    fn play(seed: u64, close_percent: u64) -> Vec<HpeAction> {
        let mut rng = Rng::new(seed);
        let mut story = Story::new(&mut rng, close_percent);
        let mut state = State::OpenProvider;
        let mut actions = Vec::new();
        for _ in 0..40 {
            match story.step(state, &mut rng, now()) {
                Step::Act(action) => {
                    state = action.state_after(state);
                    actions.push(*action);
                }
                Step::Wait if state == State::OpenRequester => state = State::OpenProvider,
                Step::Wait => break,
                Step::Done => break,
            }
        }
        actions
    }

    #[test]
    fn a_story_runs_notes_tasks_parts_then_a_resolution() {
        let actions = play(7, 0);
        assert_eq!(actions.len(), 8);
        assert!(matches!(actions[0], HpeAction::Note(_)));
        assert!(matches!(&actions[2], HpeAction::OnsiteTask(t, _) if t.status == "DISPATCHED"));
        assert!(matches!(&actions[4], HpeAction::PartOrder(p, _) if p.status == "DELIVERED"));
        assert!(matches!(&actions[6], HpeAction::OnsiteTask(t, _) if t.status == "WORK COMPLETE"));
        assert!(matches!(actions[7], HpeAction::Resolve(_)));
    }

    #[test]
    fn a_certain_close_follows_the_resolution_and_ends_the_story() {
        let actions = play(7, 100);
        assert_eq!(actions.len(), 9);
        assert_eq!(actions[8], HpeAction::Close(CLOSED_BY_HPE.into()));
    }

    #[test]
    fn the_same_seed_replays_the_same_stream() {
        assert_eq!(play(42, 30), play(42, 30));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
