//! A container's seven states and the one table of what each command may do in each of them,
//! with Docker's refusals. Every command asks [`Status::check`] before it acts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The seven states a container moves through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

pub const ALL: [Status; 7] = [
    Status::Created,
    Status::Running,
    Status::Paused,
    Status::Restarting,
    Status::Removing,
    Status::Exited,
    Status::Dead,
];

/// What a command wants to do with a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
    Kill,
    Pause,
    Unpause,
    Exec,
    Attach,
    /// Removal; `force` kills a live container first.
    Remove {
        force: bool,
    },
}

/// How a command proceeds in a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Proceed,
    /// Nothing to do, and no error (starting a running container, stopping a stopped one).
    Nothing,
    /// Refused, with Docker's message.
    Refuse(String),
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether a process may be alive: the container holds a runtime state and a monitor.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }

    /// The one table: what `action` does to a container named `name` in this state.
    pub fn check(self, action: Action, name: &str) -> Verdict {
        use Status::*;
        let refuse = |m: String| Verdict::Refuse(m);
        match (action, self) {
            (Action::Start, Created | Exited) => Verdict::Proceed,
            (Action::Start, Running | Restarting) => Verdict::Nothing,
            (Action::Start, Paused) => refuse(format!(
                "cannot start a paused container, try unpause instead: {name}"
            )),
            (Action::Start, Removing | Dead) => refuse(format!(
                "container {name} is marked for removal and cannot be started"
            )),
            (Action::Stop, Running | Paused | Restarting) => Verdict::Proceed,
            (Action::Stop, Created | Exited | Dead) => Verdict::Nothing,
            (Action::Stop, Removing) => refuse(format!(
                "removal of container {name} is already in progress"
            )),
            (Action::Restart, Created | Running | Paused | Restarting | Exited) => Verdict::Proceed,
            (Action::Restart, Removing | Dead) => refuse(format!(
                "container {name} is marked for removal and cannot be started"
            )),
            (Action::Kill, Running | Paused | Restarting) => Verdict::Proceed,
            (Action::Kill, _) => refuse(format!(
                "cannot kill container: {name}: container {name} is not running"
            )),
            (Action::Pause, Running) => Verdict::Proceed,
            (Action::Pause, Paused) => refuse(format!("container {name} is already paused")),
            (Action::Pause, Restarting) => refuse(format!(
                "container {name} is restarting, wait until the container is running"
            )),
            (Action::Pause, _) => refuse(format!("container {name} is not running")),
            (Action::Unpause, Paused) => Verdict::Proceed,
            (Action::Unpause, _) => refuse(format!("container {name} is not paused")),
            (Action::Exec | Action::Attach, Running) => Verdict::Proceed,
            (Action::Exec | Action::Attach, Paused) => refuse(format!(
                "container {name} is paused, unpause the container before exec"
            )),
            (Action::Exec | Action::Attach, Restarting) => refuse(format!(
                "container {name} is restarting, wait until the container is running"
            )),
            (Action::Exec | Action::Attach, _) => {
                refuse(format!("container {name} is not running"))
            }
            (Action::Remove { .. }, Created | Exited | Dead) => Verdict::Proceed,
            (Action::Remove { force: true }, Running | Paused | Restarting) => Verdict::Proceed,
            (Action::Remove { force: false }, Running) => refuse(format!(
                "cannot remove container \"/{name}\": container is running: stop the container before removing or force remove"
            )),
            (Action::Remove { force: false }, Restarting) => refuse(format!(
                "cannot remove container \"/{name}\": container is restarting: stop the container before removing or force remove"
            )),
            (Action::Remove { force: false }, Paused) => refuse(format!(
                "cannot remove container \"/{name}\": container is paused and must be unpaused first"
            )),
            (Action::Remove { .. }, Removing) => refuse(format!(
                "removal of container {name} is already in progress"
            )),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (action, state) pair: whether it proceeds, does nothing, or is refused.
    #[test]
    fn the_table_matches_docker() {
        use Status::*;
        let remove = Action::Remove { force: false };
        let force = Action::Remove { force: true };
        let table: &[(Action, &[Status], &[Status])] = &[
            // (action, proceeds in, does nothing in); refused everywhere else.
            (Action::Start, &[Created, Exited], &[Running, Restarting]),
            (
                Action::Stop,
                &[Running, Paused, Restarting],
                &[Created, Exited, Dead],
            ),
            (
                Action::Restart,
                &[Created, Running, Paused, Restarting, Exited],
                &[],
            ),
            (Action::Kill, &[Running, Paused, Restarting], &[]),
            (Action::Pause, &[Running], &[]),
            (Action::Unpause, &[Paused], &[]),
            (Action::Exec, &[Running], &[]),
            (Action::Attach, &[Running], &[]),
            (remove, &[Created, Exited, Dead], &[]),
            (
                force,
                &[Created, Running, Paused, Restarting, Exited, Dead],
                &[],
            ),
        ];
        for (action, proceeds, nothing) in table {
            for state in ALL {
                let verdict = state.check(*action, "web");
                let want = if proceeds.contains(&state) {
                    "proceed"
                } else if nothing.contains(&state) {
                    "nothing"
                } else {
                    "refuse"
                };
                let got = match verdict {
                    Verdict::Proceed => "proceed",
                    Verdict::Nothing => "nothing",
                    Verdict::Refuse(_) => "refuse",
                };
                assert_eq!(got, want, "{action:?} in {state}");
            }
        }
    }

    #[test]
    fn refusals_use_dockers_messages() {
        let msg = |s: Status, a| match s.check(a, "web") {
            Verdict::Refuse(m) => m,
            v => panic!("{v:?}"),
        };
        assert_eq!(
            msg(Status::Paused, Action::Remove { force: false }),
            "cannot remove container \"/web\": container is paused and must be unpaused first"
        );
        assert!(
            msg(Status::Running, Action::Remove { force: false })
                .contains("stop the container before removing or force remove")
        );
        assert_eq!(
            msg(Status::Exited, Action::Pause),
            "container web is not running"
        );
        assert_eq!(
            msg(Status::Running, Action::Unpause),
            "container web is not paused"
        );
        assert!(msg(Status::Exited, Action::Kill).contains("is not running"));
    }

    #[test]
    fn states_round_trip_as_lowercase_words() {
        for s in ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(Status::parse("stopped"), None);
    }
}
