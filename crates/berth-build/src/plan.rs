//! Which stages a build needs, and in which order: the target stage and, transitively, every
//! stage its FROM or a `COPY --from` refers to. Stages nothing needs are skipped.

/// What the planner needs to know of a stage.
#[derive(Debug, Clone, Default)]
pub struct StageRefs {
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The FROM image, after the global ARGs are substituted.
    pub base: String,
    /// Every `COPY --from` / `ADD --from` value.
    pub copy_from: Vec<String>,
}

/// A stage graph the build cannot follow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("target stage {0:?} could not be found")]
    NoTarget(String),
    #[error("circular dependency detected on stage: {0}")]
    Cycle(String),
    #[error("the Dockerfile has no FROM instruction")]
    NoStages,
}

/// The stage `name` refers to: a stage name (case-insensitive) or, if `index_ok`, a stage
/// number. `before` limits the search to earlier stages (FROM may only name those).
pub fn stage_ref(stages: &[StageRefs], name: &str, before: usize, index_ok: bool) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    if let Some(i) = stages[..before]
        .iter()
        .position(|s| s.name.as_deref() == Some(&lower))
    {
        return Some(i);
    }
    if index_ok && !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse::<usize>().ok().filter(|&i| i < stages.len());
    }
    None
}

/// The stages one stage depends on.
pub fn dependencies(stages: &[StageRefs], i: usize) -> Vec<usize> {
    let mut deps = Vec::new();
    if let Some(j) = stage_ref(stages, &stages[i].base, i, false) {
        deps.push(j);
    }
    for from in &stages[i].copy_from {
        if let Some(j) = stage_ref(stages, from, stages.len(), true) {
            deps.push(j);
        }
    }
    deps
}

/// The stages to build, each after the stages it needs, ending with the target (the last stage
/// unless `target` names one).
pub fn order(stages: &[StageRefs], target: Option<&str>) -> Result<Vec<usize>, PlanError> {
    if stages.is_empty() {
        return Err(PlanError::NoStages);
    }
    let target = match target {
        Some(t) => stage_ref(stages, t, stages.len(), false)
            .ok_or_else(|| PlanError::NoTarget(t.to_owned()))?,
        None => stages.len() - 1,
    };
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    let mut marks = vec![Mark::New; stages.len()];
    let mut out = Vec::new();
    // Iterative depth-first search: (stage, whether its dependencies are already pushed).
    let mut stack = vec![(target, false)];
    while let Some((i, expanded)) = stack.pop() {
        if expanded {
            marks[i] = Mark::Done;
            out.push(i);
            continue;
        }
        match marks[i] {
            Mark::Done => continue,
            Mark::Visiting => {
                return Err(PlanError::Cycle(stage_label(stages, i)));
            }
            Mark::New => {}
        }
        marks[i] = Mark::Visiting;
        stack.push((i, true));
        for j in dependencies(stages, i).into_iter().rev() {
            match marks[j] {
                Mark::Visiting => return Err(PlanError::Cycle(stage_label(stages, j))),
                Mark::New => stack.push((j, false)),
                Mark::Done => {}
            }
        }
    }
    Ok(out)
}

fn stage_label(stages: &[StageRefs], i: usize) -> String {
    stages[i].name.clone().unwrap_or_else(|| i.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, base: &str, copy_from: &[&str]) -> StageRefs {
        StageRefs {
            name: (!name.is_empty()).then(|| name.to_owned()),
            base: base.to_owned(),
            copy_from: copy_from.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn skips_unneeded_stages_and_orders_dependencies_first() {
        let stages = vec![
            stage("deps", "busybox", &[]),
            stage("unused", "busybox", &[]),
            stage("build", "deps", &[]),
            stage("", "scratch", &["build", "0"]),
        ];
        assert_eq!(order(&stages, None).unwrap(), vec![0, 2, 3]);
        assert_eq!(order(&stages, Some("BUILD")).unwrap(), vec![0, 2]);
        assert_eq!(order(&stages, Some("unused")).unwrap(), vec![1]);
        assert_eq!(
            order(&stages, Some("nope")),
            Err(PlanError::NoTarget("nope".into()))
        );
    }

    #[test]
    fn cycles_are_refused() {
        let stages = vec![stage("a", "busybox", &["b"]), stage("b", "busybox", &["a"])];
        assert!(matches!(order(&stages, None), Err(PlanError::Cycle(_))));
        let stages = vec![stage("a", "busybox", &["a"])];
        assert_eq!(order(&stages, None), Err(PlanError::Cycle("a".into())));
    }

    #[test]
    fn from_names_only_earlier_stages() {
        // A FROM naming a later stage means an image of that name, as in Docker.
        let stages = vec![stage("a", "b", &[]), stage("b", "busybox", &[])];
        assert_eq!(order(&stages, Some("a")).unwrap(), vec![0]);
        assert!(order(&[], None).is_err());
    }
}
