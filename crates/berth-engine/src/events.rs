//! `berth events`: what happened to containers and images, recorded as it happens. Recording is
//! best effort: a failure to record never fails the command that acted.

use berth_store::Event;
use serde_json::{Map, Value, json};

use crate::container::Container;
use crate::{Engine, Result};

/// `berth events --filter` conditions: each key's values are alternatives; keys all apply.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub kind: Vec<String>,
    pub event: Vec<String>,
    pub container: Vec<String>,
    pub image: Vec<String>,
}

impl EventFilter {
    pub fn parse(filters: &[String]) -> Result<EventFilter> {
        let mut f = EventFilter::default();
        for filter in filters {
            let (k, v) = filter.split_once('=').ok_or_else(|| {
                crate::EngineError::InvalidOption(format!(
                    "bad format of filter (expected name=value): {filter}"
                ))
            })?;
            let list = match k {
                "type" => &mut f.kind,
                "event" => &mut f.event,
                "container" => &mut f.container,
                "image" => &mut f.image,
                _ => {
                    return Err(crate::EngineError::InvalidOption(format!(
                        "invalid filter '{k}'"
                    )));
                }
            };
            list.push(v.to_owned());
        }
        Ok(f)
    }

    fn matches(&self, e: &Event, attrs: &Value) -> bool {
        let name = attrs["name"].as_str().unwrap_or_default();
        let hit = |list: &[String], f: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|v| f(v))
        };
        hit(&self.kind, &|v| e.kind == v)
            && hit(&self.event, &|v| e.action == v)
            && hit(&self.container, &|v| {
                e.kind == "container" && (e.actor.starts_with(v) || name == v)
            })
            && hit(&self.image, &|v| {
                (e.kind == "image" && (e.actor.contains(v) || name == v))
                    || attrs["image"].as_str() == Some(v)
            })
    }
}

/// An event as `docker events --format json` shows it.
pub fn event_json(e: &Event) -> Value {
    let attributes: Value = serde_json::from_str(&e.attributes).unwrap_or_else(|_| json!({}));
    json!({
        "Type": e.kind,
        "Action": e.action,
        "Actor": {"ID": e.actor, "Attributes": attributes},
        "scope": "local",
        "time": e.time_nano / 1_000_000_000,
        "timeNano": e.time_nano,
    })
}

impl Engine {
    /// Records a container event with its name, image and labels, plus `extra` attributes.
    pub(crate) fn event(&self, action: &str, c: &Container, extra: &[(&str, String)]) {
        // Labels first, so none can pass for the container's name or image.
        let mut attrs = Map::new();
        for label in &c.options.labels {
            let (k, v) = label.split_once('=').unwrap_or((label, ""));
            attrs.insert(k.into(), v.into());
        }
        attrs.insert("name".into(), c.name.clone().into());
        attrs.insert("image".into(), c.image.clone().into());
        for (k, v) in extra {
            attrs.insert((*k).into(), v.clone().into());
        }
        if let Err(e) = self.store.record_event(
            "container",
            action,
            &c.id,
            &Value::Object(attrs).to_string(),
        ) {
            tracing::warn!("recording a {action} event: {e}");
        }
    }

    /// Records an image event.
    pub(crate) fn image_event(&self, action: &str, id: &str, name: Option<&str>) {
        let attrs = json!({"name": name.unwrap_or(id)});
        if let Err(e) = self
            .store
            .record_event("image", action, id, &attrs.to_string())
        {
            tracing::warn!("recording a {action} event: {e}");
        }
    }

    /// Events after sequence `after` within `[since, until]` (nanoseconds) that `filter` keeps.
    pub fn events(
        &self,
        after: i64,
        since: i64,
        until: i64,
        filter: &EventFilter,
    ) -> Result<Vec<Event>> {
        Ok(self
            .store
            .events(after, since, until)?
            .into_iter()
            .filter(|e| filter.matches(e, &serde_json::from_str(&e.attributes).unwrap_or_default()))
            .collect())
    }
}
